//! Server reflection over the order service's descriptors, served and asked in
//! memory: the README's "Reflection and grpcurl" code, compiled (and run by
//! `cargo run --example reflection`).
//!
//! A real server adds the two services beside its own, as `order-server` does;
//! then, with no `.proto` at hand:
//!
//! ```text
//! grpcurl -plaintext 127.0.0.1:50051 list
//! grpcurl -plaintext 127.0.0.1:50051 describe ecommerce.OrderManagement
//! grpcurl -plaintext -d '"102"' 127.0.0.1:50051 ecommerce.OrderManagement/getOrder
//! ```

use h2grpc::client::Channel;
use h2grpc::reflection::{self, v1};
use h2grpc::server::Server;
use h2grpc::transport;
use prost::Message;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}

use v1::ServerReflectionRequest;
use v1::server_reflection_client::ServerReflectionClient;
use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One descriptor set per package served: the generated FILE_DESCRIPTOR_SET
    // carries the package's files and everything they import.
    let (v1, v1alpha) = reflection::Builder::new()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .build()?;
    let (listener, connector) = transport::memory();
    tokio::spawn(
        Server::builder()
            // .add_service(OrderManagementServer::new(store))
            .add_service(v1)
            .add_service(v1alpha)
            .serve_on(listener, std::future::pending()),
    );

    // What grpcurl does first: list the services, then fetch the file that
    // declares one (with its imports), on one stream.
    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .connect()
        .await?;
    let client = ServerReflectionClient::new(channel);
    let mut call = client.server_reflection_info(()).await?;
    for kind in [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("ecommerce.OrderManagement".into()),
    ] {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(kind),
        };
        call.send(&request).await?;
        let Some(response) = call.recv().await? else {
            return Err("the stream ended early".into());
        };
        match response.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                for service in list.service {
                    println!("service {}", service.name);
                }
            }
            Some(MessageResponse::FileDescriptorResponse(files)) => {
                for bytes in files.file_descriptor_proto {
                    let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())?;
                    println!("file {}", file.name());
                    for service in &file.service {
                        for method in &service.method {
                            println!("  rpc {}.{}", service.name(), method.name());
                        }
                    }
                }
            }
            other => println!("unexpected answer: {other:?}"),
        }
    }
    call.close_send().await?;
    Ok(())
}
