//! Testing an h2grpc service without a network, three ways (the README's
//! "Testing without a network"; `cargo run --example testing`):
//!
//! 1. a handler called directly, its request stream built with `Streaming::from_vec`;
//! 2. the generated client calling the real server through `Channel::in_memory`;
//! 3. application code written against the generated `OrderManagementApi` trait, run
//!    against the real client and against a mock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use h2grpc::client::Channel;
use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Metadata, Request, RequestStream, Response, Status, Streaming};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    h2grpc::include_proto!("ecommerce");
}

use pb::order_management_client::{OrderManagementApi, OrderManagementClient};
use pb::order_management_server::{OrderManagement, OrderManagementServer};
use pb::{CombinedShipment, Order};

/// The service: a map of orders.
#[derive(Debug, Default)]
struct Store {
    orders: Mutex<BTreeMap<String, Order>>,
}

impl Store {
    fn orders(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Order>>, Status> {
        self.orders
            .lock()
            .map_err(|_| Status::internal("store poisoned"))
    }
}

impl OrderManagement for Arc<Store> {
    async fn add_order(&self, request: Request<Order>) -> Result<Response<String>, Status> {
        let order = request.into_inner();
        let id = order.id.clone();
        self.orders()?.insert(id.clone(), order);
        Ok(Response::new(id))
    }

    async fn get_order(&self, request: Request<String>) -> Result<Response<Order>, Status> {
        let found = self.orders()?.get(request.get_ref()).cloned();
        found
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("order {}", request.get_ref())))
    }

    async fn search_orders(
        &self,
        request: Request<String>,
        mut sink: ResponseSink<Order>,
    ) -> Result<(), Status> {
        let query = request.into_inner();
        let matching: Vec<Order> = self
            .orders()?
            .values()
            .filter(|o| o.items.iter().any(|i| i.contains(&query)))
            .cloned()
            .collect();
        sink.send_all(futures::stream::iter(matching.into_iter().map(Ok)))
            .await
    }

    async fn update_orders(
        &self,
        request: Request<Streaming<Order>>,
    ) -> Result<Response<String>, Status> {
        let mut orders = request.into_inner();
        let mut ids = Vec::new();
        while let Some(order) = orders.recv().await? {
            ids.push(order.id.clone());
            self.orders()?.insert(order.id.clone(), order);
        }
        Ok(Response::new(format!("Updated orders: {}", ids.join(", "))))
    }

    async fn process_orders(
        &self,
        request: Request<Streaming<String>>,
        mut sink: ResponseSink<CombinedShipment>,
    ) -> Result<(), Status> {
        let mut ids = request.into_inner();
        while let Some(id) = ids.recv().await? {
            let order = self.get_order(Request::new(id)).await?.into_inner();
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

fn order(id: &str, price: f32) -> Order {
    Order {
        id: id.into(),
        items: vec!["Pixel".into()],
        price,
        destination: "Zurich".into(),
        ..Default::default()
    }
}

/// Application code: raises the price of `ids` by 10 %. It only knows the
/// client trait, so a test can run it against a mock.
async fn raise_prices(api: &impl OrderManagementApi, ids: &[&str]) -> Result<String, Status> {
    let mut raised = Vec::new();
    for id in ids {
        let mut order = api
            .get_order(Request::new(id.to_string()))
            .await?
            .into_inner();
        order.price *= 1.1;
        raised.push(order);
    }
    let stream: RequestStream<Order> = Box::pin(futures::stream::iter(raised));
    let reply = api.update_orders_stream(Request::new(stream)).await?;
    Ok(reply.into_inner())
}

/// A mock of the client trait: every order costs 10, updates are counted.
#[derive(Debug, Default)]
struct MockOrders {
    updated: Mutex<Vec<(String, f32)>>,
}

impl OrderManagementApi for MockOrders {
    async fn add_order(&self, request: Request<Order>) -> Result<Response<String>, Status> {
        Ok(Response::new(request.into_inner().id))
    }

    async fn get_order(&self, request: Request<String>) -> Result<Response<Order>, Status> {
        Ok(Response::new(order(request.get_ref(), 10.0)))
    }

    async fn search_orders(
        &self,
        _request: Request<String>,
    ) -> Result<Response<Streaming<Order>>, Status> {
        let mut trailers = Metadata::new();
        trailers
            .insert("x-total", "1")
            .map_err(|e| Status::internal(e.to_string()))?;
        let found = Streaming::from_vec(vec![order("102", 10.0)]).with_trailers(trailers);
        Ok(Response::new(found))
    }

    async fn update_orders_stream(
        &self,
        request: Request<RequestStream<Order>>,
    ) -> Result<Response<String>, Status> {
        use futures::StreamExt;
        let orders: Vec<Order> = request.into_inner().collect().await;
        let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
        let mut updated = self
            .updated
            .lock()
            .map_err(|_| Status::internal("poisoned"))?;
        updated.extend(orders.into_iter().map(|o| (o.id, o.price)));
        Ok(Response::new(format!("Updated orders: {}", ids.join(", "))))
    }

    async fn process_orders_stream(
        &self,
        _request: Request<RequestStream<String>>,
    ) -> Result<Response<Streaming<CombinedShipment>>, Status> {
        Err(Status::unimplemented("not needed by raise_prices"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Status> {
    let store = Arc::new(Store::default());

    // 1. A handler, called directly: its request stream built from a Vec.
    let request = Request::new(Streaming::from_vec(vec![
        order("102", 100.0),
        order("103", 50.0),
    ]));
    let reply = store.update_orders(request).await?;
    assert_eq!(reply.get_ref(), "Updated orders: 102, 103");

    // 2. The generated client and the real server, in memory: no socket.
    let server = Server::builder().add_service(OrderManagementServer::new(store.clone()));
    let client = OrderManagementClient::new(Channel::in_memory(server));
    let found = client.get_order("103".to_string()).await?.into_inner();
    assert_eq!(found.price, 50.0);

    // 3. Application code, against the real client and against a mock.
    let said = raise_prices(&client, &["102", "103"]).await?;
    assert_eq!(said, "Updated orders: 102, 103");
    let price = client
        .get_order("102".to_string())
        .await?
        .into_inner()
        .price;
    assert!((price - 110.0).abs() < 0.01, "{price}");

    let mock = MockOrders::default();
    let said = raise_prices(&mock, &["7"]).await?;
    assert_eq!(said, "Updated orders: 7");
    let updated = mock
        .updated
        .lock()
        .map_err(|_| Status::internal("poisoned"))?;
    assert_eq!(updated.len(), 1);
    assert!((updated[0].1 - 11.0).abs() < 0.01);
    println!("handler, in-memory client and mock: all as expected");
    Ok(())
}
