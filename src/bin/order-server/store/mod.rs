//! Where order-server keeps its orders: the [`Store`] trait the service uses,
//! and its three implementations.
//!
//! ```text
//!   OrderService (service.rs) ──► Store ──┬─ memory    MemoryStore   memory.rs   a BTreeMap; lost on exit
//!                                         ├─ sqlite    SqliteStore   sqlite.rs   the default: DIR/orders.sqlite3,
//!                                         │                                      reads from memory, writes through
//!                                         └─ postgres  PgStore       postgres.rs one database a fleet shares
//! ```
//!
//! Flags (order-server `--help`):
//!
//! - `--store memory|sqlite|postgres`: which one. Without it: `postgres` if
//!   `--database-url` is given, `sqlite` if `--data-dir` is, else the
//!   `H2GRPC_STORE` environment variable, else `sqlite` (durable by default).
//! - `--data-dir DIR`: the SQLite store's directory. Default:
//!   `$H2GRPC_DATA_DIR`, else `$XDG_DATA_HOME/h2grpc`, else
//!   `~/.local/share/h2grpc`, else `./data` (no home directory). One
//!   order-server per directory: a second one is refused (a lock file).
//! - `--database-url postgres://USER@HOST:PORT/DB`: the PostgreSQL store.
//!
//! The book's five sample orders go only into an empty store (and not at all
//! with `--no-sample-data`). Every write is committed before its call answers
//! OK, so an acknowledged `addOrder` or `updateOrders` survives `kill -9`.
//!
//! The test harness (tests/common/python.rs) starts order-servers with
//! `H2GRPC_STORE=memory`, so tests never share a directory unless they ask to.

mod memory;
mod postgres;
mod sqlite;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::pb::ecommerce::Order;

pub(crate) use memory::MemoryStore;
pub(crate) use postgres::PgStore;
pub(crate) use sqlite::SqliteStore;

/// The orders, as the service sees them. Reads return shared orders; a write
/// returns once it is durable (for the stores that are).
pub(crate) trait Store: Send + Sync + 'static {
    /// The order with this id, if there is one.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Arc<Order>>, StoreError>> + Send;
    /// Orders with an item containing `query`, in id order.
    fn search(
        &self,
        query: &str,
    ) -> impl Future<Output = Result<Vec<Arc<Order>>, StoreError>> + Send;
    /// Adds a new order: `AlreadyExists` if its id is taken.
    fn add(&self, order: Order) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the order with the same id: `NotFound` if there is none.
    fn update(&self, order: Order) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why a store call did not do what was asked.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// `add` of an id that is taken.
    AlreadyExists(String),
    /// `update` of an id that is not there.
    NotFound(String),
    /// The store could not be read or written (disk, database connection).
    /// A failed write may not have happened; the call is answered UNAVAILABLE.
    Failed(String),
}

/// The store chosen on the command line, opened.
#[derive(Debug)]
pub(crate) enum AnyStore {
    /// `--store memory`.
    Memory(MemoryStore),
    /// `--store sqlite` (the default).
    Sqlite(SqliteStore),
    /// `--store postgres` / `--database-url`.
    Postgres(PgStore),
}

impl Store for AnyStore {
    async fn get(&self, id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        match self {
            AnyStore::Memory(s) => s.get(id).await,
            AnyStore::Sqlite(s) => s.get(id).await,
            AnyStore::Postgres(s) => s.get(id).await,
        }
    }

    async fn search(&self, query: &str) -> Result<Vec<Arc<Order>>, StoreError> {
        match self {
            AnyStore::Memory(s) => s.search(query).await,
            AnyStore::Sqlite(s) => s.search(query).await,
            AnyStore::Postgres(s) => s.search(query).await,
        }
    }

    async fn add(&self, order: Order) -> Result<(), StoreError> {
        match self {
            AnyStore::Memory(s) => s.add(order).await,
            AnyStore::Sqlite(s) => s.add(order).await,
            AnyStore::Postgres(s) => s.add(order).await,
        }
    }

    async fn update(&self, order: Order) -> Result<(), StoreError> {
        match self {
            AnyStore::Memory(s) => s.update(order).await,
            AnyStore::Sqlite(s) => s.update(order).await,
            AnyStore::Postgres(s) => s.update(order).await,
        }
    }
}

/// The store flags as given (`--store`, `--data-dir`, `--database-url`).
#[derive(Debug, Default)]
pub(crate) struct Options {
    kind: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
}

/// The flags this module reads, for main.rs's argument loop.
pub(crate) const FLAGS: &[&str] = &["--store", "--data-dir", "--database-url"];

/// Which store to open, the flags and environment resolved.
#[derive(Debug, PartialEq)]
pub(crate) enum Choice {
    Memory,
    Sqlite(PathBuf),
    Postgres(String),
}

impl Options {
    /// Takes one of [`FLAGS`] and its value.
    pub(crate) fn set(&mut self, flag: &str, value: String) -> Result<(), String> {
        match flag {
            "--store" => self.kind = Some(value),
            "--data-dir" => self.data_dir = Some(value.into()),
            "--database-url" => self.database_url = Some(value),
            other => return Err(format!("{other} is not a store flag")),
        }
        Ok(())
    }

    /// Resolves the flags, then `H2GRPC_STORE` and `H2GRPC_DATA_DIR` (module doc).
    pub(crate) fn choice(&self) -> Result<Choice, String> {
        let env_kind = std::env::var("H2GRPC_STORE").ok().filter(|s| !s.is_empty());
        let kind = match (&self.kind, &self.database_url, &self.data_dir) {
            (Some(kind), _, _) => kind.clone(),
            (None, Some(_), _) => "postgres".into(),
            (None, None, Some(_)) => "sqlite".into(),
            (None, None, None) => env_kind.unwrap_or_else(|| "sqlite".into()),
        };
        match kind.as_str() {
            "memory" if self.data_dir.is_some() || self.database_url.is_some() => {
                Err("--store memory takes no --data-dir or --database-url".into())
            }
            "memory" => Ok(Choice::Memory),
            "sqlite" if self.database_url.is_some() => {
                Err("--database-url is for --store postgres, not sqlite".into())
            }
            "sqlite" => Ok(Choice::Sqlite(
                self.data_dir.clone().unwrap_or_else(default_data_dir),
            )),
            "postgres" if self.data_dir.is_some() => {
                Err("--data-dir is for --store sqlite, not postgres".into())
            }
            "postgres" => match &self.database_url {
                Some(url) => Ok(Choice::Postgres(url.clone())),
                None => Err("--store postgres needs --database-url postgres://...".into()),
            },
            other => Err(format!(
                "unknown store {other:?}: expected memory, sqlite or postgres"
            )),
        }
    }
}

/// `$H2GRPC_DATA_DIR`, `$XDG_DATA_HOME/h2grpc`, `~/.local/share/h2grpc`, or `./data`.
fn default_data_dir() -> PathBuf {
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env_dir("H2GRPC_DATA_DIR") {
        return dir;
    }
    // The XDG base directory spec: a relative $XDG_DATA_HOME is invalid and ignored.
    if let Some(xdg) = env_dir("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return xdg.join("h2grpc");
    }
    match env_dir("HOME").filter(|p| p.is_absolute()) {
        Some(home) => home.join(".local/share/h2grpc"),
        None => PathBuf::from("data"),
    }
}

/// Opens the chosen store; the message says what failed and where.
pub(crate) async fn open(choice: Choice, sample_data: bool) -> Result<AnyStore, String> {
    let store = match choice {
        Choice::Memory => {
            let store = MemoryStore::new(sample_data);
            tracing::info!("orders kept in memory ({} orders)", store.len());
            AnyStore::Memory(store)
        }
        Choice::Sqlite(dir) => {
            // Opening reads the whole file: off the async threads.
            let (store, path) =
                tokio::task::spawn_blocking(move || SqliteStore::open(&dir, sample_data))
                    .await
                    .map_err(|e| format!("opening the SQLite store: {e}"))??;
            tracing::info!(
                "orders kept in SQLite {} ({} orders)",
                path.display(),
                store.len()
            );
            AnyStore::Sqlite(store)
        }
        Choice::Postgres(url) => {
            let store = PgStore::open(&url, sample_data).await?;
            tracing::info!(
                "orders kept in PostgreSQL ({} orders)",
                store.count().await?
            );
            AnyStore::Postgres(store)
        }
    };
    Ok(store)
}

/// The book's five sample orders.
pub(crate) fn samples() -> Vec<Order> {
    let samples = [
        (
            "102",
            &["Google Pixel 3A", "Mac Book Pro"][..],
            "Mac Book Pro",
            1800.0,
            "Mountain View, CA",
        ),
        (
            "103",
            &["Apple Watch S4"][..],
            "Apple Watch S4",
            400.0,
            "San Jose, CA",
        ),
        (
            "104",
            &["Google Home Mini", "Google Nest Hub"][..],
            "Google Home Mini",
            400.0,
            "Mountain View, CA",
        ),
        (
            "105",
            &["Amazon Echo"][..],
            "Amazon Echo",
            30.0,
            "San Jose, CA",
        ),
        (
            "106",
            &["Amazon Echo", "Apple iPhone XS"][..],
            "Amazon Echo",
            300.0,
            "Mountain View, CA",
        ),
    ];
    samples
        .into_iter()
        .map(|(id, items, description, price, destination)| Order {
            id: id.into(),
            items: items.iter().map(|s| s.to_string()).collect(),
            description: description.into(),
            price,
            destination: destination.into(),
        })
        .collect()
}
