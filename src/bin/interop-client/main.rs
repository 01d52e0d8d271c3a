//! `interop-client`: the standard gRPC interop client cases
//! (grpc/grpc doc/interop-test-descriptions.md, "Client") on h2grpc.
//!
//! ```text
//! interop-client --server_port N [--server_host HOST] [--test_case NAME|all]
//!                [--use_tls=true [--use_test_ca=true --ca_file FILE] [--server_host_override NAME]]
//! ```
//! Runs one case, or every case in order (`all`, the default), over one
//! channel, and prints exactly one line per case:
//!
//! ```text
//! PASS large_unary
//! FAIL cancel_after_begin: <reason on one line>
//! 17 passed, 1 failed          (only with `all`)
//! ```
//! Exit status: 0 when every case run passed, 1 otherwise, 2 for bad
//! arguments. Every case is bounded by [`CASE_TIMEOUT`], every call in it by
//! a deadline, so a peer that never answers fails a case instead of hanging
//! the run. Flags may also be written `--flag=value`, as the upstream runners
//! do; a boolean flag alone (`--use_tls`) means true, as in grpc-go's.
//!
//! TLS, with the flags of the spec's "Client" section as grpc-go spells them:
//! `--use_tls=true` connects over TLS (ALPN `h2`), trusting the platform's
//! CAs; `--use_test_ca=true` trusts only the CAs in `--ca_file` instead.
//! grpc-go falls back to its copy of grpc's test CA
//! (src/core/tsi/test_creds/ca.pem) without `--ca_file`; this client has no
//! copy built in, so `--use_test_ca=true` requires `--ca_file` (and
//! `--ca_file` without it is refused rather than ignored).
//! `--server_host_override NAME` is the name the server's certificate is
//! checked against (SNI too) and, as the spec says ("for use in TLS and
//! HTTP/2 :authority header"), every call's `:authority`. Without TLS the
//! override is ignored, as grpc-go does.

#[path = "../common/flags.rs"]
mod flags;
#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/interop_pb.rs"]
mod pb;

mod cases;
mod compressed;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use h2grpc::client::Channel;

use pb::grpc_testing::test_service_client::TestServiceClient;

const USAGE: &str = "usage: interop-client --server_port N [--server_host HOST] \
                     [--test_case NAME|all] [--use_tls=true|false] [--use_test_ca=true|false] \
                     [--ca_file FILE] [--server_host_override NAME] [--trace]";

/// Longest one case may run; it fails (and the run goes on) after that.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

struct Args {
    host: String,
    port: u16,
    test_case: String,
    tls: Option<TlsArgs>,
}

/// `--use_tls=true` and what goes with it.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
struct TlsArgs {
    /// `--use_test_ca=true --ca_file FILE`: trust FILE's CAs only; `None`:
    /// the platform's store.
    ca_file: Option<String>,
    /// `--server_host_override`: the name the certificate must carry.
    server_host_override: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = None;
    let mut test_case = "all".to_owned();
    let mut use_tls = false;
    let mut use_test_ca = false;
    let mut ca_file = None;
    let mut server_host_override = None;
    let mut it = std::env::args().skip(1).peekable();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--server_host" => host = value()?,
            "--server_port" => {
                let v = value()?;
                port = Some(
                    v.parse()
                        .map_err(|e| format!("bad --server_port {v:?}: {e}"))?,
                );
            }
            "--test_case" => test_case = value()?,
            // Handled by logging::trace_requested in main.
            "--trace" => {}
            "--use_tls" => use_tls = flags::bool_flag(&flag, inline.clone(), &mut it)?,
            "--use_test_ca" => use_test_ca = flags::bool_flag(&flag, inline.clone(), &mut it)?,
            "--ca_file" => ca_file = Some(value()?),
            "--server_host_override" => server_host_override = Some(value()?),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let ca_file = match (use_test_ca, ca_file) {
        (true, Some(file)) => Some(file),
        (true, None) => {
            return Err(format!(
                "--use_test_ca=true needs --ca_file: this client has no built-in copy of \
                 grpc's test CA (src/core/tsi/test_creds/ca.pem)\n{USAGE}"
            ));
        }
        (false, Some(_)) => {
            return Err(format!(
                "--ca_file is only read with --use_test_ca=true (without it the platform's \
                 CAs are trusted)\n{USAGE}"
            ));
        }
        (false, None) => None,
    };
    if !use_tls && ca_file.is_some() {
        return Err(format!("--use_test_ca=true needs --use_tls=true\n{USAGE}"));
    }
    let tls = use_tls.then(|| TlsArgs {
        ca_file,
        // Empty means unset, as in grpc-go.
        server_host_override: server_host_override.filter(|name| !name.is_empty()),
    });
    let port = port.ok_or_else(|| format!("--server_port is required\n{USAGE}"))?;
    let known = |case: &str| cases::ALL.contains(&case) || cases::EXTRA.contains(&case);
    if test_case != "all" && !known(&test_case) {
        return Err(format!(
            "unknown --test_case {test_case:?}; one of: all, {}, {}",
            cases::ALL.join(", "),
            cases::EXTRA.join(", ")
        ));
    }
    Ok(Args {
        host,
        port,
        test_case,
        tls,
    })
}

/// The channel for `uri`, over TLS as `--use_tls` and its flags ask.
fn channel(uri: &str, tls: Option<&TlsArgs>) -> Result<Channel, String> {
    let builder = Channel::builder(uri);
    let builder = match tls {
        None => builder,
        #[cfg(feature = "tls")]
        Some(tls) => {
            use h2grpc::transport::ClientTlsConfig;
            let mut config = match &tls.ca_file {
                Some(file) => ClientTlsConfig::new().ca_file(file),
                None => ClientTlsConfig::new().native_roots(),
            }
            .map_err(|e| format!("TLS: {e}"))?;
            let mut builder = builder;
            if let Some(name) = &tls.server_host_override {
                config = config.server_name(name.clone());
                builder = builder.authority(name).map_err(|s| s.to_string())?;
            }
            builder.tls_config(config)
        }
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err("interop-client was built without the `tls` feature".into()),
    };
    builder.connect_lazy().map_err(|status| status.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    logging::init("warn", logging::trace_requested(&mut argv));
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let scheme = if args.tls.is_some() { "https" } else { "http" };
    // An IPv6 literal needs brackets in the authority.
    let uri = if args.host.contains(':') {
        format!("{scheme}://[{}]:{}", args.host, args.port)
    } else {
        format!("{scheme}://{}:{}", args.host, args.port)
    };
    let channel = match channel(&uri, args.tls.as_ref()) {
        Ok(channel) => channel,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let ctx = cases::Ctx {
        client: TestServiceClient::new(channel.clone()),
        channel,
    };

    let selected: Vec<&str> = if args.test_case == "all" {
        cases::ALL.to_vec()
    } else {
        vec![args.test_case.as_str()]
    };
    let mut failed = 0;
    for name in &selected {
        let outcome = match tokio::time::timeout(CASE_TIMEOUT, cases::run(name, &ctx)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("did not finish within {CASE_TIMEOUT:?}")),
        };
        match outcome {
            Ok(()) => println!("PASS {name}"),
            Err(reason) => {
                failed += 1;
                // One line per case, whatever the reason contains.
                println!("FAIL {name}: {}", one_line(&reason));
            }
        }
        let _ = std::io::stdout().flush();
    }
    if args.test_case == "all" {
        println!("{} passed, {failed} failed", selected.len() - failed);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Escapes line breaks so a reason (e.g. a status message under test) stays on one line.
fn one_line(reason: &str) -> String {
    reason.replace('\r', "\\r").replace('\n', "\\n")
}
