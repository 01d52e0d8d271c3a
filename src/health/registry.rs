//! The status table behind the health service, and [`HealthReporter`], the
//! application's handle on it.
//!
//! Layer: plain data and `tokio::sync::watch`; no network, no h2.
//!
//! One watch channel per service name, in a map under one mutex:
//!
//! ```text
//!  HealthReporter::set_serving("a") ─┐
//!                                    ▼  lock, send_if_modified (only on a change)
//!  Table { services: { ""  ─▶ watch::Sender<Entry> ─┬─▶ Receiver (a Watch call)
//!                      "a" ─▶ watch::Sender<Entry> ─┘   Receiver (another)     },
//!          shutting_down }
//!  Check, List: lock, read the entries
//! ```
//!
//! The reporter never waits for a watcher: a watch channel holds one value,
//! and a watcher that is slow to send (its client reads slowly) finds the
//! latest one when it looks again. A Watch of a name nobody set adds an
//! entry with no status, so that the watcher learns when the name is set;
//! the last watcher of such an entry removes it, so a client watching
//! made-up names leaves nothing behind once its calls end.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::ServingStatus;
use super::pb::health_server::HealthServer;
use super::service::HealthService;

/// What the watchers of one name see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// `None`: not registered (Check answers `NOT_FOUND`, Watch sends
    /// `SERVICE_UNKNOWN`).
    pub(super) status: Option<ServingStatus>,
    /// The server is shutting down: a Watch sends this entry's status and ends.
    pub(super) closing: bool,
}

/// The table: every name set, or watched, and its channel.
#[derive(Debug, Default)]
pub(super) struct Registry {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    services: HashMap<String, watch::Sender<Entry>>,
    /// Set once by [`Registry::shut_down`]; from then on changes are ignored.
    shutting_down: bool,
}

impl Registry {
    /// The table, even if a thread panicked while holding it: every update
    /// is one map operation, so the table is never left half-changed.
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets `name`'s status; watchers hear of it only if it changed.
    pub(super) fn set(&self, name: &str, status: ServingStatus) {
        let mut table = self.lock();
        if table.shutting_down {
            return;
        }
        match table.services.get(name) {
            Some(sender) => {
                sender.send_if_modified(|entry| {
                    let changed = entry.status != Some(status);
                    entry.status = Some(status);
                    changed
                });
            }
            None => {
                let (sender, _) = watch::channel(Entry {
                    status: Some(status),
                    closing: false,
                });
                table.services.insert(name.to_owned(), sender);
            }
        }
    }

    /// Unregisters `name`: Check answers `NOT_FOUND` again, and its watchers
    /// get `SERVICE_UNKNOWN`.
    pub(super) fn clear(&self, name: &str) {
        let mut table = self.lock();
        if table.shutting_down {
            return;
        }
        let Some(sender) = table.services.get(name) else {
            return;
        };
        if sender.receiver_count() == 0 {
            table.services.remove(name);
        } else {
            sender.send_if_modified(|entry| entry.status.take().is_some());
        }
    }

    /// `name`'s status, `None` if it is not registered.
    pub(super) fn status(&self, name: &str) -> Option<ServingStatus> {
        let table = self.lock();
        table.services.get(name).and_then(|s| s.borrow().status)
    }

    /// Every registered name and its status, in no particular order.
    pub(super) fn snapshot(&self) -> Vec<(String, ServingStatus)> {
        let table = self.lock();
        table
            .services
            .iter()
            .filter_map(|(name, sender)| Some((name.clone(), sender.borrow().status?)))
            .collect()
    }

    /// A receiver for `name`'s entry, made (unregistered) if there is none.
    pub(super) fn subscribe(self: &Arc<Self>, name: &str) -> Subscription {
        let mut table = self.lock();
        let closing = table.shutting_down;
        let receiver = match table.services.get(name) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(Entry {
                    status: None,
                    closing,
                });
                table.services.insert(name.to_owned(), sender);
                receiver
            }
        };
        Subscription {
            registry: Arc::clone(self),
            name: name.to_owned(),
            receiver: Some(receiver),
        }
    }

    /// Every registered service turns `NOT_SERVING`, every watcher is told
    /// to end, and later changes are ignored. Idempotent.
    pub(super) fn shut_down(&self) {
        let mut table = self.lock();
        if table.shutting_down {
            return;
        }
        table.shutting_down = true;
        for sender in table.services.values() {
            sender.send_modify(|entry| {
                if entry.status.is_some() {
                    entry.status = Some(ServingStatus::NotServing);
                }
                entry.closing = true;
            });
        }
    }
}

/// One Watch call's view of one name. Dropping it (the call ended, or the
/// client went away and the handler was dropped) removes the name's entry
/// if it is unregistered and this was its last watcher.
pub(super) struct Subscription {
    registry: Arc<Registry>,
    name: String,
    /// Always `Some` until dropped; taken in `drop` under the table's lock.
    receiver: Option<watch::Receiver<Entry>>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The entry now, marked as seen.
    pub(super) fn current(&mut self) -> Entry {
        match &mut self.receiver {
            Some(receiver) => *receiver.borrow_and_update(),
            None => Entry {
                status: None,
                closing: true,
            },
        }
    }

    /// Waits until the entry changes after the last [`current`](Self::current).
    /// `false` if it never can (the entry is gone), which ends the watch.
    pub(super) async fn changed(&mut self) -> bool {
        match &mut self.receiver {
            Some(receiver) => receiver.changed().await.is_ok(),
            None => false,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut table = self.registry.lock();
        let last_watcher_of_unknown = table
            .services
            .get(&self.name)
            .is_some_and(|sender| sender.borrow().status.is_none() && sender.receiver_count() == 1);
        if last_watcher_of_unknown {
            table.services.remove(&self.name);
        }
        // Dropped under the lock: two watchers ending at once then cannot
        // both count the other and leave the entry behind.
        self.receiver = None;
    }
}

/// The application's handle on the health table: cheap to clone, and every
/// clone changes the same table. Names are full service names
/// (`"ecommerce.OrderManagement"`, what a generated module's `SERVICE_NAME`
/// holds); `""` is the whole server.
///
/// ```
/// use h2grpc::health::{ServingStatus, health_reporter};
///
/// let (reporter, _service) = health_reporter();
/// assert_eq!(reporter.status(""), Some(ServingStatus::Serving));
/// reporter.set_not_serving("ecommerce.OrderManagement"); // e.g. its database is down
/// assert_eq!(reporter.status("ecommerce.OrderManagement"), Some(ServingStatus::NotServing));
/// reporter.clear("ecommerce.OrderManagement"); // Check answers NOT_FOUND again
/// assert_eq!(reporter.status("ecommerce.OrderManagement"), None);
/// ```
#[derive(Clone, Debug)]
pub struct HealthReporter {
    registry: Arc<Registry>,
}

impl HealthReporter {
    /// A table holding `""` as `SERVING`: what [`health_reporter`](super::health_reporter) starts with.
    pub(super) fn with_server_serving() -> HealthReporter {
        let reporter = HealthReporter {
            registry: Arc::default(),
        };
        reporter.set_serving("");
        reporter
    }

    /// Another service answering from this table (e.g. for a second server).
    pub fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::new(Arc::clone(&self.registry)))
    }

    /// Marks `service` `SERVING`.
    pub fn set_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::Serving);
    }

    /// Marks `service` `NOT_SERVING`.
    pub fn set_not_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::NotServing);
    }

    /// Sets `service`'s status, registering the name if it is new. Watchers
    /// get a message only if the status changed. Ignored once shutdown has
    /// begun ([`enter_shutdown`](Self::enter_shutdown)).
    pub fn set_status(&self, service: &str, status: ServingStatus) {
        self.registry.set(service, status);
    }

    /// Unregisters `service`: Check answers `NOT_FOUND` and watchers get
    /// `SERVICE_UNKNOWN`, until it is set again. Ignored once shutdown has begun.
    pub fn clear(&self, service: &str) {
        self.registry.clear(service);
    }

    /// `service`'s status, `None` if it is not registered.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.registry.status(service)
    }

    /// Starts shutdown: every registered service turns `NOT_SERVING` for
    /// good (later changes are ignored), and every open Watch sends that and
    /// ends with `UNAVAILABLE`, as does any Watch started afterwards.
    pub fn enter_shutdown(&self) {
        self.registry.shut_down();
    }

    /// Wraps a server's shutdown future: when `signal` completes, calls
    /// [`enter_shutdown`](Self::enter_shutdown), then completes, so the
    /// server drains only after every service reads `NOT_SERVING`.
    ///
    /// ```no_run
    /// # async fn demo(builder: h2grpc::server::Builder, reporter: h2grpc::health::HealthReporter,
    /// #               listener: tokio::net::TcpListener) -> std::io::Result<()> {
    /// let signal = async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// };
    /// builder
    ///     .serve_with_listener(listener, reporter.not_serving_on(signal))
    ///     .await
    /// # }
    /// ```
    pub fn not_serving_on<F>(&self, signal: F) -> impl Future<Output = ()> + use<F>
    where
        F: Future<Output = ()>,
    {
        let reporter = self.clone();
        async move {
            signal.await;
            reporter.enter_shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    #[test]
    fn a_watcher_hears_changes_not_repeats() {
        let registry = registry();
        registry.set("a", ServingStatus::Serving);
        let mut watcher = registry.subscribe("a");
        assert_eq!(watcher.current().status, Some(ServingStatus::Serving));

        registry.set("a", ServingStatus::Serving); // the same value again
        assert!(!watcher.receiver.as_ref().unwrap().has_changed().unwrap());

        registry.set("a", ServingStatus::NotServing);
        assert!(watcher.receiver.as_ref().unwrap().has_changed().unwrap());
        assert_eq!(watcher.current().status, Some(ServingStatus::NotServing));
    }

    #[test]
    fn an_unknown_name_is_watched_until_set_and_forgotten_after() {
        let registry = registry();
        let mut watcher = registry.subscribe("later");
        assert_eq!(watcher.current().status, None);
        assert_eq!(registry.status("later"), None, "watching registers nothing");
        assert!(registry.snapshot().is_empty());

        registry.set("later", ServingStatus::Serving);
        assert_eq!(watcher.current().status, Some(ServingStatus::Serving));

        registry.clear("later");
        assert_eq!(watcher.current().status, None, "cleared: SERVICE_UNKNOWN");
        let second = registry.subscribe("later");
        drop(watcher);
        assert!(
            registry.lock().services.contains_key("later"),
            "one watcher left"
        );
        drop(second);
        assert!(
            registry.lock().services.is_empty(),
            "last watcher removes it"
        );
    }

    #[test]
    fn a_registered_name_outlives_its_watchers() {
        let registry = registry();
        registry.set("a", ServingStatus::Unknown);
        drop(registry.subscribe("a"));
        assert_eq!(registry.status("a"), Some(ServingStatus::Unknown));
        registry.clear("a");
        assert!(
            registry.lock().services.is_empty(),
            "no watcher: removed at once"
        );
    }

    #[test]
    fn shutdown_turns_everything_not_serving_for_good() {
        let registry = registry();
        registry.set("", ServingStatus::Serving);
        registry.set("b", ServingStatus::Unknown);
        let mut unknown = registry.subscribe("nobody");
        let mut watcher = registry.subscribe("");
        watcher.current();

        registry.shut_down();
        let entry = watcher.current();
        assert_eq!(entry.status, Some(ServingStatus::NotServing));
        assert!(entry.closing);
        let entry = unknown.current();
        assert_eq!((entry.status, entry.closing), (None, true));
        assert_eq!(registry.status("b"), Some(ServingStatus::NotServing));

        registry.set("", ServingStatus::Serving);
        registry.clear("b");
        assert_eq!(registry.status(""), Some(ServingStatus::NotServing));
        assert_eq!(registry.status("b"), Some(ServingStatus::NotServing));
        let mut late = registry.subscribe("");
        assert!(
            late.current().closing,
            "a Watch after shutdown ends at once"
        );
    }

    #[test]
    fn snapshot_lists_registered_names_only() {
        let registry = registry();
        registry.set("", ServingStatus::Serving);
        registry.set("x", ServingStatus::NotServing);
        let _watching = registry.subscribe("y");
        let mut names = registry.snapshot();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            names,
            [
                (String::new(), ServingStatus::Serving),
                ("x".to_owned(), ServingStatus::NotServing)
            ]
        );
    }
}
