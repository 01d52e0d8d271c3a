//! The OrderManagement service ("gRPC: Up and Running", chapter 3) on h2grpc.
//!
//! One handler per RPC, each a plain `async fn`, written the way the book's Go
//! server is: `searchOrders` sends each order on its sink, `updateOrders`
//! receives until the client closes and then returns the one reply
//! (`SendAndClose`), and `processOrders` receives and sends as it goes. The store is a `BTreeMap`
//! behind a `RwLock`: lock sections never cross an `.await`, so they stay
//! short, and iteration is in id order, which makes `searchOrders` deterministic.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use h2grpc::details::ErrorDetails;
use h2grpc::server::ResponseSink;
use h2grpc::{Code, Request, Response, Status, Streaming};

use crate::pb::ecommerce::order_management_server::OrderManagement;
use crate::pb::ecommerce::{CombinedShipment, Order};

/// processOrders sends the shipments it has gathered after every this many
/// ids, unless [`OrderStore::with_batch_size`] says otherwise.
const BATCH_SIZE: usize = 3;

/// The orders, shared by every call.
#[derive(Debug, Default, Clone)]
pub struct OrderStore {
    orders: Arc<RwLock<BTreeMap<String, Arc<Order>>>>,
    /// processOrders' batch size; `None` is [`BATCH_SIZE`], the book's.
    batch_size: Option<usize>,
}

impl OrderStore {
    /// The same store, with processOrders answering after every `ids` ids
    /// (1: a shipment per id, which lets a client ping-pong).
    #[allow(dead_code)] // order-bench shares this file and keeps the book's size.
    pub fn with_batch_size(mut self, ids: usize) -> OrderStore {
        self.batch_size = Some(ids.max(1));
        self
    }

    /// A store holding the book's five sample orders.
    pub fn with_samples() -> OrderStore {
        let store = OrderStore::default();
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
        {
            let mut orders = store.write();
            for (id, items, description, price, destination) in samples {
                let order = Order {
                    id: id.into(),
                    items: items.iter().map(|s| s.to_string()).collect(),
                    description: description.into(),
                    price,
                    destination: destination.into(),
                };
                orders.insert(order.id.clone(), Arc::new(order));
            }
        }
        store
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Order>>> {
        // A panic while holding the lock cannot leave a map half-written
        // (every write is one insert), so a poisoned lock is still good.
        self.orders.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Order>>> {
        self.orders.write().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<Order>, Status> {
        self.read().get(id).cloned().ok_or_else(|| not_found(id))
    }
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("order {id} not found"))
}

/// INVALID_ARGUMENT with a `google.rpc.Status` holding a `BadRequest` in
/// `grpc-status-details-bin` (the rich error model).
fn bad_request(field: &str, description: &str) -> Status {
    let message = format!("invalid {field}: {description}");
    let details = ErrorDetails::new().with_bad_request_violation(field, description);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

impl OrderManagement for OrderStore {
    async fn add_order(&self, request: Request<Order>) -> Result<Response<String>, Status> {
        let order = request.into_inner();
        if order.id.is_empty() {
            return Err(bad_request("id", "order id must not be empty"));
        }
        let mut orders = self.write();
        if orders.contains_key(&order.id) {
            return Err(Status::already_exists(format!(
                "order {} already exists",
                order.id
            )));
        }
        let id = order.id.clone();
        orders.insert(id.clone(), Arc::new(order));
        Ok(Response::new(id))
    }

    async fn get_order(&self, request: Request<String>) -> Result<Response<Order>, Status> {
        let order = self.get(request.get_ref())?;
        Ok(Response::new(Order::clone(&order)))
    }

    async fn search_orders(
        &self,
        request: Request<String>,
        mut sink: ResponseSink<Order>,
    ) -> Result<(), Status> {
        let query = request.into_inner();
        // The matches are shared, not copied: the lock cannot be held across
        // a send (which waits for the client), and each send encodes the
        // order from its borrow.
        let found: Vec<Arc<Order>> = self
            .read()
            .values()
            .filter(|order| order.items.iter().any(|item| item.contains(&query)))
            .cloned()
            .collect();
        for order in &found {
            sink.send(order).await?;
        }
        Ok(())
    }

    async fn update_orders(
        &self,
        request: Request<Streaming<Order>>,
    ) -> Result<Response<String>, Status> {
        let mut input = request.into_inner();
        let mut updated = Vec::new();
        while let Some(order) = input.recv().await? {
            let mut orders = self.write();
            match orders.get_mut(&order.id) {
                Some(stored) => {
                    updated.push(order.id.clone());
                    // In place when no search holds the old order (no new allocation).
                    match Arc::get_mut(stored) {
                        Some(slot) => *slot = order,
                        None => *stored = Arc::new(order),
                    }
                }
                None => return Err(not_found(&order.id)),
            }
        }
        // SendAndClose: the one reply ends the call.
        Ok(Response::new(format!(
            "Updated orders: {}",
            updated.join(", ")
        )))
    }

    async fn process_orders(
        &self,
        request: Request<Streaming<String>>,
        mut sink: ResponseSink<CombinedShipment>,
    ) -> Result<(), Status> {
        let mut ids = request.into_inner();
        let mut batch = Batch::default();
        while let Some(id) = ids.recv().await? {
            let order = self.get(&id)?;
            batch.add(&order);
            if batch.ids == self.batch_size.unwrap_or(BATCH_SIZE) {
                batch.send(&mut sink).await?;
            }
        }
        // The client has closed its side: what is gathered goes out.
        batch.send(&mut sink).await
    }
}

/// processOrders' current batch: shipments in order of each destination's
/// first order, and how many ids it has taken.
#[derive(Default)]
struct Batch {
    shipments: Vec<CombinedShipment>,
    ids: usize,
}

impl Batch {
    fn add(&mut self, order: &Order) {
        let id = format!("cmb - {}", order.destination);
        match self.shipments.iter_mut().find(|s| s.id == id) {
            Some(shipment) => shipment.orders_list.push(order.clone()),
            None => self.shipments.push(CombinedShipment {
                id,
                status: "Processed!".into(),
                orders_list: vec![order.clone()],
            }),
        }
        self.ids += 1;
    }

    async fn send(&mut self, sink: &mut ResponseSink<CombinedShipment>) -> Result<(), Status> {
        for shipment in &self.shipments {
            sink.send(shipment).await?;
        }
        self.shipments.clear();
        self.ids = 0;
        Ok(())
    }
}
