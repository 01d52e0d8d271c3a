//! order-client's calls to the server's standard services: health checking
//! (`grpc.health.v1.Health`, doc/health-checking.md) and server reflection
//! (`grpc.reflection.v1.ServerReflection`, doc/server-reflection.md).
//!
//! ```text
//! health [SERVICE]              Check (SERVICE "" = the whole server): prints its status
//! watch [--updates N] SERVICE   Watch: prints each status as it comes; after N, cancels
//! reflect SYMBOL                one ServerReflectionInfo stream: list_services, then
//!                               file_containing_symbol SYMBOL; prints what came back
//! ```
//!
//! Each reflection request is sent only after the answer to the one before
//! has arrived, so the trace shows one exchange at a time.

use std::time::Duration;

use h2grpc::Status;
use h2grpc::client::Channel;
use h2grpc::health::pb::HealthCheckRequest;
use h2grpc::health::pb::health_check_response::ServingStatus;
use h2grpc::health::pb::health_client::HealthClient;
use h2grpc::reflection::v1::server_reflection_client::ServerReflectionClient;
use h2grpc::reflection::v1::server_reflection_request::MessageRequest;
use h2grpc::reflection::v1::server_reflection_response::MessageResponse;
use h2grpc::reflection::v1::{ServerReflectionRequest, ServerReflectionResponse};
use serde_json::json;

use crate::flags::timed;

/// Why a probe subcommand failed.
pub(crate) enum Error {
    Usage(String),
    Call(Status),
}

impl From<Status> for Error {
    fn from(status: Status) -> Error {
        Error::Call(status)
    }
}

/// Runs `command` (`health`, `watch` or `reflect`) over `channel`.
pub(crate) async fn run(channel: &Channel, command: &str, rest: &[String]) -> Result<(), Error> {
    match command {
        "health" => {
            let service = match rest {
                [] => String::new(),
                [service] => service.clone(),
                _ => return Err(Error::Usage("health takes at most one SERVICE".into())),
            };
            let client = HealthClient::new(channel.clone());
            let reply = client.check(timed(HealthCheckRequest { service })).await?;
            println!(
                "{}",
                json!({ "status": status_name(reply.get_ref().status) })
            );
        }
        "watch" => {
            let (updates, service) = match rest {
                [flag, n, service] if flag == "--updates" => {
                    let n: usize = n
                        .parse()
                        .map_err(|_| Error::Usage(format!("bad --updates {n:?}")))?;
                    (Some(n), service.clone())
                }
                [service] => (None, service.clone()),
                _ => return Err(Error::Usage("watch [--updates N] SERVICE".into())),
            };
            watch(channel, service, updates).await?;
        }
        "reflect" => {
            let [symbol] = rest else {
                return Err(Error::Usage("reflect takes one SYMBOL".into()));
            };
            reflect(channel, symbol).await?;
        }
        other => return Err(Error::Usage(format!("unknown subcommand {other:?}"))),
    }
    Ok(())
}

fn status_name(status: i32) -> &'static str {
    ServingStatus::try_from(status).map_or("(unknown value)", |s| s.as_str_name())
}

/// Watch: one line per status; with `updates`, the call is dropped (and so
/// cancelled) after that many.
async fn watch(channel: &Channel, service: String, updates: Option<usize>) -> Result<(), Error> {
    let client = HealthClient::new(channel.clone());
    let mut statuses = client
        .watch(timed(HealthCheckRequest { service }))
        .await?
        .into_inner();
    let mut seen = 0;
    while let Some(reply) = statuses.message().await? {
        println!("{}", json!({ "status": status_name(reply.status) }));
        seen += 1;
        if updates == Some(seen) {
            drop(statuses);
            // Give h2 a moment to put the RST_STREAM on the wire before exit.
            tokio::time::sleep(Duration::from_millis(100)).await;
            println!("cancelled after {seen} update(s)");
            return Ok(());
        }
    }
    Ok(())
}

/// One ServerReflectionInfo stream: list_services, then file_containing_symbol.
async fn reflect(channel: &Channel, symbol: &str) -> Result<(), Error> {
    let client = ServerReflectionClient::new(channel.clone());
    let mut call = client.server_reflection_info(timed(())).await?;
    // Our server sends its head as soon as the handler starts reading;
    // waiting for it makes the frames come in the same order every run.
    call.head().await?;
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol(symbol.to_owned()),
    ];
    for request in requests {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        call.send(&request).await?;
        match call.recv().await? {
            Some(reply) => print_reflection(&reply),
            None => return Err(Status::internal("the stream ended without an answer").into()),
        }
    }
    call.close_send().await?;
    while let Some(reply) = call.recv().await? {
        print_reflection(&reply);
    }
    Ok(())
}

fn print_reflection(reply: &ServerReflectionResponse) {
    let line = match &reply.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
            json!({ "services": names })
        }
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            let sizes: Vec<usize> = files.file_descriptor_proto.iter().map(Vec::len).collect();
            json!({ "file_descriptor_proto_bytes": sizes })
        }
        Some(MessageResponse::ErrorResponse(e)) => {
            json!({ "error_code": e.error_code, "error_message": e.error_message })
        }
        Some(MessageResponse::AllExtensionNumbersResponse(e)) => {
            json!({ "extension_numbers": e.extension_number })
        }
        None => json!({ "empty": true }),
    };
    println!("{line}");
}
