//! `--store postgres`: one PostgreSQL database that a fleet of order-servers
//! shares (`--database-url postgres://USER@HOST:PORT/DB`, over
//! `tokio-postgres`, no TLS: a loopback or private network).
//!
//! Nothing is cached: every read asks the database, so each server sees the
//! others' writes as soon as they commit. Each write is one statement in its
//! own transaction (autocommit), answered after PostgreSQL's commit (with
//! its default `synchronous_commit = on`, after the WAL flush). An update
//! replaces the row in one `UPDATE`, so concurrent updates of one order
//! serialize on the row lock and none is lost.
//!
//! ```sql
//! CREATE TABLE orders (id text PRIMARY KEY, items text[] NOT NULL,
//!                      description text NOT NULL, price real NOT NULL,
//!                      destination text NOT NULL)
//! ```
//!
//! The table is created on start if missing, and the samples go into an empty
//! one, under an advisory lock so servers starting together do it once.
//! Queries are pipelined on one connection. A lost connection is not
//! re-dialed: calls then fail UNAVAILABLE until the server is restarted.

use std::sync::Arc;

use tokio_postgres::{Client, NoTls, Row, Statement};

use super::{Store, StoreError};
use crate::pb::ecommerce::Order;

/// The `pg_advisory_lock` key order-servers take while creating the schema.
const SCHEMA_LOCK: i64 = 0x6832_6772_7063; // "h2grpc"

const COLUMNS: &str = "id, items, description, price, destination";

/// `--store postgres`.
#[derive(Debug)]
pub(crate) struct PgStore {
    client: Client,
    get: Statement,
    search: Statement,
    insert: Statement,
    update: Statement,
}

impl PgStore {
    /// Connects, creates the schema if missing, adds the samples to an empty table.
    pub(crate) async fn open(url: &str, sample_data: bool) -> Result<PgStore, String> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL at {}: {e}", redact(url)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!("PostgreSQL connection lost: {e}");
            }
        });
        let fail = |e: tokio_postgres::Error| format!("PostgreSQL: {}", describe(&e));
        client
            .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])
            .await
            .map_err(fail)?;
        let prepared = Self::prepare(client, sample_data).await;
        if let Ok(store) = &prepared {
            store
                .client
                .execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(fail)?;
        }
        prepared
    }

    async fn prepare(client: Client, sample_data: bool) -> Result<PgStore, String> {
        let fail = |e: tokio_postgres::Error| format!("PostgreSQL: {}", describe(&e));
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS orders (
                     id text PRIMARY KEY,
                     items text[] NOT NULL,
                     description text NOT NULL,
                     price real NOT NULL,
                     destination text NOT NULL)",
            )
            .await
            .map_err(fail)?;
        let store = PgStore {
            get: client
                .prepare(&format!("SELECT {COLUMNS} FROM orders WHERE id = $1"))
                .await
                .map_err(fail)?,
            // strpos is a case-sensitive substring test, as Rust's contains.
            search: client
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM orders \
                     WHERE EXISTS (SELECT 1 FROM unnest(items) AS item WHERE strpos(item, $1) > 0) \
                     ORDER BY id"
                ))
                .await
                .map_err(fail)?,
            insert: client
                .prepare(&format!(
                    "INSERT INTO orders ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO NOTHING"
                ))
                .await
                .map_err(fail)?,
            update: client
                .prepare(
                    "UPDATE orders SET items = $2, description = $3, price = $4, destination = $5 \
                     WHERE id = $1",
                )
                .await
                .map_err(fail)?,
            client,
        };
        if sample_data && store.count().await? == 0 {
            for order in super::samples() {
                store.insert(&order).await.map_err(fail)?;
            }
        }
        Ok(store)
    }

    /// How many orders the table holds.
    pub(crate) async fn count(&self) -> Result<i64, String> {
        let row = self
            .client
            .query_one("SELECT count(*) FROM orders", &[])
            .await
            .map_err(|e| format!("PostgreSQL: {}", describe(&e)))?;
        row.try_get(0)
            .map_err(|e| format!("PostgreSQL: {}", describe(&e)))
    }

    /// Rows inserted: 0 when the id is taken.
    async fn insert(&self, o: &Order) -> Result<u64, tokio_postgres::Error> {
        self.client
            .execute(
                &self.insert,
                &[&o.id, &o.items, &o.description, &o.price, &o.destination],
            )
            .await
    }
}

/// A row of `orders` ([`COLUMNS`]) as an Order.
fn order(row: &Row) -> Result<Order, tokio_postgres::Error> {
    Ok(Order {
        id: row.try_get(0)?,
        items: row.try_get(1)?,
        description: row.try_get(2)?,
        price: row.try_get(3)?,
        destination: row.try_get(4)?,
    })
}

/// The error with the server's detail, if it sent one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn failed(e: tokio_postgres::Error) -> StoreError {
    StoreError::Failed(format!("PostgreSQL: {}", describe(&e)))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if scheme + 3 < at => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store for PgStore {
    async fn get(&self, id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        let row = self
            .client
            .query_opt(&self.get, &[&id])
            .await
            .map_err(failed)?;
        row.map(|row| order(&row).map(Arc::new))
            .transpose()
            .map_err(failed)
    }

    async fn search(&self, query: &str) -> Result<Vec<Arc<Order>>, StoreError> {
        let rows = self
            .client
            .query(&self.search, &[&query])
            .await
            .map_err(failed)?;
        rows.iter()
            .map(|row| order(row).map(Arc::new).map_err(failed))
            .collect()
    }

    async fn add(&self, order: Order) -> Result<(), StoreError> {
        match self.insert(&order).await.map_err(failed)? {
            0 => Err(StoreError::AlreadyExists(order.id)),
            _ => Ok(()),
        }
    }

    async fn update(&self, o: Order) -> Result<(), StoreError> {
        let updated = self
            .client
            .execute(
                &self.update,
                &[&o.id, &o.items, &o.description, &o.price, &o.destination],
            )
            .await
            .map_err(failed)?;
        match updated {
            0 => Err(StoreError::NotFound(o.id)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@127.0.0.1:5432/orders"),
            "postgres://app:***@127.0.0.1:5432/orders"
        );
        assert_eq!(
            redact("postgres://app@127.0.0.1/orders"),
            "postgres://app@127.0.0.1/orders"
        );
        assert_eq!(redact("host=/tmp user=app"), "host=/tmp user=app");
    }
}
