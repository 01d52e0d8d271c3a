//! `tonic-channel-client --addr HOST:PORT`: tonic 0.14's generated OrderManagement client
//! against our order-server, in the "channel-fed" pattern of issue 15:
//!
//! ```rust,ignore
//! let (tx, rx) = tokio::sync::mpsc::channel(16);
//! let mut replies = client.process_orders(ReceiverStream::new(rx)).await?.into_inner();
//! tx.send("102".into()).await?;
//! ```
//!
//! tonic's `process_orders(..).await` returns only once the response head (HTTP/2 HEADERS
//! with `:status 200`) has arrived, and the code above sends its first id only after that.
//! A server that holds its head back until its first response message, while its handler
//! waits for a request message first, deadlocks with it. Every wait here is bounded
//! ([`CALL_TIMEOUT`]), so such a server fails the check instead of hanging it.
//!
//! Prints one line per check, `PASS name` or `FAIL name: reason`, then `N passed, M failed`;
//! exits non-zero if any check failed. Each check runs on a connection of its own, so one
//! that times out (and cancels its call) cannot disturb the next. Timings go to stderr.
//!
//! The order-server's sample store holds orders 102..106; processOrders groups the orders of
//! every 3 ids (and of the ids left at the end) into one CombinedShipment per destination:
//! ids 102 103 104 105 106 give `Mountain View [102 104]`, `San Jose [103]` (batch 1),
//! `San Jose [105]`, `Mountain View [106]` (the rest, at end of stream).

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, Streaming};

mod pb {
    tonic::include_proto!("ecommerce");
}

use pb::order_management_client::OrderManagementClient;
use pb::{CombinedShipment, Order};

/// Bound on every single wait: connecting, a response head, one message, one send.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Backstop for a whole check, in case a check forgot to bound a wait.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between channel-fed request messages, so each is its own DATA frame and the
/// server really sees them trickle in.
const SEND_GAP: Duration = Duration::from_millis(20);

const MOUNTAIN_VIEW: &str = "cmb - Mountain View, CA";
const SAN_JOSE: &str = "cmb - San Jose, CA";
/// The sample ids, in the order the checks send them.
const IDS: [&str; 5] = ["102", "103", "104", "105", "106"];
/// Shipments as the checks expect them: (shipment id, its order ids), in order.
type Expected = &'static [(&'static str, &'static [&'static str])];
/// What processOrders answers to [`IDS`].
const ALL_SHIPMENTS: Expected = &[
    (MOUNTAIN_VIEW, &["102", "104"]),
    (SAN_JOSE, &["103"]),
    (SAN_JOSE, &["105"]),
    (MOUNTAIN_VIEW, &["106"]),
];

type Client = OrderManagementClient<Channel>;
type CheckResult = Result<(), String>;
type Check = fn(Client) -> Pin<Box<dyn Future<Output = CheckResult> + Send>>;

#[tokio::main]
async fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(addr) => addr,
        Err(usage) => {
            eprintln!("{usage}\nusage: tonic-channel-client --addr HOST:PORT");
            return ExitCode::from(2);
        }
    };
    let checks: [(&str, Check); 4] = [
        ("bidi_ready_stream", |c| Box::pin(bidi_ready_stream(c))),
        ("bidi_channel_fed", |c| Box::pin(bidi_channel_fed(c))),
        ("bidi_channel_fed_ping_pong", |c| {
            Box::pin(bidi_channel_fed_ping_pong(c))
        }),
        ("client_streaming_channel_fed", |c| {
            Box::pin(client_streaming_channel_fed(c))
        }),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks {
        let started = Instant::now();
        let outcome = run_check(&addr, check).await;
        eprintln!("{name}: {:.1?}", started.elapsed());
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("PASS {name}");
            }
            Err(reason) => {
                failed += 1;
                println!("FAIL {name}: {reason}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parse_args() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = Some(args.next().ok_or("--addr needs a value")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    addr.ok_or_else(|| "--addr is required".to_owned())
}

/// Connects (bounded) and runs `check` on a task of its own, so a panic is reported as a
/// failure with its message rather than ending the run.
async fn run_check(addr: &str, check: Check) -> CheckResult {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .connect_timeout(CALL_TIMEOUT);
    let channel = within("connecting", endpoint.connect())
        .await?
        .map_err(|e| format!("connect to {addr}: {}", chain(&e)))?;
    let task = tokio::spawn(timeout(CHECK_TIMEOUT, check(Client::new(channel))));
    match task.await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(format!("the whole check took over {CHECK_TIMEOUT:?}")),
        Err(join) => Err(format!("check panicked: {join}")),
    }
}

/// Control: processOrders with every id ready up front (`tokio_stream::iter`), the style
/// that works even when the server sends its head late: tonic streams the request body
/// while it waits for the head.
async fn bidi_ready_stream(mut client: Client) -> CheckResult {
    let ids = tokio_stream::iter(IDS.map(String::from));
    let mut replies = rpc(
        "process_orders(tokio_stream::iter) response head",
        client.process_orders(ids),
    )
    .await?
    .into_inner();
    let got = receive_to_end(&mut replies).await?;
    expect_shipments("shipments", &got, ALL_SHIPMENTS)
}

/// Issue 15 as reported: await the call (the response head) first, only then send.
async fn bidi_channel_fed(mut client: Client) -> CheckResult {
    let (tx, rx) = mpsc::channel::<String>(16);
    let mut replies = rpc(
        "process_orders(ReceiverStream) response head, before any id was sent \
         (the server must send its headers before it waits for a request message)",
        client.process_orders(ReceiverStream::new(rx)),
    )
    .await?
    .into_inner();
    for id in IDS {
        send_id(&tx, id, &mut replies).await?;
        sleep(SEND_GAP).await;
    }
    drop(tx);
    let got = receive_to_end(&mut replies).await?;
    expect_shipments("shipments", &got, ALL_SHIPMENTS)
}

/// Channel-fed, in lock step with the server's batching: 3 ids, then that batch's
/// shipments before sending more; 3 more ids and their shipments; then half-close, and
/// the stream must end OK with nothing left over.
async fn bidi_channel_fed_ping_pong(mut client: Client) -> CheckResult {
    let (tx, rx) = mpsc::channel::<String>(16);
    let mut replies = rpc(
        "process_orders(ReceiverStream) response head, before any id was sent \
         (the server must send its headers before it waits for a request message)",
        client.process_orders(ReceiverStream::new(rx)),
    )
    .await?
    .into_inner();

    let rounds: [(&[&str], Expected); 2] = [
        (
            &["102", "103", "104"],
            &[(MOUNTAIN_VIEW, &["102", "104"]), (SAN_JOSE, &["103"])],
        ),
        (
            &["105", "106", "102"],
            &[(SAN_JOSE, &["105"]), (MOUNTAIN_VIEW, &["106", "102"])],
        ),
    ];
    for (round, (ids, want)) in rounds.into_iter().enumerate() {
        for id in ids {
            send_id(&tx, id, &mut replies).await?;
            sleep(SEND_GAP).await;
        }
        let what = format!("round {} (ids {})", round + 1, ids.join(" "));
        let mut got = Vec::with_capacity(want.len());
        while got.len() < want.len() {
            match next_shipment(&mut replies, &what).await? {
                Some(shipment) => got.push(shipment),
                None => {
                    return Err(format!(
                        "{what}: stream ended after {} of {} shipments, request side still open: {}",
                        got.len(),
                        want.len(),
                        render(&got)
                    ));
                }
            }
        }
        expect_shipments(&what, &got, want)?;
    }
    drop(tx);
    match next_shipment(&mut replies, "after half-close").await? {
        None => Ok(()),
        Some(extra) => Err(format!(
            "after half-close: expected the stream to end, got another shipment {}",
            render(std::slice::from_ref(&extra))
        )),
    }
}

/// updateOrders with the request stream fed from a channel while the call runs on its own
/// task: two updates sent one by one, half-close, then the reply and getOrder must both
/// show them.
async fn client_streaming_channel_fed(mut client: Client) -> CheckResult {
    let updates = [
        Order {
            id: "102".into(),
            items: vec!["Google Pixel 3A".into(), "Mac Book Pro".into()],
            description: "Mac Book Pro, updated by tonic (channel-fed)".into(),
            price: 1800.0,
            destination: "Mountain View, CA".into(),
        },
        Order {
            id: "103".into(),
            items: vec!["Apple Watch S4".into()],
            description: "Apple Watch S4, updated by tonic (channel-fed)".into(),
            price: 400.0,
            destination: "San Jose, CA".into(),
        },
    ];
    let (tx, rx) = mpsc::channel::<Order>(16);
    let mut call_client = client.clone();
    let mut call =
        tokio::spawn(async move { call_client.update_orders(ReceiverStream::new(rx)).await });

    let mut sent = Ok(());
    for update in &updates {
        sent = send(&tx, update.clone()).await;
        if sent.is_err() {
            break;
        }
        sleep(SEND_GAP).await;
    }
    drop(tx);
    // Even if a send failed (tonic dropped the stream), the call's own outcome says why.
    let reply = match timeout(CALL_TIMEOUT, &mut call).await {
        Ok(Ok(Ok(reply))) => reply.into_inner(),
        Ok(Ok(Err(status))) => return Err(format!("update_orders: {}", describe(&status))),
        Ok(Err(join)) => return Err(format!("update_orders task failed: {join}")),
        Err(_) => {
            call.abort();
            return Err(format!(
                "timed out after {CALL_TIMEOUT:?} waiting for the update_orders reply \
                 after the request stream ended"
            ));
        }
    };
    sent?;
    let want = "Updated orders: 102, 103";
    if reply != want {
        return Err(format!("update_orders replied {reply:?}, want {want:?}"));
    }
    for update in &updates {
        let what = format!("get_order({}) after the update", update.id);
        let stored = rpc(&what, client.get_order(update.id.clone()))
            .await?
            .into_inner();
        if &stored != update {
            return Err(format!("{what}: got {stored:?}, want {update:?}"));
        }
    }
    Ok(())
}

/// `fut` bounded by [`CALL_TIMEOUT`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    timeout(CALL_TIMEOUT, fut)
        .await
        .map_err(|_| format!("timed out after {CALL_TIMEOUT:?} waiting for {what}"))
}

/// A bounded call whose error status becomes the failure reason.
async fn rpc<T>(what: &str, fut: impl Future<Output = Result<T, Status>>) -> Result<T, String> {
    within(what, fut)
        .await?
        .map_err(|status| format!("{what}: {}", describe(&status)))
}

fn describe(status: &Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// One bounded send into a channel-fed request stream.
async fn send<T>(tx: &mpsc::Sender<T>, message: T) -> CheckResult {
    within("room in the request channel", tx.send(message))
        .await?
        .map_err(|_| "tonic dropped the request stream (the call has ended)".to_owned())
}

/// Sends one id of a processOrders call; if tonic has dropped the request stream (the call
/// ended), the reason is the status the response stream ends with.
async fn send_id(
    tx: &mpsc::Sender<String>,
    id: &str,
    replies: &mut Streaming<CombinedShipment>,
) -> CheckResult {
    let Err(reason) = send(tx, id.to_owned()).await else {
        return Ok(());
    };
    let mut got = Vec::new();
    let ended = loop {
        match within("the response stream's end", replies.message()).await {
            Ok(Ok(Some(shipment))) => got.push(shipment),
            Ok(Ok(None)) => break "OK".to_owned(),
            Ok(Err(status)) => break describe(&status),
            Err(timed_out) => break timed_out,
        }
    };
    Err(format!(
        "sending id {id}: {reason}; the response stream ended with {ended} after {}",
        render(&got)
    ))
}

/// An error and its sources, `outer: inner: ...` (tonic's own Display is often just
/// "transport error").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The next response message, bounded; `None` when the stream ended OK.
async fn next_shipment(
    replies: &mut Streaming<CombinedShipment>,
    what: &str,
) -> Result<Option<CombinedShipment>, String> {
    rpc(&format!("the next shipment ({what})"), replies.message()).await
}

/// Every remaining response message, each bounded, until the stream ends OK.
async fn receive_to_end(
    replies: &mut Streaming<CombinedShipment>,
) -> Result<Vec<CombinedShipment>, String> {
    let mut got = Vec::new();
    loop {
        let what = format!("after {} shipments: {}", got.len(), render(&got));
        match next_shipment(replies, &what).await? {
            Some(shipment) => got.push(shipment),
            None => return Ok(got),
        }
    }
}

/// Compares shipment ids and their order ids (in order), and checks every shipment is
/// "Processed!" and holds only orders for its own destination.
fn expect_shipments(what: &str, got: &[CombinedShipment], want: Expected) -> CheckResult {
    let got_ids: Vec<(&str, Vec<&str>)> = got
        .iter()
        .map(|s| {
            let orders = s.orders_list.iter().map(|o| o.id.as_str()).collect();
            (s.id.as_str(), orders)
        })
        .collect();
    let want_ids: Vec<(&str, Vec<&str>)> = want.iter().map(|(id, o)| (*id, o.to_vec())).collect();
    if got_ids != want_ids {
        return Err(format!(
            "{what}: got {}, want {}",
            render(got),
            render_expected(want)
        ));
    }
    for shipment in got {
        if shipment.status != "Processed!" {
            return Err(format!(
                "{what}: shipment {:?} has status {:?}, want \"Processed!\"",
                shipment.id, shipment.status
            ));
        }
        for order in &shipment.orders_list {
            if format!("cmb - {}", order.destination) != shipment.id {
                return Err(format!(
                    "{what}: order {} (destination {:?}) is in shipment {:?}",
                    order.id, order.destination, shipment.id
                ));
            }
        }
    }
    Ok(())
}

/// `[Mountain View [102 104], San Jose [103]]`, for messages.
fn render(shipments: &[CombinedShipment]) -> String {
    let parts: Vec<String> = shipments
        .iter()
        .map(|s| {
            let ids: Vec<&str> = s.orders_list.iter().map(|o| o.id.as_str()).collect();
            format!("{:?} [{}]", s.id, ids.join(" "))
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn render_expected(want: Expected) -> String {
    let parts: Vec<String> = want
        .iter()
        .map(|(id, orders)| format!("{id:?} [{}]", orders.join(" ")))
        .collect();
    format!("[{}]", parts.join(", "))
}
