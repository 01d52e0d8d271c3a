//! Bearer-token authentication: the `authorization: Bearer <token>` header
//! (RFC 6750 §2.1), the way gRPC's call credentials carry OAuth2 and JWT
//! tokens. A missing or wrong token is `UNAUTHENTICATED` (statuscodes.md:
//! "The request does not have valid authentication credentials").

use std::collections::HashSet;
use std::fmt;

use super::{CallContext, ClientCallContext, ClientInterceptor, Interceptor};
use crate::wire::status::Status;

/// The header (gRPC metadata keys are lower case).
const AUTHORIZATION: &str = "authorization";

/// Server side: lets a call through only with the expected bearer token.
///
/// ```
/// use h2grpc::intercept::BearerToken;
/// let auth = BearerToken::new("s3cret").exempt("grpc.health.v1.Health");
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct BearerToken {
    token: Vec<u8>,
    /// Services callable without a token (health checks from a load balancer).
    exempt: HashSet<String>,
}

impl BearerToken {
    /// Accepts calls whose `authorization` is `Bearer <token>`.
    pub fn new(token: impl Into<String>) -> BearerToken {
        BearerToken {
            token: token.into().into_bytes(),
            exempt: HashSet::new(),
        }
    }

    /// Lets calls to `service` (`package.Service`) through without a token.
    pub fn exempt(mut self, service: impl Into<String>) -> BearerToken {
        self.exempt.insert(service.into());
        self
    }

    fn check(&self, call: &CallContext) -> Result<(), Status> {
        if self.exempt.contains(call.service()) {
            return Ok(());
        }
        let Some(value) = call.metadata().get(AUTHORIZATION) else {
            return Err(Status::unauthenticated("missing bearer token"));
        };
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let presented = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(Status::unauthenticated(
                    "authorization is not a bearer token",
                ));
            }
        };
        if constant_time_eq(presented.as_bytes(), &self.token) {
            Ok(())
        } else {
            Err(Status::unauthenticated("invalid bearer token"))
        }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token itself: Debug output ends up in logs.
        f.debug_struct("BearerToken")
            .field("exempt", &self.exempt)
            .finish_non_exhaustive()
    }
}

impl Interceptor for BearerToken {
    async fn intercept(&self, call: &mut CallContext) -> Result<(), Status> {
        self.check(call)
    }
}

/// Client side: sends `authorization: Bearer <token>` on every call.
#[derive(Clone)]
pub struct BearerCredentials {
    value: String,
}

impl BearerCredentials {
    /// Credentials carrying `token`.
    pub fn new(token: &str) -> BearerCredentials {
        BearerCredentials {
            value: format!("Bearer {token}"),
        }
    }
}

impl fmt::Debug for BearerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerCredentials(..)")
    }
}

impl ClientInterceptor for BearerCredentials {
    async fn intercept(&self, call: &mut ClientCallContext) -> Result<(), Status> {
        call.metadata_mut()
            .insert(AUTHORIZATION, &self.value)
            .map_err(|e| Status::internal(format!("bearer token is not a valid header value: {e}")))
    }
}

/// Compares in time that depends only on the lengths, so the time a wrong
/// token takes to refuse does not tell how much of it was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Peer, PeerAddr};
    use crate::wire::metadata::Metadata;
    use crate::wire::status::Code;

    fn call(path: &'static str, authorization: Option<&str>) -> CallContext {
        let mut metadata = Metadata::new();
        if let Some(value) = authorization {
            metadata.insert(AUTHORIZATION, value).unwrap();
        }
        CallContext {
            path: http::uri::PathAndQuery::from_static(path),
            metadata,
            peer: Peer::new(PeerAddr::Memory),
            deadline: None,
            extensions: http::Extensions::new(),
        }
    }

    #[test]
    fn accepts_only_the_token() {
        let auth = BearerToken::new("abc").exempt("grpc.health.v1.Health");
        assert!(auth.check(&call("/s.S/M", Some("Bearer abc"))).is_ok());
        assert!(auth.check(&call("/s.S/M", Some("bearer abc"))).is_ok());
        for bad in [
            None,
            Some("Bearer abd"),
            Some("Bearer ab"),
            Some("Basic abc"),
            Some("abc"),
        ] {
            let refused = auth.check(&call("/s.S/M", bad)).unwrap_err();
            assert_eq!(refused.code(), Code::Unauthenticated, "{bad:?}");
        }
        assert!(
            auth.check(&call("/grpc.health.v1.Health/Check", None))
                .is_ok()
        );
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"xy", b"xy"));
        assert!(!constant_time_eq(b"xy", b"xz"));
        assert!(!constant_time_eq(b"xy", b"xyz"));
    }
}
