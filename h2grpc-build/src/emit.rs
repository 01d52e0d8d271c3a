//! Text plumbing shared by the server and client emitters: an indenting line
//! writer, doc-comment helpers, and the naming rules that turn prost-build's
//! view of a service into Rust paths, identifiers and HTTP/2 `:path`s.
//!
//! Layer: code generation only (runs in the user's `build.rs`). The `:path`
//! layout follows grpc/grpc `doc/PROTOCOL-HTTP2.md`, "Path → ":path" "/"
//! Service-Name "/" {method name}", where Service-Name is the fully qualified
//! proto service name.

use heck::ToSnakeCase;
use prost_build::{Comments, Method, Service};

/// Builds generated source line by line, four spaces per nesting level.
///
/// We write the text by hand (no `syn`/`quote`) so the output is readable even
/// when prost-build's own formatting pass is turned off.
#[derive(Debug, Default)]
pub(crate) struct Code {
    buf: String,
    depth: usize,
}

impl Code {
    /// Appends one line at the current depth; an empty `text` is a blank line.
    pub(crate) fn line(&mut self, text: &str) {
        if !text.is_empty() {
            for _ in 0..self.depth {
                self.buf.push_str("    ");
            }
            self.buf.push_str(text);
        }
        self.buf.push('\n');
    }

    /// Appends `text` (which ends with an opening brace) and indents what follows.
    pub(crate) fn open(&mut self, text: &str) {
        self.line(text);
        self.depth += 1;
    }

    /// Dedents, then appends `text` (which starts with a closing brace).
    pub(crate) fn close(&mut self, text: &str) {
        self.dedent();
        self.line(text);
    }

    /// Closes one level and opens the next, as in `) -> Output {`.
    pub(crate) fn reopen(&mut self, text: &str) {
        self.dedent();
        self.open(text);
    }

    /// Indents what follows by one level.
    pub(crate) fn indent(&mut self) {
        self.depth += 1;
    }

    /// Takes back one level of indentation.
    pub(crate) fn dedent(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Appends `text` as `///` doc lines.
    pub(crate) fn doc(&mut self, text: &str) {
        for line in text.lines() {
            if line.is_empty() {
                self.line("///");
            } else {
                self.line(&format!("/// {line}"));
            }
        }
    }

    /// Copies the proto comments as doc lines, or writes `fallback` when the
    /// proto has none: every generated public item needs a doc so users can
    /// keep `#![deny(missing_docs)]`.
    pub(crate) fn comments(&mut self, comments: &Comments, fallback: &str) {
        if comments.leading.is_empty() && comments.trailing.is_empty() {
            self.doc(fallback);
        } else {
            // prost-build's own renderer escapes URLs and brackets for rustdoc.
            let depth = u8::try_from(self.depth).unwrap_or(u8::MAX);
            comments.append_with_indent(depth, &mut self.buf);
        }
    }

    /// The finished source text.
    pub(crate) fn finish(self) -> String {
        self.buf
    }
}

/// Rust types that prost-build can hand us which are not paths at all
/// (well-known wrappers map onto them: `google.protobuf.Empty` is `()`,
/// `google.protobuf.BoolValue` is `bool`, ...).
const NON_PATH_TYPES: &[&str] = &["()", "bool", "f32", "f64", "i32", "i64", "u32", "u64"];

/// Rewrites a message type as prost-build resolved it (relative to the
/// package module) so it can be named from a module nested one level deeper.
///
/// Absolute paths (`::prost::alloc::string::String`, `crate::...`) and
/// primitives stay as they are; anything else is relative and gets `super::`.
pub(crate) fn message_type(rust_type: &str) -> String {
    if rust_type.starts_with("::")
        || rust_type.starts_with("crate::")
        || NON_PATH_TYPES.contains(&rust_type)
    {
        rust_type.to_owned()
    } else {
        format!("super::{rust_type}")
    }
}

/// Fully qualified service name: `package.Service`, or `Service` with no package.
pub(crate) fn service_full_name(service: &Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

/// The HTTP/2 `:path` of a method: `/package.Service/method`, names exactly
/// as written in the .proto (PROTOCOL-HTTP2.md, "Path").
pub(crate) fn method_path(service: &Service, method: &Method) -> String {
    format!("/{}/{}", service_full_name(service), method.proto_name)
}

/// Snake-case module name for one side of a service, e.g. `order_management_server`.
pub(crate) fn module_name(service: &Service, side: &str) -> String {
    format!("{}_{side}", service.proto_name.to_snake_case())
}

/// The human name of a method's call pattern, for generated docs.
pub(crate) fn pattern_name(method: &Method) -> &'static str {
    match (method.client_streaming, method.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server-streaming",
        (true, false) => "client-streaming",
        (true, true) => "bidirectional-streaming",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(package: &str, name: &str) -> Service {
        Service {
            name: heck::ToUpperCamelCase::to_upper_camel_case(name),
            proto_name: name.to_owned(),
            package: package.to_owned(),
            comments: Comments::default(),
            methods: Vec::new(),
            options: Default::default(),
        }
    }

    fn method(proto_name: &str, client_streaming: bool, server_streaming: bool) -> Method {
        Method {
            name: proto_name.to_snake_case(),
            proto_name: proto_name.to_owned(),
            comments: Comments::default(),
            input_type: "Order".to_owned(),
            output_type: "Order".to_owned(),
            input_proto_type: ".ecommerce.Order".to_owned(),
            output_proto_type: ".ecommerce.Order".to_owned(),
            options: Default::default(),
            client_streaming,
            server_streaming,
        }
    }

    #[test]
    fn relative_types_gain_super_absolute_ones_do_not() {
        assert_eq!(message_type("Order"), "super::Order");
        assert_eq!(message_type("order::Item"), "super::order::Item");
        assert_eq!(
            message_type("super::common::Id"),
            "super::super::common::Id"
        );
        assert_eq!(
            message_type("::prost::alloc::string::String"),
            "::prost::alloc::string::String"
        );
        assert_eq!(message_type("crate::pb::Order"), "crate::pb::Order");
        assert_eq!(message_type("()"), "()");
        assert_eq!(message_type("u64"), "u64");
    }

    #[test]
    fn path_uses_proto_names_and_package() {
        let svc = service("ecommerce", "OrderManagement");
        let m = method("addOrder", false, false);
        assert_eq!(method_path(&svc, &m), "/ecommerce.OrderManagement/addOrder");

        // No package: the service name stands alone.
        let svc = service("", "Greeter");
        let m = method("SayHello", false, false);
        assert_eq!(method_path(&svc, &m), "/Greeter/SayHello");
    }

    #[test]
    fn generated_names() {
        let svc = service("a.b", "OrderManagement");
        assert_eq!(module_name(&svc, "server"), "order_management_server");
        assert_eq!(pattern_name(&method("x", true, false)), "client-streaming");
    }

    #[test]
    fn code_indents_and_falls_back_to_a_doc() {
        let mut code = Code::default();
        code.open("mod m {");
        code.comments(&Comments::default(), "Fallback doc.");
        code.line("fn f() {}");
        code.line("");
        code.close("}");
        assert_eq!(
            code.finish(),
            "mod m {\n    /// Fallback doc.\n    fn f() {}\n\n}\n"
        );
    }
}
