//! The reflection service: one bidirectional `ServerReflectionInfo` stream per
//! client session, each request answered by exactly one response, in order.
//!
//! Layer: a [`Service`](crate::server::Service) like the generated ones, over
//! the index (index.rs). [`respond`] is the whole protocol, sans-IO: a request
//! and the stream's [`SentFiles`] in, a response out. The stream loop around
//! it only receives, answers and sends.
//!
//! ```text
//!  client                                     server (one stream)
//!  ServerReflectionRequest{list_services} ──▶ respond ──▶ {list_services_response}
//!  {file_containing_symbol: "pkg.Svc"}    ──▶ respond ──▶ {file_descriptor_response: [svc.proto, deps…]}
//!  {file_by_filename: "nope.proto"}       ──▶ respond ──▶ {error_response: 5 NOT_FOUND}   (stream stays open)
//!  (half-close)                           ──▶            grpc-status 0
//! ```
//!
//! `v1` and `v1alpha` are the same protocol: their `.proto` files differ only
//! in the package name, so every message is byte-for-byte the same on the
//! wire. One implementation, over the `v1` message types, serves both; the
//! two services differ in the name they are routed by.

use std::sync::Arc;

use crate::codec::ProstCodec;
use crate::server::{Call, ResponseSink, Service};
use crate::{Code, Request, Status, Streaming};

use super::index::{Index, SentFiles};
use super::v1::server_reflection_request::MessageRequest;
use super::v1::server_reflection_response::MessageResponse;
use super::v1::{
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse,
    ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};

/// The one method both versions have.
const METHOD: &str = "ServerReflectionInfo";

/// Which of the two wire-identical services (module doc) a value serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V1alpha,
}

impl Version {
    /// The service's full name, as routed by `:path`.
    pub(crate) fn service_name(self) -> &'static str {
        match self {
            Version::V1 => super::v1::server_reflection_server::SERVICE_NAME,
            Version::V1alpha => super::v1alpha::server_reflection_server::SERVICE_NAME,
        }
    }
}

/// A server reflection service, `grpc.reflection.v1.ServerReflection` or
/// `grpc.reflection.v1alpha.ServerReflection`; made by
/// [`Builder`](super::Builder), added with `Server::builder().add_service(..)`.
/// Clones share one index.
#[derive(Debug, Clone)]
pub struct ReflectionService {
    /// Every registered descriptor, shared by all streams and both versions.
    index: Arc<Index>,
    version: Version,
}

impl ReflectionService {
    pub(crate) fn new(index: Arc<Index>, version: Version) -> Self {
        ReflectionService { index, version }
    }
}

impl Service for ReflectionService {
    fn name(&self) -> &'static str {
        self.version.service_name()
    }

    fn call(&self, method: &str, call: Call) {
        if method != METHOD {
            return call.unimplemented();
        }
        let index = Arc::clone(&self.index);
        call.streaming_sink(
            ProstCodec::<ServerReflectionResponse, ServerReflectionRequest>::default(),
            move |request: Request<Streaming<ServerReflectionRequest>>, sink| {
                serve_stream(index, request.into_inner(), sink)
            },
        );
    }
}

/// Answers each request as it arrives until the client half-closes. Only a
/// failed receive or send ends the stream early; an unknown name is an
/// `error_response`, not a status.
async fn serve_stream(
    index: Arc<Index>,
    mut requests: Streaming<ServerReflectionRequest>,
    mut sink: ResponseSink<ServerReflectionResponse>,
) -> Result<(), Status> {
    let mut sent = SentFiles::new(&index);
    while let Some(request) = requests.recv().await? {
        sink.send(&respond(&index, &mut sent, request)).await?;
    }
    Ok(())
}

/// The answer to one request: `valid_host` and `original_request` echoed,
/// and the one `message_response` the request asks for.
///
/// | request                          | response                                   |
/// | -------------------------------- | ------------------------------------------ |
/// | `file_by_filename`               | the file, then its unsent transitive imports |
/// | `file_containing_symbol`         | the same, for the file declaring the symbol |
/// | `file_containing_extension`      | the same, for the file declaring the extension |
/// | `all_extension_numbers_of_type`  | the numbers, ascending                     |
/// | `list_services`                  | every registered service, sorted (content not checked) |
/// | any of these not found           | `error_response` 5 NOT_FOUND               |
/// | none set (an unknown request kind) | `error_response` 12 UNIMPLEMENTED        |
///
/// Not-found answers are what grpc-go and C++ send. For an empty request
/// grpc-go ends the stream with INVALID_ARGUMENT and C++ answers
/// UNIMPLEMENTED and goes on; we do as C++, so a client newer than this
/// server can tell "not supported here" and keep its stream.
pub(crate) fn respond(
    index: &Index,
    sent: &mut SentFiles,
    request: ServerReflectionRequest,
) -> ServerReflectionResponse {
    let files = |root: usize, sent: &mut SentFiles| {
        MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
            // A copy per file: the generated message holds Vec<u8>, and a
            // reflection response is small and rare.
            file_descriptor_proto: index
                .files_to_send(root, sent)
                .into_iter()
                .map(|file| file.encoded.to_vec())
                .collect(),
        })
    };
    let answer = match &request.message_request {
        Some(MessageRequest::FileByFilename(name)) => index
            .file_by_name(name)
            .map(|root| files(root, sent))
            .ok_or_else(|| not_found(format!("file not found: {name}"))),
        Some(MessageRequest::FileContainingSymbol(symbol)) => index
            .symbol(symbol)
            .map(|found| files(found.file, sent))
            .ok_or_else(|| not_found(format!("symbol not found: {symbol}"))),
        Some(MessageRequest::FileContainingExtension(extension)) => index
            .extension(&extension.containing_type, extension.extension_number)
            .map(|root| files(root, sent))
            .ok_or_else(|| {
                not_found(format!(
                    "extension not found: {} of {}",
                    extension.extension_number, extension.containing_type
                ))
            }),
        Some(MessageRequest::AllExtensionNumbersOfType(extendee)) => index
            .extension_numbers(extendee)
            .map(|numbers| {
                MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                    base_type_name: extendee.clone(),
                    extension_number: numbers,
                })
            })
            .ok_or_else(|| not_found(format!("message type not found: {extendee}"))),
        Some(MessageRequest::ListServices(_)) => {
            Ok(MessageResponse::ListServicesResponse(ListServiceResponse {
                service: index
                    .services()
                    .iter()
                    .map(|name| ServiceResponse { name: name.clone() })
                    .collect(),
            }))
        }
        None => Err(ErrorResponse {
            error_code: Code::Unimplemented as i32,
            error_message: "request kind not supported by this server".to_owned(),
        }),
    };
    ServerReflectionResponse {
        valid_host: request.host.clone(),
        message_response: Some(answer.unwrap_or_else(MessageResponse::ErrorResponse)),
        original_request: Some(request),
    }
}

fn not_found(message: String) -> ErrorResponse {
    ErrorResponse {
        error_code: Code::NotFound as i32,
        error_message: message,
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
