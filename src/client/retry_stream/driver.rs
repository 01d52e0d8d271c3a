//! The driver of one retried streaming call (see the parent module's doc
//! for its diagram): it starts each attempt, replays the kept request bytes
//! on it, forwards the sink's batches, and decides on the response head.
//!
//! Layer: h2 glue; one task per call, ended by the call's end or its handle's drop.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use h2::client::ResponseFuture;
use h2::{RecvStream, SendStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::super::Channel;
use super::super::retry::{GOAWAY_RETRIES, refused_unprocessed, trailers_only_failure};
use super::{CallSpec, Chunk, PER_RPC_RETRY_BUFFER_BYTES};
use crate::streaming::status_from_h2;
use crate::wire::status::{Code, Status};

/// Where the committed head (or the call's final status) goes.
type HeadSender = oneshot::Sender<Result<http::Response<RecvStream>, Status>>;

/// The bytes kept for replay while the call is not committed.
#[derive(Debug, Default)]
struct Kept {
    chunks: Vec<Bytes>,
    bytes: usize,
}

/// How one attempt ended, for the retry decision.
enum Outcome {
    /// The call is over (committed and done, cancelled, or abandoned).
    Done,
    /// Failed before commit: its code, pushback, and what to hand the
    /// application if it is not retried.
    Failed {
        code: Code,
        pushback: Option<i64>,
        failure: Result<http::Response<RecvStream>, Status>,
    },
    /// A GOAWAY refused it unseen.
    Refused(h2::Error),
}

impl Outcome {
    fn failed(status: Status) -> Outcome {
        let code = status.code();
        let failure = Err(status);
        Outcome::Failed {
            code,
            pushback: None,
            failure,
        }
    }
}

/// What a backoff wait ended with.
enum Waited {
    Elapsed,
    /// The kept bytes passed a limit: committed to the failed attempt.
    Committed,
    /// The call is over.
    Over,
}

/// Owns one call's attempts (module doc).
pub(super) struct Driver {
    channel: Channel,
    spec: CallSpec,
    /// The sink's batches; `None` once it closed or was dropped.
    requests: Option<mpsc::Receiver<Chunk>>,
    /// The sink's cancel; `None` once the sink is gone.
    cancelled: Option<oneshot::Receiver<()>>,
    /// Where the committed head (or the final status) goes; `None` once sent.
    head: Option<HeadSender>,
    /// `None` once committed: nothing more is kept, nothing is retried.
    kept: Option<Kept>,
    /// The application sent END_STREAM: replays end with it too.
    half_closed: bool,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.commit();
    }
}

impl Driver {
    pub(super) fn new(
        channel: Channel,
        spec: CallSpec,
        requests: mpsc::Receiver<Chunk>,
        cancelled: oneshot::Receiver<()>,
        head: HeadSender,
    ) -> Driver {
        Driver {
            channel,
            spec,
            requests: Some(requests),
            cancelled: Some(cancelled),
            head: Some(head),
            kept: Some(Kept::default()),
            half_closed: false,
        }
    }

    pub(super) async fn run(mut self) {
        let channel = self.channel.clone();
        let (mut attempts, mut refused, mut backoff_n) = (0u32, 0usize, 0u32);
        loop {
            let timeout = match self.spec.deadline {
                Some(d) if attempts > 0 || refused > 0 => {
                    Some(d.saturating_duration_since(Instant::now()))
                }
                _ => self.spec.timeout,
            };
            let spec = &self.spec;
            let start = channel.start(
                &spec.path,
                &spec.metadata,
                timeout,
                spec.encoding,
                attempts,
                spec.wait_for_ready,
            );
            let outcome = match start.await {
                Err(status) => Outcome::failed(status),
                Ok(started) => match self.attempt(started.response, started.send).await {
                    Outcome::Refused(e) => {
                        started.sub.discard();
                        Outcome::Refused(e)
                    }
                    outcome => outcome,
                },
            };
            let (code, pushback, failure) = match outcome {
                Outcome::Done => return,
                Outcome::Refused(_) if refused < GOAWAY_RETRIES && self.kept.is_some() => {
                    refused += 1;
                    continue;
                }
                Outcome::Refused(e) => return self.finish(Err(status_from_h2(&e))),
                Outcome::Failed {
                    code,
                    pushback,
                    failure,
                } => (code, pushback, failure),
            };
            attempts += 1;
            let policy = &self.spec.policy;
            let delay = match self.kept {
                Some(_) => channel.retry_wait(policy, code, pushback, attempts, &mut backoff_n),
                None => None,
            };
            let Some(delay) = delay else {
                return self.finish(failure);
            };
            let path = self.spec.path.as_str();
            tracing::debug!(target: "h2grpc::client", path, ?code, attempts, ?delay, "retrying a streaming call");
            match self.backoff(delay).await {
                Waited::Elapsed => {}
                Waited::Committed => return self.finish(failure),
                Waited::Over => return,
            }
        }
    }

    /// One attempt: replays what is kept, then forwards the sink's batches
    /// until the response head decides; forwards the rest once committed.
    async fn attempt(
        &mut self,
        mut response: ResponseFuture,
        mut send: SendStream<Bytes>,
    ) -> Outcome {
        let mut queue: VecDeque<Chunk> = VecDeque::new();
        if let Some(kept) = &self.kept {
            queue.extend(kept.chunks.iter().map(|c| (c.clone(), false)));
        }
        if self.half_closed {
            queue.push_back((Bytes::new(), true));
        }
        // A failed send: the stream is over, its response says how.
        let mut broken = false;
        loop {
            let next = queue.front().cloned().filter(|_| !broken);
            let pull = next.is_none() && !broken;
            tokio::select! {
                head = &mut response => return self.decide(head, send, queue).await,
                sent = send_next(&mut send, next) => match sent {
                    Ok(()) => {
                        queue.pop_front();
                    }
                    Err(_) => broken = true,
                },
                chunk = recv(&mut self.requests), if pull => {
                    if let Some(chunk) = self.take(chunk) {
                        queue.push_back(chunk);
                    }
                }
                () = cancelled(&mut self.cancelled) => {
                    send.send_reset(h2::Reason::CANCEL);
                    self.finish(Err(Status::cancelled("the call was cancelled")));
                    return Outcome::Done;
                }
                () = abandoned(&mut self.head) => return Outcome::Done,
                () = expired(self.spec.deadline) => {
                    send.send_reset(h2::Reason::CANCEL);
                    self.finish(Err(Status::deadline_exceeded("deadline exceeded")));
                    return Outcome::Done;
                }
            }
        }
    }

    /// The response head came: a retryable failure goes back to `run`; any
    /// other head commits the call.
    async fn decide(
        &mut self,
        head: Result<http::Response<RecvStream>, h2::Error>,
        send: SendStream<Bytes>,
        queue: VecDeque<Chunk>,
    ) -> Outcome {
        let response = match head {
            Err(e) if refused_unprocessed(&e) => return Outcome::Refused(e),
            Err(e) => return Outcome::failed(status_from_h2(&e)),
            Ok(response) => response,
        };
        if let Some((code, pushback)) = trailers_only_failure(&response) {
            return Outcome::Failed {
                code,
                pushback,
                failure: Ok(response),
            };
        }
        self.commit();
        self.finish(Ok(response));
        self.forward(send, queue).await;
        Outcome::Done
    }

    /// Committed: sends what is queued and whatever the sink sends next.
    async fn forward(&mut self, mut send: SendStream<Bytes>, mut queue: VecDeque<Chunk>) {
        loop {
            let next = match queue.pop_front() {
                Some(chunk) => chunk,
                None => {
                    let chunk = tokio::select! {
                        chunk = recv(&mut self.requests) => chunk,
                        () = cancelled(&mut self.cancelled) => {
                            send.send_reset(h2::Reason::CANCEL);
                            return;
                        }
                    };
                    match self.take(chunk) {
                        Some(chunk) => chunk,
                        None if self.requests.is_none() => return,
                        None => continue,
                    }
                }
            };
            let (data, end) = next;
            let sent = tokio::select! {
                sent = crate::flow::send_data(&mut send, data, end) => sent,
                () = cancelled(&mut self.cancelled) => {
                    send.send_reset(h2::Reason::CANCEL);
                    return;
                }
            };
            if sent.is_err() || end {
                return;
            }
        }
    }

    /// Between attempts: keeps the sink's batches until `delay` is over.
    async fn backoff(&mut self, delay: Duration) -> Waited {
        let wake = Instant::now() + delay;
        let wake = self.spec.deadline.map_or(wake, |d| d.min(wake));
        let sleep = tokio::time::sleep_until(wake);
        let mut sleep = std::pin::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                chunk = recv(&mut self.requests) => {
                    // Kept for the next attempt's replay (`attempt` sends it from `kept`).
                    self.take(chunk);
                    if self.kept.is_none() {
                        return Waited::Committed;
                    }
                }
                () = cancelled(&mut self.cancelled) => {
                    self.finish(Err(Status::cancelled("the call was cancelled")));
                    return Waited::Over;
                }
                () = abandoned(&mut self.head) => return Waited::Over,
            }
        }
        if self.spec.deadline.is_some_and(|d| d <= Instant::now()) {
            self.finish(Err(Status::deadline_exceeded("deadline exceeded")));
            return Waited::Over;
        }
        Waited::Elapsed
    }

    /// A batch from the sink (`None`: it closed or went away): kept for
    /// replay while not committed, and returned to be sent.
    fn take(&mut self, chunk: Option<Chunk>) -> Option<Chunk> {
        let Some((data, end)) = chunk else {
            self.requests = None;
            return None;
        };
        if end {
            self.half_closed = true;
            self.requests = None;
        }
        if let Some(kept) = &mut self.kept
            && !data.is_empty()
        {
            let fits = kept.bytes + data.len() <= PER_RPC_RETRY_BUFFER_BYTES
                && self.channel.inner.retry_buffers.reserve(data.len());
            if fits {
                kept.bytes += data.len();
                kept.chunks.push(data.clone());
            } else {
                self.commit();
            }
        }
        Some((data, end))
    }

    /// Commits the call: the kept bytes are dropped, nothing is retried.
    fn commit(&mut self) {
        if let Some(kept) = self.kept.take() {
            self.channel.inner.retry_buffers.release(kept.bytes);
        }
    }

    /// Hands the application its response head, or the call's status.
    fn finish(&mut self, result: Result<http::Response<RecvStream>, Status>) {
        if let Some(head) = self.head.take() {
            let _ = head.send(result);
        }
    }
}

/// Sends `next` once the window has room; pending forever without one.
async fn send_next(send: &mut SendStream<Bytes>, next: Option<Chunk>) -> Result<(), h2::Error> {
    match next {
        Some((data, end)) => crate::flow::send_data(send, data, end).await,
        None => std::future::pending().await,
    }
}

/// The sink's next batch; pending forever once it is gone.
async fn recv(requests: &mut Option<mpsc::Receiver<Chunk>>) -> Option<Chunk> {
    match requests {
        Some(requests) => requests.recv().await,
        None => std::future::pending().await,
    }
}

/// Ready once the sink cancels the call; a dropped sink cancels nothing.
async fn cancelled(cancel: &mut Option<oneshot::Receiver<()>>) {
    let Some(receiver) = cancel else {
        return std::future::pending().await;
    };
    if receiver.await.is_err() {
        *cancel = None;
        std::future::pending::<()>().await;
    }
}

/// Ready once the application dropped its receive half before the head.
async fn abandoned(head: &mut Option<HeadSender>) {
    match head {
        Some(head) => head.closed().await,
        None => std::future::pending().await,
    }
}

/// Ready at the deadline; never without one.
async fn expired(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
