//! The OrderManagement service on tonic, handler for handler the same as
//! h2grpc's `src/bin/order-server/service.rs`: the same `BTreeMap` store
//! behind a `RwLock`, the same sample orders, the same search (substring of
//! an item, in id order, collected before streaming), the same update and
//! error statuses, and the same processOrders batching (flush every 3 ids).
//! Only the runtime differs, which is what the benchmark compares.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use futures::{Stream, stream};
use prost::Message;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::pb::ecommerce::order_management_server::OrderManagement;
use crate::pb::ecommerce::{CombinedShipment, Order};
use crate::pb::google_rpc;

/// processOrders sends the shipments it has gathered after every this many ids.
const BATCH_SIZE: usize = 3;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The orders, shared by every call.
#[derive(Debug, Default, Clone)]
pub struct OrderStore {
    orders: Arc<RwLock<BTreeMap<String, Order>>>,
}

impl OrderStore {
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
                orders.insert(order.id.clone(), order);
            }
        }
        store
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Order>> {
        self.orders.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Order>> {
        self.orders.write().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<Order, Status> {
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
    let bad_request = google_rpc::BadRequest {
        field_violations: vec![google_rpc::bad_request::FieldViolation {
            field: field.into(),
            description: description.into(),
            reason: String::new(),
            localized_message: None,
        }],
    };
    let details = google_rpc::Status {
        code: Code::InvalidArgument as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
            value: bad_request.encode_to_vec(),
        }],
    };
    Status::with_details(
        Code::InvalidArgument,
        message,
        details.encode_to_vec().into(),
    )
}

#[tonic::async_trait]
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
        orders.insert(id.clone(), order);
        Ok(Response::new(id))
    }

    async fn get_order(&self, request: Request<String>) -> Result<Response<Order>, Status> {
        self.get(request.get_ref()).map(Response::new)
    }

    type searchOrdersStream = BoxStream<Order>;

    async fn search_orders(
        &self,
        request: Request<String>,
    ) -> Result<Response<Self::searchOrdersStream>, Status> {
        let query = request.into_inner();
        let found: Vec<Result<Order, Status>> = self
            .read()
            .values()
            .filter(|order| order.items.iter().any(|item| item.contains(&query)))
            .cloned()
            .map(Ok)
            .collect();
        Ok(Response::new(Box::pin(stream::iter(found))))
    }

    async fn update_orders(
        &self,
        request: Request<Streaming<Order>>,
    ) -> Result<Response<String>, Status> {
        let mut input = request.into_inner();
        let mut updated = Vec::new();
        while let Some(order) = input.message().await? {
            let mut orders = self.write();
            match orders.get_mut(&order.id) {
                Some(stored) => {
                    updated.push(order.id.clone());
                    *stored = order;
                }
                None => return Err(not_found(&order.id)),
            }
        }
        Ok(Response::new(format!(
            "Updated orders: {}",
            updated.join(", ")
        )))
    }

    type processOrdersStream = BoxStream<CombinedShipment>;

    async fn process_orders(
        &self,
        request: Request<Streaming<String>>,
    ) -> Result<Response<Self::processOrdersStream>, Status> {
        let state = Batcher {
            input: request.into_inner(),
            store: self.clone(),
            batch: Vec::new(),
            ids: 0,
            ready: VecDeque::new(),
            done: false,
        };
        Ok(Response::new(Box::pin(stream::unfold(
            state,
            Batcher::next,
        ))))
    }
}

/// processOrders' state: ids in, shipments out, flushed every `BATCH_SIZE` ids.
struct Batcher {
    input: Streaming<String>,
    store: OrderStore,
    batch: Vec<CombinedShipment>,
    ids: usize,
    ready: VecDeque<CombinedShipment>,
    done: bool,
}

impl Batcher {
    async fn next(mut self) -> Option<(Result<CombinedShipment, Status>, Batcher)> {
        loop {
            if let Some(shipment) = self.ready.pop_front() {
                return Some((Ok(shipment), self));
            }
            if self.done {
                return None;
            }
            match self.input.message().await {
                Ok(Some(id)) => match self.store.get(&id) {
                    Ok(order) => self.add(order),
                    Err(status) => return self.fail(status),
                },
                Ok(None) => {
                    self.flush();
                    self.done = true;
                }
                Err(status) => return self.fail(status),
            }
        }
    }

    fn add(&mut self, order: Order) {
        let id = format!("cmb - {}", order.destination);
        match self.batch.iter_mut().find(|s| s.id == id) {
            Some(shipment) => shipment.orders_list.push(order),
            None => self.batch.push(CombinedShipment {
                id,
                status: "Processed!".into(),
                orders_list: vec![order],
            }),
        }
        self.ids += 1;
        if self.ids == BATCH_SIZE {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.ready.extend(self.batch.drain(..));
        self.ids = 0;
    }

    fn fail(mut self, status: Status) -> Option<(Result<CombinedShipment, Status>, Batcher)> {
        self.done = true;
        self.ready.clear();
        Some((Err(status), self))
    }
}
