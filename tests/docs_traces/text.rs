//! Trace text for the docs: entries, the views a chapter quotes, and the
//! Mermaid sequence diagrams drawn from a frame trace.
//!
//! An entry is one trace event: its first line names the side (`client →
//! HEADERS …`), lines under it start with spaces. A frame trace's first line
//! also carries `stream N`.

use std::collections::BTreeMap;

/// One event and the lines under it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry(pub String);

impl Entry {
    fn first_line(&self) -> &str {
        self.0.lines().next().unwrap_or_default()
    }

    /// The stream of a frame entry; `None` for the preface or a message-trace entry.
    pub fn stream(&self) -> Option<u32> {
        let mut words = self.first_line().split_whitespace();
        words.find(|w| *w == "stream")?;
        words.next()?.parse().ok()
    }

    /// `→` or `←`.
    pub fn arrow(&self) -> &str {
        self.first_line()
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
    }

    /// The frame type (or event name): `HEADERS`, `DATA`, `preface`, …
    pub fn kind(&self) -> &str {
        self.first_line()
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
    }

    /// The same frame as the other side logs it (`client →` ⇄ `server ←`).
    pub fn mirrored(&self) -> Entry {
        let line = self.first_line();
        let swapped = if let Some(rest) = line.strip_prefix("client → ") {
            format!("server ← {rest}")
        } else if let Some(rest) = line.strip_prefix("client ← ") {
            format!("server → {rest}")
        } else if let Some(rest) = line.strip_prefix("server → ") {
            format!("client ← {rest}")
        } else if let Some(rest) = line.strip_prefix("server ← ") {
            format!("client → {rest}")
        } else {
            line.to_owned()
        };
        let mut text = swapped;
        for l in self.0.lines().skip(1) {
            text.push('\n');
            text.push_str(l);
        }
        Entry(text)
    }
}

/// Splits a normalized trace into entries.
pub fn entries(trace: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for line in trace.lines() {
        match out.last_mut() {
            Some(last) if line.starts_with(' ') => {
                last.0.push('\n');
                last.0.push_str(line);
            }
            _ => out.push(Entry(line.to_owned())),
        }
    }
    out
}

/// Joins entries back into trace text.
pub fn join(entries: &[Entry]) -> String {
    entries.iter().map(|e| format!("{}\n", e.0)).collect()
}

/// The part of a trace a block quotes:
/// - `calls`: the frames of streams (no stream 0, no preface);
/// - `setup`: the connection's frames before the first call's first frame;
///   `after-setup`: the rest;
/// - `sent` / `received`: one direction only;
/// - `stream=N`, `kind=HEADERS` (or `kind=PING,GOAWAY`): one stream, some frame types;
/// - `until=GOAWAY`: up to and including the first frame of that type;
/// - `brief`: request heads without the fields every chapter-1 head has.
///
/// Unknown words are an error, so a typo cannot quote the wrong thing.
pub fn view(trace: &str, words: &[&str]) -> Result<Vec<Entry>, String> {
    let mut all = entries(trace);
    for word in words {
        all = match *word {
            "calls" => all
                .into_iter()
                .filter(|e| e.stream().is_some_and(|s| s != 0))
                .collect(),
            "setup" => all
                .into_iter()
                .take_while(|e| e.stream().is_none_or(|s| s == 0))
                .collect(),
            "after-setup" => all
                .into_iter()
                .skip_while(|e| e.stream().is_none_or(|s| s == 0))
                .collect(),
            "sent" => all.into_iter().filter(|e| e.arrow() == "→").collect(),
            "received" => all.into_iter().filter(|e| e.arrow() == "←").collect(),
            "unordered" => all,
            "brief" => all.into_iter().map(|e| brief(&e)).collect(),
            other => match other.split_once('=') {
                Some(("stream", n)) => {
                    let n: u32 = n.parse().map_err(|_| format!("bad view {other:?}"))?;
                    all.into_iter().filter(|e| e.stream() == Some(n)).collect()
                }
                Some(("kind", kinds)) => {
                    let kinds: Vec<&str> = kinds.split(',').collect();
                    all.into_iter()
                        .filter(|e| kinds.contains(&e.kind()))
                        .collect()
                }
                Some(("until", kind)) => match all.iter().position(|e| e.kind() == kind) {
                    Some(at) => all.into_iter().take(at + 1).collect(),
                    None => return Err(format!("no {kind} in the trace for {other:?}")),
                },
                _ => return Err(format!("unknown view {other:?}")),
            },
        };
    }
    Ok(all)
}

/// The request-head fields every call of the reference client sends, as
/// chapter 1 shows them in full; `brief` leaves them out of later chapters.
const USUAL_HEAD: &[&str] = &[
    ":method POST",
    ":scheme http",
    ":authority 127.0.0.1:PORT",
    ":authority 127.0.0.1:50051",
    "te trailers",
    "grpc-timeout 30000000u",
    "content-type application/grpc",
    "grpc-accept-encoding gzip",
    "user-agent grpc-rust-h2grpc/0.1.0",
];

const AS_IN_CHAPTER_1: &str = "… (the rest as in chapter 1)";

/// A request head without [`USUAL_HEAD`]'s fields; other entries unchanged.
fn brief(e: &Entry) -> Entry {
    let first = e.first_line();
    if first.contains("request head") {
        // Frame trace: one field per line under the frame's line.
        let mut text = first.to_owned();
        for line in e.0.lines().skip(1) {
            let field = line.trim_start();
            let usual = USUAL_HEAD.iter().any(|u| {
                field
                    .strip_prefix(u)
                    .is_some_and(|rest| rest.starts_with("  ") || rest.is_empty())
            });
            if !usual {
                text.push('\n');
                text.push_str(line);
            }
        }
        text.push_str(&format!("\n           {AS_IN_CHAPTER_1}"));
        return Entry(text);
    }
    if first.contains(" HEADERS ") && first.contains(":method ") {
        // Message trace: the fields on one line, two spaces apart.
        let (label, fields) = first.split_at(first.find(":method").unwrap_or(first.len()));
        let kept: Vec<&str> = fields
            .split("  ")
            .filter(|f| !USUAL_HEAD.contains(f))
            .collect();
        let mut text = format!("{label}{}  {AS_IN_CHAPTER_1}", kept.join("  "));
        for line in e.0.lines().skip(1) {
            text.push('\n');
            text.push_str(line);
        }
        return Entry(text);
    }
    e.clone()
}

/// The same entries, order aside: for frames whose order depends on when
/// the peer's frames arrive (the ACKs of connection set-up).
pub fn same_entries(a: &[Entry], b: &[Entry]) -> bool {
    let count = |es: &[Entry]| {
        let mut m = BTreeMap::new();
        for e in es {
            *m.entry(e.clone()).or_insert(0) += 1;
        }
        m
    };
    count(a) == count(b)
}

/// A Mermaid sequence diagram of a client's frame trace: one arrow per
/// frame, with its flags and what it carries, so END_STREAM is seen where
/// it falls.
pub fn mermaid(client_frames: &[Entry]) -> String {
    let mut out =
        String::from("sequenceDiagram\n    participant C as client\n    participant S as server\n");
    for e in client_frames {
        let arrow = if e.arrow() == "→" { "C->>S" } else { "S->>C" };
        let mut label = e.kind().to_owned();
        let first = e.first_line();
        let flags: Vec<&str> = ["END_STREAM", "END_HEADERS", "ACK", "PADDED"]
            .into_iter()
            .filter(|f| {
                first
                    .split_whitespace()
                    .any(|w| w.split('|').any(|p| p == *f))
            })
            .collect();
        if !flags.is_empty() {
            label.push_str(&format!(" [{}]", flags.join(", ")));
        }
        if let Some(stream) = e.stream().filter(|s| *s != 0) {
            label.push_str(&format!(" stream {stream}"));
        }
        let role = [
            "request head",
            "response head",
            "Trailers-Only",
            "trailers",
            "response head, ending the stream",
        ]
        .into_iter()
        .find(|r| first.ends_with(r));
        let messages =
            e.0.lines()
                .filter(|l| l.trim_start().starts_with("message "))
                .count();
        match (role, e.kind()) {
            (Some(role), _) => label.push_str(&format!(": {role}")),
            (None, "DATA") if messages > 0 => {
                let s = if messages == 1 { "" } else { "s" };
                label.push_str(&format!(": {messages} message{s}"));
            }
            (None, "RST_STREAM" | "GOAWAY" | "WINDOW_UPDATE") => {
                let what = first.rsplit("  ").next().unwrap_or_default();
                label.push_str(&format!(": {what}"));
            }
            _ => {}
        }
        // Mermaid reads `;` and `#` specially in a message.
        out.push_str(&format!(
            "    {arrow}: {}\n",
            label.replace([';', '#'], ",")
        ));
    }
    out
}

/// Every frame one side sent is what the other received, in the same
/// order, byte for byte as each decoded it: the taps sit on the sockets.
/// The receiver may lack the last frames the sender wrote as the connection
/// closed (a closing GOAWAY or PING, after the peer exited or stopped
/// reading), but only connection frames, and nothing else may differ.
pub fn check_mirror(name: &str, traces: &std::collections::BTreeMap<String, String>) {
    let client = entries(&traces[&format!("{name} client")]);
    let server = entries(&traces[&format!("{name} server")]);
    for (from, to, label) in [
        (&client, &server, "client → server"),
        (&server, &client, "server → client"),
    ] {
        let sent: Vec<Entry> = from
            .iter()
            .filter(|e| e.arrow() == "→")
            .map(Entry::mirrored)
            .collect();
        let got: Vec<Entry> = to.iter().filter(|e| e.arrow() == "←").cloned().collect();
        assert!(
            sent.len() >= 4,
            "{name}: only {} frames {label}",
            sent.len()
        );
        let unread = sent.get(got.len()..).unwrap_or_default();
        assert!(
            sent.starts_with(&got) && unread.iter().all(|e| e.stream() == Some(0)),
            "{name}: the frames {label} differ between the two ends:\nsent {sent:#?}\nreceived {got:#?}"
        );
    }
}
