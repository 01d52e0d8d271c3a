//! The health service (`grpc.health.v1.Health`) beside an application's own
//! services: the README's "Health checks" example, compiled (and run by
//! `cargo run --example health`).
//!
//! A server with the health service, in memory; a client checks it and
//! watches it while the application flips a service's status; then the
//! shutdown signal turns everything `NOT_SERVING` before the server drains.

use h2grpc::client::Channel;
use h2grpc::health::health_reporter;
use h2grpc::health::pb::HealthCheckRequest;
use h2grpc::health::pb::health_client::HealthClient;
use h2grpc::server::Server;
use h2grpc::transport;

/// The application's own service, as a generated module's `SERVICE_NAME` names it.
const ORDERS: &str = "ecommerce.OrderManagement";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The table starts with "" (the whole server) SERVING.
    let (reporter, health) = health_reporter();
    reporter.set_not_serving(ORDERS); // e.g. until its database is reachable

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = reporter.not_serving_on(async {
        let _ = stopped.await; // in a real server: tokio::signal::ctrl_c()
    });
    let (listener, connector) = transport::memory();
    let server = tokio::spawn(
        Server::builder()
            .add_service(health) // beside .add_service(OrderManagementServer::new(..))
            .serve_on(listener, shutdown),
    );

    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .connect()
        .await?;
    let client = HealthClient::new(channel);
    let ask = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };

    let whole = client.check(ask("")).await?.into_inner();
    println!("Check \"\": {:?}", whole.status());
    match client.check(ask("no.Such")).await {
        Ok(reply) => println!("Check no.Such: {:?}", reply.into_inner().status()),
        Err(status) => println!("Check no.Such: {:?}", status.code()), // NotFound
    }

    let mut watch = client.watch(ask(ORDERS)).await?.into_inner();
    println!("Watch {ORDERS}: {}", watch_next(&mut watch).await?); // NotServing
    reporter.set_serving(ORDERS);
    println!("Watch {ORDERS}: {}", watch_next(&mut watch).await?); // Serving

    // Shutdown: the watcher hears NOT_SERVING, then its call ends (UNAVAILABLE).
    let _ = stop.send(());
    println!("Watch {ORDERS}: {}", watch_next(&mut watch).await?); // NotServing
    match watch.recv().await {
        Ok(more) => println!("Watch {ORDERS} ended: {more:?}"),
        Err(status) => println!("Watch {ORDERS} ended: {:?}", status.code()), // Unavailable
    }
    server.await??;
    Ok(())
}

async fn watch_next(
    watch: &mut h2grpc::Streaming<h2grpc::health::pb::HealthCheckResponse>,
) -> Result<String, h2grpc::Status> {
    Ok(match watch.recv().await? {
        Some(reply) => format!("{:?}", reply.status()),
        None => "(ended)".to_owned(),
    })
}
