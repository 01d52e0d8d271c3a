//! Log set-up shared by the binaries: `RUST_LOG` as usual, plus the wire trace
//! (`--trace` or `H2GRPC_TRACE=1`), printed to stderr one event per line.

use tracing_subscriber::EnvFilter;

/// True when `--trace` was given or `H2GRPC_TRACE` is set to something other than `0`.
pub fn trace_requested(args: &mut Vec<String>) -> bool {
    let flag = args
        .iter()
        .position(|a| a == "--trace")
        .map(|i| args.remove(i))
        .is_some();
    let env = std::env::var("H2GRPC_TRACE").is_ok_and(|v| !v.is_empty() && v != "0");
    flag || env
}

/// Installs the subscriber. With the trace on, lines carry no timestamp or
/// level, so a trace reads (and diffs) as the protocol conversation itself.
pub fn init(default_filter: &str, trace: bool) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    if trace && let Ok(directive) = format!("{}=trace", h2grpc::trace::TARGET).parse() {
        filter = filter.add_directive(directive);
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if trace {
        builder
            .without_time()
            .with_level(false)
            .with_target(false)
            .init();
    } else {
        builder.init();
    }
}
