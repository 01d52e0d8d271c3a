//! The in-memory index: every order in a `BTreeMap` behind a `RwLock`.
//!
//! It is the whole store for `--store memory` (tests, benchmarks, a demo), and
//! the read side of the SQLite store, which loads it from disk on start and
//! applies each write to it after the write has committed (store/sqlite.rs).
//! Lock sections never cross an `.await`, so they stay short; iteration is in
//! id order, which makes `searchOrders` deterministic.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{Store, StoreError};
use crate::pb::ecommerce::Order;

/// Orders by id. Readers share `Arc<Order>`s, so a search sends orders without
/// copying them, and a write never waits for a slow reader's send.
#[derive(Debug, Default)]
pub(crate) struct Index {
    orders: RwLock<BTreeMap<String, Arc<Order>>>,
}

impl Index {
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Arc<Order>>> {
        // A panic while holding the lock cannot leave the map half-written
        // (every write is one insert), so a poisoned lock is still good.
        self.orders.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Arc<Order>>> {
        self.orders.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The order with this id.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Order>> {
        self.read().get(id).cloned()
    }

    /// Whether an order with this id is here.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.read().contains_key(id)
    }

    /// How many orders there are.
    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }

    /// Orders with an item containing `query`, in id order.
    pub(crate) fn search(&self, query: &str) -> Vec<Arc<Order>> {
        self.read()
            .values()
            .filter(|order| order.items.iter().any(|item| item.contains(query)))
            .cloned()
            .collect()
    }

    /// Adds a new order; `AlreadyExists` if its id is taken.
    pub(crate) fn insert_new(&self, order: Order) -> Result<(), StoreError> {
        let mut orders = self.write();
        if orders.contains_key(&order.id) {
            return Err(StoreError::AlreadyExists(order.id));
        }
        orders.insert(order.id.clone(), Arc::new(order));
        Ok(())
    }

    /// Replaces an existing order; `NotFound` if there is none with its id.
    pub(crate) fn replace(&self, order: Order) -> Result<(), StoreError> {
        let mut orders = self.write();
        match orders.get_mut(&order.id) {
            // In place when no search holds the old order (no new allocation).
            Some(stored) => match Arc::get_mut(stored) {
                Some(slot) => *slot = order,
                None => *stored = Arc::new(order),
            },
            None => return Err(StoreError::NotFound(order.id)),
        }
        Ok(())
    }
}

/// `--store memory`: the index alone. Nothing survives a restart.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryStore {
    index: Arc<Index>,
}

impl MemoryStore {
    /// An empty store, or one holding the book's five sample orders.
    pub(crate) fn new(sample_data: bool) -> MemoryStore {
        let store = MemoryStore::default();
        if sample_data {
            for order in super::samples() {
                // Five distinct ids into an empty map: none can collide.
                let _ = store.index.insert_new(order);
            }
        }
        store
    }

    /// How many orders there are.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

impl Store for MemoryStore {
    async fn get(&self, id: &str) -> Result<Option<Arc<Order>>, StoreError> {
        Ok(self.index.get(id))
    }

    async fn search(&self, query: &str) -> Result<Vec<Arc<Order>>, StoreError> {
        Ok(self.index.search(query))
    }

    async fn add(&self, order: Order) -> Result<(), StoreError> {
        self.index.insert_new(order)
    }

    async fn update(&self, order: Order) -> Result<(), StoreError> {
        self.index.replace(order)
    }
}
