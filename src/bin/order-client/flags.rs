//! order-client's flags: the global ones before the subcommand (where to
//! connect, TLS, `:authority`, keepalive) and what every call gets
//! (`--timeout`, `--metadata`, `--token`).

use std::time::Duration;

use h2grpc::{Metadata, Request};

/// Every call gets this deadline unless `--timeout` says otherwise, so a
/// stuck server cannot hang the CLI.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags before the subcommand.
pub(crate) struct Global {
    pub(crate) addr: String,
    /// `--ca`: PEM CAs to trust instead of the platform's store.
    pub(crate) ca: Option<String>,
    /// `--cert` and `--key`: a client certificate for mTLS.
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    /// `--server-name`: the name the server's certificate must carry.
    pub(crate) server_name: Option<String>,
    /// `--authority`: the `:authority` to send instead of the address's.
    pub(crate) authority: Option<String>,
    /// `--timeout` and `--metadata`.
    pub(crate) call: CallSettings,
    /// `--keepalive`: PING the server this often.
    pub(crate) keepalive: Option<Duration>,
    /// `--token`: sent as `authorization: Bearer TOKEN` on every call, by a
    /// client interceptor (`h2grpc::intercept::BearerCredentials`).
    pub(crate) token: Option<String>,
}

impl Global {
    pub(crate) fn wants_tls(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.server_name.is_some()
    }
}

/// Takes the global flags off the front of `args`.
pub(crate) fn parse_global(args: &mut Vec<String>) -> Result<Global, String> {
    let mut global = Global {
        addr: "127.0.0.1:50051".to_string(),
        ca: None,
        cert: None,
        key: None,
        server_name: None,
        authority: None,
        call: CallSettings {
            timeout: Some(CALL_TIMEOUT),
            metadata: Metadata::new(),
        },
        keepalive: None,
        token: None,
    };
    while let Some(flag) = args.first() {
        if let (Some("--timeout" | "--metadata" | "--keepalive"), Some(value)) =
            (args.first().map(String::as_str), args.get(1))
        {
            match args[0].as_str() {
                "--timeout" => global.call.timeout = parse_timeout(value)?,
                "--keepalive" => {
                    global.keepalive = parse_timeout(value)?;
                }
                _ => add_metadata(&mut global.call.metadata, value)?,
            }
            args.drain(..2);
            continue;
        }
        let slot = match flag.as_str() {
            "--addr" => None,
            "--ca" => Some(&mut global.ca),
            "--cert" => Some(&mut global.cert),
            "--key" => Some(&mut global.key),
            "--server-name" => Some(&mut global.server_name),
            "--authority" => Some(&mut global.authority),
            "--token" => Some(&mut global.token),
            _ => break,
        };
        if args.len() < 2 {
            return Err(format!("{flag} needs a value"));
        }
        let value = args.remove(1);
        args.remove(0);
        match slot {
            Some(slot) => *slot = Some(value),
            None => global.addr = value,
        }
    }
    if global.cert.is_some() != global.key.is_some() {
        return Err("--cert and --key go together".into());
    }
    Ok(global)
}

/// The channel's URI: `http://` for a bare `HOST:PORT`, or `https://`
/// when a TLS flag was given.
pub(crate) fn target_uri(global: &Global) -> Result<String, String> {
    let addr = &global.addr;
    if addr.starts_with("unix:") || addr.starts_with("https://") {
        return Ok(addr.clone());
    }
    if global.wants_tls() {
        if addr.contains("://") {
            return Err(format!(
                "--ca, --cert and --server-name need an https:// address, not {addr:?}"
            ));
        }
        return Ok(format!("https://{addr}"));
    }
    if addr.contains("://") {
        Ok(addr.clone())
    } else {
        Ok(format!("http://{addr}"))
    }
}

/// The TLS settings the flags ask for: `None` leaves an `https://` address
/// to the library's default (the platform's CAs, the address's host).
#[cfg(feature = "tls")]
pub(crate) fn tls_config(
    global: &Global,
) -> Result<Option<h2grpc::transport::ClientTlsConfig>, String> {
    use h2grpc::transport::ClientTlsConfig;
    if !global.wants_tls() {
        return Ok(None);
    }
    let mut tls = match &global.ca {
        Some(ca) => ClientTlsConfig::new().ca_file(ca),
        None => ClientTlsConfig::new().native_roots(),
    }
    .map_err(|e| format!("TLS: {e}"))?;
    if let (Some(cert), Some(key)) = (&global.cert, &global.key) {
        tls = tls
            .identity_files(cert, key)
            .map_err(|e| format!("TLS: {e}"))?;
    }
    if let Some(name) = &global.server_name {
        tls = tls.server_name(name.clone());
    }
    Ok(Some(tls))
}

/// What every call gets: `--timeout` (default [`CALL_TIMEOUT`]; `none`: no
/// deadline, so no `grpc-timeout`) and the `--metadata` pairs.
#[derive(Debug, Default)]
pub(crate) struct CallSettings {
    pub(crate) timeout: Option<Duration>,
    pub(crate) metadata: Metadata,
}

pub(crate) static CALL_SETTINGS: std::sync::OnceLock<CallSettings> = std::sync::OnceLock::new();

pub(crate) fn timed<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    match CALL_SETTINGS.get() {
        Some(settings) => {
            if let Some(timeout) = settings.timeout {
                request.set_timeout(timeout);
            }
            *request.metadata_mut() = settings.metadata.clone();
        }
        None => request.set_timeout(CALL_TIMEOUT),
    }
    request
}

/// `250ms`, `2s`, or `none`.
pub(crate) fn parse_timeout(value: &str) -> Result<Option<Duration>, String> {
    let bad = || format!("bad --timeout {value:?} (want e.g. 250ms, 2s or none)");
    if value == "none" {
        return Ok(None);
    }
    let (digits, unit) = match value.strip_suffix("ms") {
        Some(ms) => (ms, 1),
        None => (value.strip_suffix('s').ok_or_else(bad)?, 1000),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    Ok(Some(Duration::from_millis(n * unit)))
}

/// `KEY=VALUE` into `metadata`: a `-bin` key takes VALUE's bytes (they go
/// out base64-encoded), any other key an ASCII value.
pub(crate) fn add_metadata(metadata: &mut Metadata, pair: &str) -> Result<(), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("--metadata {pair:?}: want KEY=VALUE"))?;
    let added = if key.ends_with("-bin") {
        metadata.append_bin(key, value.as_bytes())
    } else {
        metadata.append(key, value)
    };
    added.map_err(|e| format!("--metadata {pair:?}: {e}"))
}
