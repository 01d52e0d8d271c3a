//! The OrderManagement service in the handle style, served and called in
//! memory: the README's "Using it in your crate" examples, compiled (and run
//! by `cargo run --example order_handles`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use h2grpc::client::Channel;
use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Request, Response, Status, Streaming, transport};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}

use pb::order_management_client::OrderManagementClient;
use pb::order_management_server::{OrderManagement, OrderManagementServer};
use pb::{CombinedShipment, Order};

#[derive(Default)]
struct MyStore {
    orders: Mutex<BTreeMap<String, Order>>,
}

impl MyStore {
    fn find(&self, id: &str) -> Option<Order> {
        self.orders.lock().ok()?.get(id).cloned()
    }
}

impl OrderManagement for Arc<MyStore> {
    async fn add_order(&self, request: Request<Order>) -> Result<Response<String>, Status> {
        let order = request.into_inner();
        let id = order.id.clone();
        self.orders
            .lock()
            .map_err(|_| Status::internal("store poisoned"))?
            .insert(id.clone(), order);
        Ok(Response::new(id))
    }

    async fn get_order(&self, request: Request<String>) -> Result<Response<Order>, Status> {
        self.find(request.get_ref())
            .map(Response::new)
            .ok_or_else(|| Status::not_found("no such order"))
    }

    // Server streaming: send each order, return the status.
    async fn search_orders(
        &self,
        request: Request<String>,
        mut sink: ResponseSink<Order>,
    ) -> Result<(), Status> {
        let matching: Vec<Order> = {
            let orders = self
                .orders
                .lock()
                .map_err(|_| Status::internal("poisoned"))?;
            let query = request.get_ref();
            orders
                .values()
                .filter(|o| o.items.iter().any(|i| i.contains(query.as_str())))
                .cloned()
                .collect()
        };
        for order in &matching {
            sink.send(order).await?;
        }
        Ok(())
    }

    // Client streaming: recv until the client closes, then the one reply.
    async fn update_orders(
        &self,
        request: Request<Streaming<Order>>,
    ) -> Result<Response<String>, Status> {
        let mut orders = request.into_inner();
        let mut updated = Vec::new();
        while let Some(order) = orders.recv().await? {
            updated.push(order.id.clone());
            self.orders
                .lock()
                .map_err(|_| Status::internal("poisoned"))?
                .insert(order.id.clone(), order);
        }
        Ok(Response::new(format!(
            "Updated orders: {}",
            updated.join(", ")
        )))
    }

    // Bidi: recv and send in any order.
    async fn process_orders(
        &self,
        request: Request<Streaming<String>>,
        mut sink: ResponseSink<CombinedShipment>,
    ) -> Result<(), Status> {
        let mut ids = request.into_inner();
        while let Some(id) = ids.recv().await? {
            let order = self
                .find(&id)
                .ok_or_else(|| Status::not_found(id.clone()))?;
            let shipment = CombinedShipment {
                id: format!("cmb - {}", order.destination),
                status: "Processed!".into(),
                orders_list: vec![order],
            };
            sink.send(&shipment).await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Status> {
    // In memory: the service through its generated client, no socket at all.
    let (listener, connector) = transport::memory();
    let store = Arc::new(MyStore::default());
    tokio::spawn(
        Server::builder()
            .add_service(OrderManagementServer::new(store))
            .serve_on(listener, std::future::pending()),
    );
    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .connect()
        .await?;
    let client = OrderManagementClient::new(channel);

    for (id, item) in [("102", "Google Pixel 3A"), ("103", "Apple Watch S4")] {
        let order = Order {
            id: id.into(),
            items: vec![item.into()],
            destination: "Mountain View, CA".into(),
            ..Default::default()
        };
        client.add_order(order).await?;
    }

    let mut found = client
        .search_orders("Google".to_string())
        .await?
        .into_inner();
    while let Some(order) = found.recv().await? {
        println!("found {}", order.id);
    }

    let mut call = client.update_orders(()).await?; // or a Request<()> with metadata and a timeout
    let mut order = client.get_order("103".to_string()).await?.into_inner();
    order.price = 380.0;
    call.send(&order).await?;
    let summary = call.close_and_recv().await?.into_inner();
    println!("{summary}");

    let mut call = client.process_orders(()).await?;
    call.send(&"102".to_string()).await?; // `feed` queues without sending
    let shipment = call.recv().await?; // sends what is queued, then waits
    println!("{shipment:?}");
    call.close_send().await?;
    let (_requests, mut responses) = call.split(); // the two halves, for two tasks
    while let Some(shipment) = responses.recv().await? {
        println!("{shipment:?}");
    }
    Ok(())
}
