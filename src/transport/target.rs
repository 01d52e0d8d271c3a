//! Client targets: what a channel's URI names (grpc `doc/naming.md`).
//!
//! ```text
//!  http://host:port   host:port     TCP, HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3)
//!  https://host:port                TCP, then TLS with ALPN h2 (RFC 9113 §3.2)
//!  unix:path          unix:///abs   a Unix domain socket (relative or absolute path;
//!                                   the `unix://` form must be absolute: three slashes)
//!
//!  names a resolver turns into several targets (a channel balances over them):
//!  dns:[//dns-server/]host[:port]   resolved by DNS, re-resolved when connections drop
//!  ipv4:a.b.c.d[:port][,...]        a fixed list of IPv4 addresses
//!  ipv6:addr or [addr]:port[,...]   a fixed list of IPv6 addresses
//! ```
//!
//! The lists default to port 443, as naming.md says. A `dns:` authority (a
//! DNS server of one's own) is refused: the system resolver answers.
//!
//! Sans-IO: parsing only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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

/// naming.md's default port for `dns:`, `ipv4:` and `ipv6:` names.
pub const DEFAULT_NAME_PORT: u16 = 443;

/// What a channel's URI names: one [`Target`], or a name that stands for
/// several (naming.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Name {
    /// One target, dialed as it is (a `host:port` is looked up at each dial).
    Target(Target),
    /// `dns:///host:port`: every address DNS gives is an endpoint.
    Dns {
        /// The name to look up.
        host: String,
        /// The port of every address.
        port: u16,
    },
    /// `ipv4:` / `ipv6:`: these addresses.
    Addresses(Vec<SocketAddr>),
}

impl Name {
    /// Reads a channel URI: the [`Target`] forms, `dns:`, `ipv4:`, `ipv6:`.
    pub fn parse(uri: &str) -> Result<Name, Status> {
        let bad =
            |why: &str| Status::invalid_argument(format!("invalid server uri {uri:?}: {why}"));
        if let Some(rest) = uri.strip_prefix("dns:") {
            let host_port = match rest.strip_prefix("//") {
                Some(with_authority) => match with_authority.split_once('/') {
                    Some(("", host_port)) => host_port,
                    Some(_) => return Err(bad("a DNS server authority is not supported")),
                    None => return Err(bad("dns:// needs a third slash: dns:///host:port")),
                },
                None => rest,
            };
            let (host, port) = split_host_port(host_port).ok_or_else(|| bad("bad host:port"))?;
            return Ok(Name::Dns {
                host: host.to_owned(),
                port,
            });
        }
        for (scheme, v6) in [("ipv4:", false), ("ipv6:", true)] {
            if let Some(list) = uri.strip_prefix(scheme) {
                let addrs = list
                    .split(',')
                    .map(|a| ip_address(a, v6))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("bad address list"))?;
                return Ok(Name::Addresses(addrs));
            }
        }
        Target::parse(uri).map(Name::Target)
    }
}

/// `host[:port]` or `[v6]:port`, the port defaulting to 443.
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => DEFAULT_NAME_PORT,
            None => return None,
        };
        return Some((host, port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (s, DEFAULT_NAME_PORT),
    };
    (!host.is_empty() && !host.contains(':')).then_some((host, port))
}

/// One entry of an `ipv4:` or `ipv6:` list.
fn ip_address(s: &str, v6: bool) -> Option<SocketAddr> {
    if v6 {
        if let Ok(ip) = s.parse::<Ipv6Addr>() {
            return Some(SocketAddr::new(IpAddr::V6(ip), DEFAULT_NAME_PORT));
        }
        let (host, port) = split_host_port(s)?;
        let ip = host.parse::<Ipv6Addr>().ok()?;
        return Some(SocketAddr::new(IpAddr::V6(ip), port));
    }
    let (host, port) = split_host_port(s)?;
    let ip = host.parse::<Ipv4Addr>().ok()?;
    Some(SocketAddr::new(IpAddr::V4(ip), port))
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
        assert_eq!(t.to_string(), "unix:/x");
    }

    #[test]
    fn names_follow_naming_md() {
        let dns = |host: &str, port| Name::Dns {
            host: host.into(),
            port,
        };
        assert_eq!(
            Name::parse("dns:///localhost:50051").unwrap(),
            dns("localhost", 50051)
        );
        assert_eq!(Name::parse("dns:localhost:1").unwrap(), dns("localhost", 1));
        assert_eq!(
            Name::parse("dns:///example.com").unwrap(),
            dns("example.com", 443)
        );
        assert_eq!(Name::parse("dns:///[::1]:7").unwrap(), dns("::1", 7));
        assert!(
            Name::parse("dns://8.8.8.8/example.com").is_err(),
            "own DNS server"
        );
        assert!(Name::parse("dns://example.com").is_err());
        assert!(Name::parse("dns:///").is_err());
        assert!(Name::parse("dns:///h:notaport").is_err());
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            Name::parse("ipv4:127.0.0.1:1,10.0.0.2").unwrap(),
            Name::Addresses(vec![addr("127.0.0.1:1"), addr("10.0.0.2:443")])
        );
        assert_eq!(
            Name::parse("ipv6:[::1]:5,fe80::1").unwrap(),
            Name::Addresses(vec![addr("[::1]:5"), addr("[fe80::1]:443")])
        );
        assert!(Name::parse("ipv4:::1").is_err());
        assert!(Name::parse("ipv4:1.2.3.4:5,").is_err());
        assert!(Name::parse("ipv6:127.0.0.1").is_err());
        assert_eq!(
            Name::parse("http://h:1").unwrap(),
            Name::Target(Target::Tcp(Authority::from_static("h:1")))
        );
        let t = Target::parse("unix:/x").unwrap();
        assert_eq!(t.authority().as_str(), "localhost");
        assert_eq!(t.to_string(), "unix:/x");
    }
}
