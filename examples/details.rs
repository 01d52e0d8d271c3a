//! Rich error details (feature `details`): a handler fails with typed
//! details, a client reads them back (`cargo run --example details`). The
//! same `grpc-status-details-bin` grpcio reads with `rpc_status.from_call`.

use std::time::Duration;

use h2grpc::client::Channel;
use h2grpc::details::ErrorDetails;
use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Code, Request, Response, Status, Streaming};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    h2grpc::include_proto!("ecommerce");
}

use pb::order_management_client::OrderManagementClient;
use pb::order_management_server::{OrderManagement, OrderManagementServer};
use pb::{CombinedShipment, Order};

/// Refuses orders without a price; says when to come back for the rest.
#[derive(Debug)]
struct Strict;

impl OrderManagement for Strict {
    async fn add_order(&self, request: Request<Order>) -> Result<Response<String>, Status> {
        let order = request.into_inner();
        if order.price <= 0.0 {
            let details = ErrorDetails::new()
                .with_bad_request_violation("price", "must be positive")
                .with_error_info("NO_PRICE", "shop.example", [("id".into(), order.id)]);
            return Err(Status::with_error_details(
                Code::InvalidArgument,
                "invalid order",
                details,
            ));
        }
        let details = ErrorDetails::new().with_retry_delay(Duration::from_secs(30));
        Err(Status::with_error_details(
            Code::Unavailable,
            "closed for inventory",
            details,
        ))
    }

    async fn get_order(&self, _: Request<String>) -> Result<Response<Order>, Status> {
        Err(Status::unimplemented("only addOrder"))
    }

    async fn search_orders(
        &self,
        _: Request<String>,
        _: ResponseSink<Order>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("only addOrder"))
    }

    async fn update_orders(
        &self,
        _: Request<Streaming<Order>>,
    ) -> Result<Response<String>, Status> {
        Err(Status::unimplemented("only addOrder"))
    }

    async fn process_orders(
        &self,
        _: Request<Streaming<String>>,
        _: ResponseSink<CombinedShipment>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("only addOrder"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Status> {
    let server = Server::builder().add_service(OrderManagementServer::new(Strict));
    let client = OrderManagementClient::new(Channel::in_memory(server));

    let free = Order {
        id: "102".into(),
        ..Default::default()
    };
    let Err(status) = client.add_order(free).await else {
        return Err(Status::internal("an order without a price was accepted"));
    };
    // The typed getters: `None` when the detail is absent.
    let bad = status
        .bad_request()
        .ok_or_else(|| Status::internal("no BadRequest"))?;
    for violation in &bad.field_violations {
        println!(
            "{}: {} is invalid: {}",
            status.code(),
            violation.field,
            violation.description
        );
    }
    // All details at once; an `Err` says why they could not be read.
    let details = status
        .error_details()
        .map_err(|e| Status::internal(e.to_string()))?;
    let info = details
        .error_info
        .ok_or_else(|| Status::internal("no ErrorInfo"))?;
    assert_eq!(
        (info.reason.as_str(), info.metadata["id"].as_str()),
        ("NO_PRICE", "102")
    );

    let priced = Order {
        id: "103".into(),
        price: 9.5,
        ..Default::default()
    };
    let Err(status) = client.add_order(priced).await else {
        return Err(Status::internal("the shop was open"));
    };
    let delay = status.retry_info().and_then(|r| r.retry_delay);
    println!(
        "{}: {}; retry after {delay:?}",
        status.code(),
        status.message()
    );
    assert_eq!(delay.map(|d| d.seconds), Some(30));
    Ok(())
}
