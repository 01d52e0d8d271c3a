//! Choosing a subchannel for each call: the resolver and the picker (grpc
//! `doc/naming.md`, `doc/load-balancing.md`).
//!
//! Layer: h2 glue, above [`Subchannel`]. A channel to one target has one
//! subchannel and no balancer: a call takes its connection as directly as
//! before there were balancers. A channel to a name that stands for several
//! addresses (`dns:`, `ipv4:`, `ipv6:`, a list in code) resolves it to one
//! subchannel per address and picks per call:
//!
//! ```text
//!  name ──resolve──▶ [addr, addr, addr] ──▶ [Subchannel; 3]
//!                                              │ pick (per call)
//!  pick_first   the first READY in order; none: dial in order, skipping those in back-off
//!  round_robin  the next READY after the last pick; every other one is dialed in the
//!               background, so all stay connected; none READY: dial all, first wins
//!  none at all  fail fast with UNAVAILABLE (the last dial's error), or, for a call
//!               with wait_for_ready, sleep to the earliest back-off end and pick again
//! ```
//!
//! A `dns:` name is resolved again (in the background, at most every
//! [`MIN_RERESOLVE_INTERVAL`]) when a connection was lost or no endpoint
//! could be reached, and every [`DNS_REFRESH_INTERVAL`] regardless.
//! Subchannels whose address is still listed keep their connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use h2::client::SendRequest;
use http::uri::Authority;
use tokio::time::Instant;

use super::Config;
use super::service_config::LbPolicy;
use super::subchannel::Subchannel;
use crate::transport::{Connector, Target};
use crate::wire::status::Status;

/// The least time between two DNS resolutions caused by failures (C-core's
/// `grpc.dns_min_time_between_resolutions_ms` default).
pub const MIN_RERESOLVE_INTERVAL: Duration = Duration::from_secs(30);

/// A `dns:` name is looked up again this often even when nothing failed.
pub const DNS_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

/// Longest sleep of a waiting (wait_for_ready) pick between two looks, so it
/// sees a new resolution or a subchannel another call connected.
const MAX_PICK_WAIT: Duration = Duration::from_secs(1);

/// Where a balanced channel's addresses come from.
#[derive(Debug)]
pub(crate) enum Resolver {
    /// `ipv4:`, `ipv6:`, or a list given in code.
    Fixed(Vec<Target>),
    /// `dns:`: looked up with the system resolver (tokio's `lookup_host`).
    Dns {
        host: String,
        port: u16,
        /// Whether each address gets TLS.
        tls: bool,
    },
}

impl Resolver {
    async fn resolve(&self) -> Result<Vec<Target>, Status> {
        match self {
            Resolver::Fixed(targets) => Ok(targets.clone()),
            Resolver::Dns { host, port, tls } => {
                let found = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .map_err(|e| {
                        Status::unavailable(format!("DNS resolution of {host}:{port} failed: {e}"))
                    })?;
                let mut targets = Vec::new();
                for addr in found {
                    let target = target_of(addr, *tls)?;
                    if !targets.contains(&target) {
                        targets.push(target);
                    }
                }
                Ok(targets)
            }
        }
    }
}

/// The TCP target of one resolved address.
pub(crate) fn target_of(addr: SocketAddr, tls: bool) -> Result<Target, Status> {
    let authority = Authority::try_from(addr.to_string())
        .map_err(|e| Status::internal(format!("address {addr} as an authority: {e}")))?;
    Ok(if tls {
        Target::TcpTls(authority)
    } else {
        Target::Tcp(authority)
    })
}

/// Which READY subchannel a pick takes: the `start`-th of the READY ones, counting
/// round the list. round_robin passes its counter, so the READY subchannels take
/// turns evenly however many others are down (doc/load-balancing.md: round_robin
/// "distributes load across" the READY ones); pick_first passes 0, the first READY.
/// (Starting at `start` and taking the next READY one would give the subchannel
/// after a dead one that one's turns too: 2/3 of the calls to one of two survivors.)
fn turn(ready: &[bool], start: usize) -> Option<usize> {
    let up = ready.iter().filter(|&&r| r).count();
    if up == 0 {
        return None;
    }
    let k = start % up;
    ready
        .iter()
        .enumerate()
        .filter(|&(_, &r)| r)
        .nth(k)
        .map(|(i, _)| i)
}

/// When the name was last resolved, and whether a resolution is running.
#[derive(Debug, Default)]
struct Resolution {
    at: Option<Instant>,
    running: bool,
    /// The last resolution's error, while it left no address.
    error: Option<Status>,
}

/// The subchannels of a balanced channel and the policy over them.
pub(crate) struct Balancer {
    policy: LbPolicy,
    resolver: Resolver,
    connector: Arc<dyn Connector>,
    config: Arc<Config>,
    /// The current subchannels; replaced whole by a resolution.
    list: RwLock<Arc<Vec<Arc<Subchannel>>>>,
    /// round_robin: where the next pick starts.
    next: AtomicUsize,
    resolution: Mutex<Resolution>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("policy", &self.policy)
            .field("resolver", &self.resolver)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Balancer {
    pub(crate) fn new(
        policy: LbPolicy,
        resolver: Resolver,
        connector: Arc<dyn Connector>,
        config: Arc<Config>,
    ) -> Balancer {
        Balancer {
            policy,
            resolver,
            connector,
            config,
            list: RwLock::new(Arc::new(Vec::new())),
            next: AtomicUsize::new(0),
            resolution: Mutex::new(Resolution::default()),
        }
    }

    fn subchannels(&self) -> Arc<Vec<Arc<Subchannel>>> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The targets of the current subchannels, in order (for tests and logs).
    pub(crate) fn targets(&self) -> Vec<Target> {
        self.subchannels()
            .iter()
            .map(|s| s.target().clone())
            .collect()
    }

    /// Resolves the name now and installs the result, keeping the
    /// subchannels of addresses still listed.
    async fn resolve(&self) {
        let result = self.resolver.resolve().await;
        let mut resolution = lock(&self.resolution);
        resolution.at = Some(Instant::now());
        resolution.running = false;
        match result {
            Ok(targets) if !targets.is_empty() => {
                resolution.error = None;
                let old = self.subchannels();
                let list = targets
                    .into_iter()
                    .map(|t| match old.iter().find(|s| *s.target() == t) {
                        Some(kept) => kept.clone(),
                        None => Arc::new(Subchannel::new(
                            t,
                            self.connector.clone(),
                            self.config.clone(),
                        )),
                    })
                    .collect();
                *self.list.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
            }
            Ok(_) => {
                resolution.error = Some(Status::unavailable(format!(
                    "{:?} resolved to no addresses",
                    self.resolver
                )))
            }
            // Keep the addresses we had: DNS being down is no reason to drop them.
            Err(status) => resolution.error = Some(status),
        }
    }

    /// Resolves in the background if it is due: `failed` (a lost connection,
    /// no endpoint reachable) makes it due sooner.
    fn refresh(self: &Arc<Self>, failed: bool) {
        if matches!(self.resolver, Resolver::Fixed(_)) {
            return;
        }
        let now = Instant::now();
        {
            let mut resolution = lock(&self.resolution);
            let since = resolution.at.map(|at| now.saturating_duration_since(at));
            let due = match since {
                None => true,
                Some(since) => {
                    since >= DNS_REFRESH_INTERVAL || (failed && since >= MIN_RERESOLVE_INTERVAL)
                }
            };
            if !due || resolution.running {
                return;
            }
            resolution.running = true;
        }
        let balancer = self.clone();
        tokio::spawn(async move { balancer.resolve().await });
    }

    /// Dials, in the background, every subchannel not READY, not in
    /// back-off and not already dialing (round_robin keeps all connected).
    fn warm(&self, list: &[Arc<Subchannel>], now: Instant) {
        for sub in list {
            if sub.live().is_none() && sub.backing_off(now).is_none() && !sub.is_dialing() {
                let sub = sub.clone();
                tokio::spawn(async move {
                    let _ = sub.connect().await;
                });
            }
        }
    }

    /// A subchannel and its connection for one call (see the module doc).
    pub(crate) async fn pick(
        self: &Arc<Self>,
        wait_for_ready: bool,
    ) -> Result<(Arc<Subchannel>, SendRequest<Bytes>), Status> {
        let first = lock(&self.resolution).at.is_none();
        if first {
            self.resolve().await;
        }
        loop {
            let list = self.subchannels();
            let now = Instant::now();
            if list.iter().any(|s| s.take_lost()) {
                self.refresh(true);
            } else {
                self.refresh(false);
            }
            let n = list.len();
            let start = match self.policy {
                LbPolicy::PickFirst => 0,
                LbPolicy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed),
            };
            let order = (0..n).map(|i| &list[(start + i) % n.max(1)]);
            let mut live: Vec<Option<SendRequest<Bytes>>> = list.iter().map(|s| s.live()).collect();
            let ready: Vec<bool> = live.iter().map(Option::is_some).collect();
            if let Some(i) = turn(&ready, start)
                && let Some(send) = live[i].take()
            {
                if self.policy == LbPolicy::RoundRobin {
                    self.warm(&list, now);
                }
                return Ok((list[i].clone(), send));
            }
            let mut last_error = lock(&self.resolution).error.clone();
            let eligible: Vec<&Arc<Subchannel>> =
                order.filter(|s| s.backing_off(now).is_none()).collect();
            match self.policy {
                LbPolicy::PickFirst => {
                    for sub in eligible {
                        match sub.connect().await {
                            Ok(send) => return Ok((sub.clone(), send)),
                            Err(status) => last_error = Some(status),
                        }
                    }
                }
                LbPolicy::RoundRobin if !eligible.is_empty() => {
                    self.warm(&list, now);
                    let mut dials: FuturesUnordered<_> = eligible
                        .into_iter()
                        .map(|sub| async move { (sub, sub.connect().await) })
                        .collect();
                    while let Some((sub, result)) = dials.next().await {
                        match result {
                            Ok(send) => return Ok((sub.clone(), send)),
                            Err(status) => last_error = Some(status),
                        }
                    }
                }
                LbPolicy::RoundRobin => {}
            }
            // Nothing reachable now.
            self.refresh(true);
            let now = Instant::now();
            let mut wake = now + MAX_PICK_WAIT;
            for sub in list.iter() {
                if let Some((at, error)) = sub.backing_off(now) {
                    wake = wake.min(at);
                    if last_error.is_none() {
                        last_error = error;
                    }
                }
            }
            if !wait_for_ready {
                return Err(
                    last_error.unwrap_or_else(|| Status::unavailable("no endpoint is ready"))
                );
            }
            tokio::time::sleep_until(wake).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::turn;

    /// Which subchannel each of `picks` consecutive picks takes.
    fn picks(ready: &[bool], picks: usize) -> Vec<Option<usize>> {
        (0..picks).map(|start| turn(ready, start)).collect()
    }

    #[test]
    fn round_robin_takes_turns_among_ready_subchannels_only() {
        // All READY: each in turn.
        assert_eq!(picks(&[true, true, true], 6), [0, 1, 2, 0, 1, 2].map(Some));
        // The first down: the other two alternate (not 1, 1, 2 as "next READY after
        // start" would give).
        assert_eq!(picks(&[false, true, true], 6), [1, 2, 1, 2, 1, 2].map(Some));
        assert_eq!(picks(&[true, false, true], 4), [0, 2, 0, 2].map(Some));
        assert_eq!(picks(&[false, false, true], 3), [2, 2, 2].map(Some));
        assert_eq!(picks(&[false, false], 2), [None, None]);
        assert_eq!(picks(&[], 1), [None]);
    }

    #[test]
    fn pick_first_takes_the_first_ready() {
        assert_eq!(turn(&[false, true, true], 0), Some(1));
        assert_eq!(turn(&[true, true], 0), Some(0));
    }
}
