//! Log set-up shared by the binaries: `RUST_LOG` as usual, plus the traces,
//! printed to stderr one event per line:
//!
//! - `--trace` (or `--trace=messages`, `H2GRPC_TRACE=1`): the message trace,
//!   one line per head, message, trailers, reset (`h2grpc::trace`);
//! - `--trace=frames` (`H2GRPC_TRACE=frames`): the frame trace, every HTTP/2
//!   frame as it crossed the socket (`h2grpc::trace::frames`);
//! - `--trace=all` (`H2GRPC_TRACE=all`): both, interleaved as they happen.

use tracing_subscriber::EnvFilter;

/// Which traces to print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub messages: bool,
    pub frames: bool,
}

impl Trace {
    fn any(self) -> bool {
        self.messages || self.frames
    }

    /// `messages`, `frames`, `all`, or a comma-separated list; `1` means messages.
    fn parse(value: &str) -> Option<Trace> {
        let mut trace = Trace::default();
        for part in value.split(',') {
            match part.trim() {
                "1" | "messages" => trace.messages = true,
                "frames" => trace.frames = true,
                "all" => (trace.messages, trace.frames) = (true, true),
                "0" | "" => {}
                _ => return None,
            }
        }
        Some(trace)
    }
}

/// The traces asked for by `--trace[=WHICH]` (removed from `args`) or `H2GRPC_TRACE`.
pub fn trace_requested(args: &mut Vec<String>) -> Trace {
    // Any other value but `0` turns the message trace on, as it always did.
    let mut trace = std::env::var("H2GRPC_TRACE")
        .ok()
        .map(|v| {
            Trace::parse(&v).unwrap_or(Trace {
                messages: v != "0",
                frames: false,
            })
        })
        .unwrap_or_default();
    args.retain(|arg| {
        let which = match arg.strip_prefix("--trace") {
            Some("") => "messages",
            Some(rest) => match rest.strip_prefix('=') {
                Some(which) => which,
                None => return true,
            },
            None => return true,
        };
        match Trace::parse(which) {
            Some(t) => {
                trace.messages |= t.messages;
                trace.frames |= t.frames;
            }
            None => eprintln!("unknown --trace={which} (want messages, frames or all); ignored"),
        }
        false
    });
    trace
}

/// Installs the subscriber. With a trace on, lines carry no timestamp or
/// level, so a trace reads (and diffs) as the protocol conversation itself.
pub fn init(default_filter: &str, trace: Trace) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let targets = [
        (trace.messages, h2grpc::trace::TARGET),
        (trace.frames, h2grpc::trace::frames::TARGET),
    ];
    for (on, target) in targets {
        if on && let Ok(directive) = format!("{target}=trace").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if trace.any() {
        builder
            .without_time()
            .with_level(false)
            .with_target(false)
            .init();
    } else {
        builder.init();
    }
}
