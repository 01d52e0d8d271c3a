//! The default store: SQLite (the bundled library, through `rusqlite`) in
//! `DIR/orders.sqlite3`, read from memory, written through.
//!
//! ```text
//!  getOrder, searchOrders ──► Index (memory.rs)          no disk on the read path
//!                               ▲ 3. apply, in commit order
//!  addOrder, updateOrders ──► channel ──► writer thread ──► 1. INSERT/UPDATE each queued write
//!        ▲                                  │                2. COMMIT (one fsync for the batch)
//!        └──── 4. reply, once committed ────┘
//! ```
//!
//! - On start the whole table is loaded into the [`Index`]; after that this
//!   process is the only writer (a lock file, `DIR/order-server.lock`, refuses
//!   a second order-server on the same directory), so memory and disk agree.
//! - Writes go to one thread that owns the connection. It takes every write
//!   waiting in the channel (up to [`MAX_BATCH`]) into one transaction, so
//!   concurrent callers share one commit (group commit). Each write is
//!   applied to the index after the commit and in the same order, so two
//!   concurrent updates of one order leave memory and disk with the same
//!   winner, and no read sees a write that is not on disk.
//! - `journal_mode=WAL`: readers of the file (a `sqlite3` shell) do not block
//!   the writer, and a commit is one append to the log. `synchronous=FULL`:
//!   the log is fsynced at every commit, so an acknowledged write survives a
//!   power cut, not only `kill -9` (which `NORMAL` would already survive: WAL
//!   with NORMAL syncs only at checkpoints). Group commit pays for it.
//! - A row is `(id, body)`, the body the Order's protobuf encoding: the wire
//!   type is the record, and floats come back bit for bit.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;
use rusqlite::{Connection, ErrorCode, params};
use tokio::sync::{mpsc, oneshot};

use super::memory::Index;
use super::{Store, StoreError};
use crate::pb::ecommerce::Order;

/// The database file's name in the data directory.
pub(crate) const DB_FILE: &str = "orders.sqlite3";
/// The lock file's name: held (flock) while an order-server uses the directory.
const LOCK_FILE: &str = "order-server.lock";
/// Writes one transaction may take: bounds the time the first waits for the rest.
const MAX_BATCH: usize = 256;
/// Writes that may wait for the writer; beyond it, callers wait to queue.
const QUEUE_LEN: usize = 4096;
/// The schema version in `PRAGMA user_version`: 0 is a new file.
const SCHEMA_VERSION: i64 = 1;

/// `--store sqlite`.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    /// What reads are served from; the writer thread updates it.
    index: Arc<Index>,
    /// To the writer thread.
    writes: mpsc::Sender<Write>,
    /// Held for the life of the store; the OS releases it when the process dies.
    _lock: File,
}

/// One write and where its outcome goes.
#[derive(Debug)]
struct Write {
    op: Op,
    done: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Debug)]
enum Op {
    Add(Order),
    Update(Order),
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir`; returns it and the database path.
    pub(crate) fn open(dir: &Path, sample_data: bool) -> Result<(SqliteStore, PathBuf), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
        let lock = lock_dir(dir)?;
        let path = dir.join(DB_FILE);
        let in_file = |e: rusqlite::Error| format!("SQLite store {}: {e}", path.display());
        let mut conn = Connection::open(&path).map_err(in_file)?;
        let index = Arc::new(Index::default());
        prepare(&mut conn, &index, sample_data).map_err(in_file)?;
        let (writes, queue) = mpsc::channel(QUEUE_LEN);
        let writer_index = index.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer(conn, writer_index, queue))
            .map_err(|e| format!("cannot start the SQLite writer thread: {e}"))?;
        let store = SqliteStore {
            index,
            writes,
            _lock: lock,
        };
        Ok((store, path))
    }

    /// How many orders there are.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Queues `op` for the writer and waits for its commit.
    async fn write(&self, op: Op) -> Result<(), StoreError> {
        let (done, outcome) = oneshot::channel();
        let gone = || StoreError::Failed("the SQLite writer has stopped".into());
        self.writes
            .send(Write { op, done })
            .await
            .map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

/// Takes `DIR/order-server.lock`, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File, String> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(format!(
            "data directory {} is in use by another order-server (lock {} is held)",
            dir.display(),
            path.display()
        )),
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Settings, schema, the load into `index`, and the samples into an empty store.
fn prepare(conn: &mut Connection, index: &Index, sample_data: bool) -> rusqlite::Result<()> {
    // The first statement reads the file header: a file that is not a
    // database fails here, before anything is written.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(invalid(format!("journal_mode is {mode}, not wal")));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    match version {
        0 => {
            conn.execute_batch(
                "BEGIN;
                 CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY NOT NULL, body BLOB NOT NULL);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        SCHEMA_VERSION => {}
        newer => {
            return Err(invalid(format!(
                "schema version {newer}; this order-server knows {SCHEMA_VERSION}"
            )));
        }
    }
    load(conn, index)?;
    if sample_data && index.len() == 0 {
        let tx = conn.transaction()?;
        for order in super::samples() {
            tx.execute(
                "INSERT INTO orders (id, body) VALUES (?1, ?2)",
                params![order.id, order.encode_to_vec()],
            )?;
            let _ = index.insert_new(order);
        }
        tx.commit()?;
    }
    // Is the file writable? A read-only one fails here, not at the first call.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
    Ok(())
}

/// Every row into `index`; a row that does not decode to its order is an error.
fn load(conn: &Connection, index: &Index) -> rusqlite::Result<()> {
    let mut select = conn.prepare("SELECT id, body FROM orders")?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let body: Vec<u8> = row.get(1)?;
        let order = Order::decode(body.as_slice())
            .map_err(|e| invalid(format!("order {id:?} does not decode: {e}")))?;
        if order.id != id {
            return Err(invalid(format!("row {id:?} holds order {:?}", order.id)));
        }
        // Ids are the primary key: no duplicates.
        let _ = index.insert_new(order);
    }
    Ok(())
}

fn invalid(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
        Some(message),
    )
}

/// The writer thread: batches of queued writes, one transaction each, until
/// every sender is gone.
fn writer(mut conn: Connection, index: Arc<Index>, mut queue: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        match commit(&mut conn, &batch) {
            Ok(outcomes) => {
                for (write, outcome) in batch.drain(..).zip(outcomes) {
                    let outcome = outcome.and_then(|()| match write.op {
                        // Committed: memory follows, in commit order.
                        Op::Add(order) => index.insert_new(order),
                        Op::Update(order) => index.replace(order),
                    });
                    let _ = write.done.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!("SQLite commit failed: {e}");
                for write in batch.drain(..) {
                    let _ = write
                        .done
                        .send(Err(StoreError::Failed(format!("SQLite: {e}"))));
                }
            }
        }
    }
}

/// Applies `batch` in one transaction; per write, whether it took.
fn commit(conn: &mut Connection, batch: &[Write]) -> rusqlite::Result<Vec<Result<(), StoreError>>> {
    let tx = conn.transaction()?;
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached("INSERT INTO orders (id, body) VALUES (?1, ?2)")?;
        let mut update = tx.prepare_cached("UPDATE orders SET body = ?2 WHERE id = ?1")?;
        for write in batch {
            let outcome = match &write.op {
                Op::Add(order) => match insert.execute(params![order.id, order.encode_to_vec()]) {
                    Ok(_) => Ok(()),
                    // A failed statement undoes itself only; the transaction goes on.
                    Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                        Err(StoreError::AlreadyExists(order.id.clone()))
                    }
                    Err(e) => return Err(e),
                },
                Op::Update(order) => {
                    match update.execute(params![order.id, order.encode_to_vec()])? {
                        0 => Err(StoreError::NotFound(order.id.clone())),
                        _ => Ok(()),
                    }
                }
            };
            outcomes.push(outcome);
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

impl Store for SqliteStore {
    async fn get(&self, id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        Ok(self.index.get(id))
    }

    async fn search(&self, query: &str) -> Result<Vec<Arc<Order>>, StoreError> {
        Ok(self.index.search(query))
    }

    async fn add(&self, order: Order) -> Result<(), StoreError> {
        // The common refusal without a trip to the writer (which checks again).
        if self.index.contains(&order.id) {
            return Err(StoreError::AlreadyExists(order.id));
        }
        self.write(Op::Add(order)).await
    }

    async fn update(&self, order: Order) -> Result<(), StoreError> {
        if !self.index.contains(&order.id) {
            return Err(StoreError::NotFound(order.id));
        }
        self.write(Op::Update(order)).await
    }
}
