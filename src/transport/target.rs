//! Client targets: what a channel's URI names (grpc `doc/naming.md`).
//!
//! ```text
//!  http://host:port   host:port     TCP, HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3)
//!  https://host:port                TCP, then TLS with ALPN h2 (RFC 9113 §3.2)
//!  unix:path          unix:///abs   a Unix domain socket (relative or absolute path;
//!                                   the `unix://` form must be absolute: three slashes)
//! ```
//!
//! Sans-IO: parsing only.

use std::path::PathBuf;

use http::uri::{Authority, Scheme};

use crate::wire::status::Status;

/// Where a channel connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A TCP `host:port`.
    Tcp(Authority),
    /// A TCP `host:port`, with TLS over it (`https://`).
    TcpTls(Authority),
    /// A Unix domain socket at this path.
    Unix(PathBuf),
}

impl Target {
    /// Reads a target URI; a bad one is `INVALID_ARGUMENT` naming what is wrong.
    pub fn parse(uri: &str) -> Result<Target, Status> {
        let bad =
            |why: &str| Status::invalid_argument(format!("invalid server uri {uri:?}: {why}"));
        if let Some(rest) = uri.strip_prefix("unix:") {
            let path = match rest.strip_prefix("//") {
                Some(absolute) if absolute.starts_with('/') => absolute,
                Some(_) => return Err(bad("unix:// must be followed by an absolute path")),
                None => rest,
            };
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let parsed: http::Uri = uri.parse().map_err(|_| bad("not a uri"))?;
        let tls = match parsed.scheme_str() {
            None | Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(bad("scheme must be http, https or unix")),
        };
        let authority = parsed
            .authority()
            .cloned()
            .ok_or_else(|| bad("no host:port"))?;
        if authority.port_u16().is_none() {
            return Err(bad("no port"));
        }
        Ok(if tls {
            Target::TcpTls(authority)
        } else {
            Target::Tcp(authority)
        })
    }

    /// The `:authority` of this target's requests: `host:port`, or
    /// `localhost` for a Unix socket (as grpc-go and C-core send).
    pub fn authority(&self) -> Authority {
        match self {
            Target::Tcp(authority) | Target::TcpTls(authority) => authority.clone(),
            Target::Unix(_) => Authority::from_static("localhost"),
        }
    }

    /// The `:scheme` of this target's requests.
    pub fn scheme(&self) -> Scheme {
        match self {
            Target::TcpTls(_) => Scheme::HTTPS,
            Target::Tcp(_) | Target::Unix(_) => Scheme::HTTP,
        }
    }

    /// Whether the URI asked for TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        matches!(self, Target::TcpTls(_))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(authority) => write!(f, "{authority}"),
            Target::TcpTls(authority) => write!(f, "https://{authority}"),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_targets() {
        let t = Target::parse("http://127.0.0.1:50051").unwrap();
        assert_eq!(t, Target::Tcp(Authority::from_static("127.0.0.1:50051")));
        assert_eq!(t.authority().as_str(), "127.0.0.1:50051");
        assert_eq!(
            Target::parse("localhost:1").unwrap(),
            Target::Tcp(Authority::from_static("localhost:1"))
        );
        assert!(Target::parse("http://127.0.0.1").is_err(), "no port");
        assert!(Target::parse("ftp://h:1").is_err());
        let tls = Target::parse("https://h:1").unwrap();
        assert_eq!(tls, Target::TcpTls(Authority::from_static("h:1")));
        assert_eq!(tls.scheme(), Scheme::HTTPS);
    }

    #[test]
    fn unix_targets_follow_naming_md() {
        // unix:path, relative or absolute.
        assert_eq!(
            Target::parse("unix:run/grpc.sock").unwrap(),
            Target::Unix(PathBuf::from("run/grpc.sock"))
        );
        assert_eq!(
            Target::parse("unix:/tmp/grpc.sock").unwrap(),
            Target::Unix(PathBuf::from("/tmp/grpc.sock"))
        );
        // unix://absolute_path: three slashes.
        assert_eq!(
            Target::parse("unix:///tmp/grpc.sock").unwrap(),
            Target::Unix(PathBuf::from("/tmp/grpc.sock"))
        );
        assert!(Target::parse("unix://tmp/grpc.sock").is_err());
        assert!(Target::parse("unix:").is_err());
        let t = Target::parse("unix:/x").unwrap();
        assert_eq!(t.authority().as_str(), "localhost");
        assert_eq!(t.to_string(), "unix:/x");
    }
}
