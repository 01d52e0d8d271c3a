//! The method path a call goes to: `/package.Service/Method`
//! (PROTOCOL-HTTP2.md "Path → ":path" "/" Service-Name "/" {method name}").
//!
//! Generated clients pass `&'static str` literals, which become `:path`
//! without a copy; a proxy or a reflection-driven client builds paths at
//! run time and passes a `String`.

use std::fmt;

use bytes::Bytes;
use http::uri::PathAndQuery;

use super::status::Status;

/// A method path; made from a `&'static str` or a `String`.
#[derive(Clone, PartialEq, Eq)]
pub struct MethodPath(Bytes);

impl MethodPath {
    /// The path as text.
    pub fn as_str(&self) -> &str {
        // Only made from `str`s (the `From` impls), so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The `:path` pseudo-header; `INTERNAL` if it is no valid path.
    pub fn to_path_and_query(&self) -> Result<PathAndQuery, Status> {
        if !self.0.starts_with(b"/") {
            return Err(Status::internal(format!(
                "method path {:?} does not start with '/'",
                self.as_str()
            )));
        }
        PathAndQuery::from_maybe_shared(self.0.clone())
            .map_err(|_| Status::internal(format!("invalid method path {:?}", self.as_str())))
    }
}

impl From<&'static str> for MethodPath {
    fn from(path: &'static str) -> MethodPath {
        MethodPath(Bytes::from_static(path.as_bytes()))
    }
}

impl From<String> for MethodPath {
    fn from(path: String) -> MethodPath {
        MethodPath(Bytes::from(path))
    }
}

impl fmt::Debug for MethodPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MethodPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::status::Code;

    #[test]
    fn static_and_owned_paths_give_the_same_path() {
        let a = MethodPath::from("/pkg.S/M");
        let b = MethodPath::from(String::from("/pkg.S/M"));
        assert_eq!(a, b);
        assert_eq!(a.to_path_and_query().unwrap().as_str(), "/pkg.S/M");
    }

    #[test]
    fn a_path_without_slash_or_with_a_space_is_refused() {
        for bad in ["pkg.S/M", "/pkg S/M"] {
            let err = MethodPath::from(bad).to_path_and_query().unwrap_err();
            assert_eq!(err.code(), Code::Internal, "{bad}");
        }
    }
}
