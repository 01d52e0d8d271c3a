//! The OrderManagement service ("gRPC: Up and Running", chapter 3) on h2grpc.
//!
//! One handler per RPC, each a plain `async fn`, written the way the book's Go
//! server is: `searchOrders` sends each order on its sink, `updateOrders`
//! receives until the client closes and then returns the one reply
//! (`SendAndClose`), and `processOrders` receives and sends as it goes. The
//! orders live behind the [`Store`] trait (store/mod.rs: memory, SQLite, or
//! PostgreSQL); a write is answered once the store has committed it.

use std::sync::Arc;

use h2grpc::details::ErrorDetails;
use h2grpc::server::ResponseSink;
use h2grpc::{Code, Request, Response, Status, Streaming};

use crate::pb::ecommerce::order_management_server::OrderManagement;
use crate::pb::ecommerce::{CombinedShipment, Order};
use crate::store::{Store, StoreError};

/// processOrders sends the shipments it has gathered after every this many
/// ids, unless [`OrderService::with_batch_size`] says otherwise.
const BATCH_SIZE: usize = 3;

/// The service over a store, shared by every call.
#[derive(Debug)]
pub(crate) struct OrderService<S> {
    store: S,
    /// processOrders' batch size: [`BATCH_SIZE`], the book's, by default.
    batch_size: usize,
}

impl<S: Store> OrderService<S> {
    pub(crate) fn new(store: S) -> OrderService<S> {
        OrderService {
            store,
            batch_size: BATCH_SIZE,
        }
    }

    /// processOrders answering after every `ids` ids (1: a shipment per id,
    /// which lets a client ping-pong; `order-server --batch-size 1`).
    #[allow(dead_code)] // order-bench shares this file and keeps the book's size.
    pub(crate) fn with_batch_size(mut self, ids: usize) -> OrderService<S> {
        self.batch_size = ids.max(1);
        self
    }

    async fn get(&self, id: &str) -> Result<Arc<Order>, Status> {
        match self.store.get(id).await {
            Ok(Some(order)) => Ok(order),
            Ok(None) => Err(not_found(id)),
            Err(e) => Err(status(e)),
        }
    }
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("order {id} not found"))
}

/// The status a store error answers the call with.
fn status(e: StoreError) -> Status {
    match e {
        StoreError::AlreadyExists(id) => {
            Status::already_exists(format!("order {id} already exists"))
        }
        StoreError::NotFound(id) => not_found(&id),
        StoreError::Failed(message) => {
            tracing::error!("store: {message}");
            Status::unavailable(format!("order store: {message}"))
        }
    }
}

/// INVALID_ARGUMENT with a `google.rpc.Status` holding a `BadRequest` in
/// `grpc-status-details-bin` (the rich error model).
fn bad_request(field: &str, description: &str) -> Status {
    let message = format!("invalid {field}: {description}");
    let details = ErrorDetails::new().with_bad_request_violation(field, description);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

impl<S: Store> OrderManagement for OrderService<S> {
    async fn add_order(&self, request: Request<Order>) -> Result<Response<String>, Status> {
        let order = request.into_inner();
        if order.id.is_empty() {
            return Err(bad_request("id", "order id must not be empty"));
        }
        let id = order.id.clone();
        self.store.add(order).await.map_err(status)?;
        Ok(Response::new(id))
    }

    async fn get_order(&self, request: Request<String>) -> Result<Response<Order>, Status> {
        let order = self.get(request.get_ref()).await?;
        Ok(Response::new(Order::clone(&order)))
    }

    async fn search_orders(
        &self,
        request: Request<String>,
        mut sink: ResponseSink<Order>,
    ) -> Result<(), Status> {
        let query = request.into_inner();
        // The matches are shared, not copied: each send encodes the order
        // from its borrow, and no store lock is held while the client reads.
        let found = self.store.search(&query).await.map_err(status)?;
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
        // Each update is committed before the next is read: an unknown id
        // fails the call, and the updates before it stay applied.
        while let Some(order) = input.recv().await? {
            let id = order.id.clone();
            self.store.update(order).await.map_err(status)?;
            updated.push(id);
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
            let order = self.get(&id).await?;
            batch.add(&order);
            if batch.ids == self.batch_size {
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
