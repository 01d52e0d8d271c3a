//! `interop-client`: the standard gRPC interop client cases
//! (grpc/grpc doc/interop-test-descriptions.md, "Client") on h2grpc.
//!
//! ```text
//! interop-client --server_port N [--server_host HOST] [--test_case NAME|all] [--use_tls false]
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
//! the run. Plaintext HTTP/2 (h2c) only: `--use_tls true` is refused.
//! Flags may also be written `--flag=value`, as the upstream runners do.

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
                     [--test_case NAME|all] [--use_tls false] [--trace]";

/// Longest one case may run; it fails (and the run goes on) after that.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

struct Args {
    host: String,
    port: u16,
    test_case: String,
}

fn parse_args() -> Result<Args, String> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = None;
    let mut test_case = "all".to_owned();
    let mut it = std::env::args().skip(1);
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
            "--use_tls" => match value()?.as_str() {
                "false" => {}
                "true" => return Err("--use_tls true: TLS is not supported yet".into()),
                v => return Err(format!("bad --use_tls {v:?}: expected true or false")),
            },
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
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
    })
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
    // An IPv6 literal needs brackets in the authority.
    let uri = if args.host.contains(':') {
        format!("http://[{}]:{}", args.host, args.port)
    } else {
        format!("http://{}:{}", args.host, args.port)
    };
    let channel = match Channel::connect_lazy(&uri) {
        Ok(channel) => channel,
        Err(status) => {
            eprintln!("error: {status}");
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
