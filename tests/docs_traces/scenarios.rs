//! The runs of the reference application whose traces the docs quote: one
//! fresh server per scenario, its flags, the client's, and what the client
//! reads on stdin.

/// One run of the reference application.
pub struct Scenario {
    pub name: &'static str,
    pub server: &'static [&'static str],
    pub client: &'static [&'static str],
    pub stdin: Option<fn() -> String>,
    /// `--trace=frames` on both sides instead of `--trace`.
    pub frames: bool,
    /// TLS: the server gets a certificate for 127.0.0.1 made now, the client its CA.
    pub tls: bool,
    /// Run interop-server and interop-client with this `--test_case`
    /// instead of the order binaries (`server`/`client` are extra flags).
    pub interop: Option<&'static str>,
    /// Client flags made at run time, before `client`'s.
    pub client_args: Option<fn() -> Vec<String>>,
    /// Send the server SIGTERM once its trace shows this text (the client
    /// still running), and let it shut down by itself.
    pub term_server_on: Option<&'static str>,
}

const fn messages(
    name: &'static str,
    server: &'static [&'static str],
    client: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        server,
        client,
        stdin: None,
        frames: false,
        tls: false,
        interop: None,
        client_args: None,
        term_server_on: None,
    }
}

const fn frames(
    name: &'static str,
    server: &'static [&'static str],
    client: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        server,
        client,
        stdin: None,
        frames: true,
        tls: false,
        interop: None,
        client_args: None,
        term_server_on: None,
    }
}

const ADD_EMPTY_ID: &[&str] = &[
    "add",
    "--id",
    "",
    "--item",
    "Pen",
    "--description",
    "Pen",
    "--price",
    "2",
    "--destination",
    "Oslo",
];

/// Metadata of 20,000 bytes: a request head over the server's 16 KiB limit.
fn big_metadata() -> Vec<String> {
    vec!["--metadata".into(), format!("x-big={}", "x".repeat(20_000))]
}

fn two_orders() -> String {
    TWO_ORDERS.to_owned()
}

/// One order whose description is 5 MB: over the 4 MiB a server accepts by default.
fn huge_order() -> String {
    format!(
        "{{\"id\":\"102\",\"description\":\"{}\"}}\n",
        "x".repeat(5_000_000)
    )
}

const TWO_ORDERS: &str = "{\"id\":\"102\",\"items\":[\"Google Pixel 3A\"],\"description\":\"Pixel\",\"price\":700.0,\"destination\":\"Mountain View, CA\"}\n\
     {\"id\":\"103\",\"items\":[\"Apple Watch S4\"],\"description\":\"Watch\",\"price\":350.0,\"destination\":\"San Jose, CA\"}\n";

pub const SCENARIOS: &[Scenario] = &[
    messages("unary-get", &[], &["get", "102"]),
    messages("unary-not-found", &[], &["get", "999"]),
    messages("unary-details", &[], ADD_EMPTY_ID),
    messages("server-streaming", &[], &["search", "Google"]),
    Scenario {
        stdin: Some(two_orders),
        ..messages("client-streaming", &[], &["update"])
    },
    messages("bidi", &[], &["process", "102", "103", "104", "105", "106"]),
    messages(
        "ping-pong",
        &["--batch-size", "1"],
        &["process", "--ping-pong", "102", "103", "104"],
    ),
    messages("compression", &["--gzip"], &["--gzip", "get", "105"]),
    messages(
        "cancel",
        &[],
        &["process", "--cancel-after-first", "102", "103", "104"],
    ),
    frames("frames-unary", &[], &["get", "102"]),
    frames("frames-not-found", &[], &["get", "999"]),
    frames("frames-server-streaming", &[], &["search", "Google"]),
    Scenario {
        stdin: Some(two_orders),
        ..frames("frames-client-streaming", &[], &["update"])
    },
    frames("frames-demo", &[], &["demo"]),
    frames(
        "frames-metadata",
        &[],
        &[
            "--metadata",
            "x-request-id=42",
            "--metadata",
            "trace-ctx-bin=hello",
            "get",
            "102",
        ],
    ),
    Scenario {
        client_args: Some(big_metadata),
        ..frames("frames-too-large-head", &[], &["get", "102"])
    },
    Scenario {
        interop: Some("custom_metadata"),
        ..frames("interop-custom-metadata", &[], &[])
    },
    Scenario {
        interop: Some("special_status_message"),
        ..frames("interop-special-status", &[], &[])
    },
    frames("frames-timeout", &[], &["--timeout", "300ms", "get", "102"]),
    frames(
        "frames-cancel",
        &[],
        &["process", "--cancel-after-first", "102", "103", "104"],
    ),
    frames(
        "frames-too-many-pings",
        &[],
        &[
            "--keepalive",
            "200ms",
            "--timeout",
            "3s",
            "process",
            "--cancel-after-first",
            "102",
        ],
    ),
    messages("no-timeout", &[], &["--timeout", "none", "get", "102"]),
    Scenario {
        stdin: Some(huge_order),
        ..messages("too-large-message", &[], &["update"])
    },
    Scenario {
        tls: true,
        ..frames("frames-tls", &[], &["get", "102"])
    },
    frames(
        "frames-bidi",
        &[],
        &["process", "102", "103", "104", "105", "106"],
    ),
    // docs/12: health checking and reflection.
    messages("health-check", &[], &["health"]),
    messages("health-check-unknown", &[], &["health", "no.Such"]),
    messages(
        "health-watch-unknown",
        &[],
        &["watch", "--updates", "1", "no.Such"],
    ),
    Scenario {
        // The first status has gone out: now the server shuts down.
        term_server_on: Some("server → MESSAGE"),
        ..messages(
            "health-watch-shutdown",
            &[],
            &["watch", "ecommerce.OrderManagement"],
        )
    },
    messages("reflection", &[], &["reflect", "ecommerce.OrderManagement"]),
    frames(
        "frames-reflection",
        &[],
        &["reflect", "ecommerce.OrderManagement"],
    ),
    // docs/13: interceptors.
    messages(
        "intercept-token",
        &["--token", "s3cret"],
        &["--token", "s3cret", "get", "102"],
    ),
    messages(
        "intercept-no-token",
        &["--token", "s3cret"],
        &["get", "102"],
    ),
    messages(
        "intercept-health-exempt",
        &["--token", "s3cret"],
        &["health"],
    ),
    frames(
        "frames-ping-pong",
        &["--batch-size", "1"],
        &["process", "--ping-pong", "102", "103", "104"],
    ),
];

/// Waits (at most 30 s) for `marker` in the server's trace, sends the
/// server SIGTERM, and waits (at most 10 s) for it to exit.
pub fn terminate_on(name: &str, server: &mut super::common::python::ChildGuard, marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server.stderr().contains(marker) {
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: the server's trace never showed {marker:?}:\n{}",
            server.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "{name}: kill -TERM failed");
    assert!(
        server
            .wait_timeout(std::time::Duration::from_secs(10))
            .is_some(),
        "{name}: the server did not exit after SIGTERM"
    );
}
