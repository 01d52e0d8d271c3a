//! TLS for both sides (rustls, ring provider), as an upgrade of any transport.
//!
//! Layer: I/O. gRPC over TLS is plain HTTP/2 over TLS: RFC 9113 §3.2 ("h2"
//! is the ALPN token) and §9.2 (TLS 1.2 or later). So ALPN `h2` is offered
//! and required on both sides: a peer that does not negotiate it is refused
//! with an error that says so, instead of HTTP/2 bytes reaching a peer that
//! expects something else.
//!
//! ```text
//!  server  TlsListener(inner listener) ─ accept ─▶ establish: inner.establish, then the
//!          handshake, on the connection's own task under the handshake timeout
//!          ─▶ Peer + the client's verified certificates (mTLS)
//!  client  TlsConnector(inner connector) ─ connect ─▶ handshake (SNI: the target's host
//!          or an override) ─▶ ALPN checked ─▶ h2
//! ```

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme, sign};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connect::{BoxedIo, ConnectFuture, Connector};
use super::listen::{Connecting, Listener};
use super::{Peer, Target};

/// The ALPN protocol id of HTTP/2 over TLS (RFC 9113 §3.2).
const ALPN_H2: &[u8] = b"h2";

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn read_file(path: &Path, what: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })
}

/// Every certificate in a PEM bundle; none is an error.
fn certs_from_pem(pem: &[u8], what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("bad PEM in {what}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(format!("no certificate in {what}")));
    }
    Ok(certs)
}

fn key_from_pem(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| invalid(format!("no usable private key: {e}")))
}

fn roots_from_pem(pem: &[u8], what: &str) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(pem, what)? {
        roots
            .add(cert)
            .map_err(|e| invalid(format!("bad certificate in {what}: {e}")))?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ─────────────────────────────────────────────────────────── server

/// A server's TLS settings: its certificate chain and key, and whether
/// clients must present a certificate (mTLS).
#[derive(Debug)]
pub struct ServerTlsConfig {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<(RootCertStore, bool)>,
}

impl ServerTlsConfig {
    /// From a PEM certificate chain (leaf first) and a PEM private key.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<ServerTlsConfig> {
        Ok(ServerTlsConfig {
            certs: certs_from_pem(cert_chain, "the certificate chain")?,
            key: key_from_pem(key)?,
            client_ca: None,
        })
    }

    /// [`ServerTlsConfig::from_pem`] from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<ServerTlsConfig> {
        let chain = read_file(cert_chain.as_ref(), "certificate chain")?;
        let key = read_file(key.as_ref(), "private key")?;
        ServerTlsConfig::from_pem(&chain, &key)
    }

    /// Verifies client certificates against the CAs in `ca_pem`; with
    /// `required`, a client without one is refused in the handshake.
    pub fn client_ca_pem(mut self, ca_pem: &[u8], required: bool) -> io::Result<ServerTlsConfig> {
        self.client_ca = Some((roots_from_pem(ca_pem, "the client CA bundle")?, required));
        Ok(self)
    }

    /// [`client_ca_pem`](Self::client_ca_pem) from a file.
    pub fn client_ca_file(
        self,
        path: impl AsRef<Path>,
        required: bool,
    ) -> io::Result<ServerTlsConfig> {
        let pem = read_file(path.as_ref(), "client CA bundle")?;
        self.client_ca_pem(&pem, required)
    }

    /// The acceptor for [`TlsListener`].
    pub fn build(self) -> io::Result<TlsAcceptor> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let builder = match self.client_ca {
            None => builder.with_no_client_auth(),
            Some((roots, required)) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                builder.with_client_cert_verifier(verifier.build().map_err(invalid)?)
            }
        };
        let mut config = builder
            .with_single_cert(self.certs, self.key)
            .map_err(|e| invalid(format!("the certificate and key do not match: {e}")))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(TlsAcceptor(tokio_rustls::TlsAcceptor::from(Arc::new(
            config,
        ))))
    }
}

/// Runs the server side of TLS handshakes.
#[derive(Clone)]
pub struct TlsAcceptor(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

/// Any listener, with TLS on each of its connections.
#[derive(Debug)]
pub struct TlsListener<L> {
    inner: L,
    acceptor: TlsAcceptor,
}

impl<L: Listener> TlsListener<L> {
    /// TLS over `inner`'s connections.
    pub fn new(inner: L, acceptor: TlsAcceptor) -> TlsListener<L> {
        TlsListener { inner, acceptor }
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Conn = TlsConnecting<L::Conn>;
    async fn accept(&mut self) -> io::Result<(Self::Conn, Peer)> {
        let (inner, peer) = self.inner.accept().await?;
        let acceptor = self.acceptor.clone();
        Ok((TlsConnecting { inner, acceptor }, peer))
    }
}

/// A connection whose TLS handshake has yet to run.
#[derive(Debug)]
pub struct TlsConnecting<C> {
    inner: C,
    acceptor: TlsAcceptor,
}

impl<C: Connecting> Connecting for TlsConnecting<C> {
    type Io = tokio_rustls::server::TlsStream<C::Io>;
    async fn establish(self, peer: Peer) -> io::Result<(Self::Io, Peer)> {
        let (io, peer) = self.inner.establish(peer).await?;
        let tls = self
            .acceptor
            .0
            .accept(io)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake failed: {e}")))?;
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(ALPN_H2) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS client did not negotiate ALPN h2 (gRPC needs HTTP/2)",
            ));
        }
        let certs = session
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        Ok((tls, peer.with_tls_certs(certs)))
    }
}

// ─────────────────────────────────────────────────────────── client

/// A client's TLS settings: which CAs to trust, a client certificate for
/// mTLS, and the name to check the server's certificate against.
#[derive(Clone, Debug)]
pub struct ClientTlsConfig {
    roots: RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    server_name: Option<String>,
}

impl Default for ClientTlsConfig {
    fn default() -> Self {
        ClientTlsConfig::new()
    }
}

impl ClientTlsConfig {
    /// Trusts nothing yet: add roots with [`ca_pem`](Self::ca_pem) or
    /// [`native_roots`](Self::native_roots).
    pub fn new() -> ClientTlsConfig {
        ClientTlsConfig {
            roots: RootCertStore::empty(),
            identity: None,
            server_name: None,
        }
    }

    /// Trusts the CAs in a PEM bundle.
    pub fn ca_pem(mut self, pem: &[u8]) -> io::Result<ClientTlsConfig> {
        let roots = roots_from_pem(pem, "the CA bundle")?;
        self.roots.extend(roots.roots);
        Ok(self)
    }

    /// [`ca_pem`](Self::ca_pem) from a file.
    pub fn ca_file(self, path: impl AsRef<Path>) -> io::Result<ClientTlsConfig> {
        let pem = read_file(path.as_ref(), "CA bundle")?;
        self.ca_pem(&pem)
    }

    /// Trusts the platform's CA store (`rustls-native-certs`).
    pub fn native_roots(mut self) -> io::Result<ClientTlsConfig> {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            let why = found
                .errors
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            return Err(invalid(format!(
                "no CA certificates in the platform store {why}"
            )));
        }
        let (_added, _ignored) = self.roots.add_parsable_certificates(found.certs);
        Ok(self)
    }

    /// Presents this certificate chain and key when the server asks (mTLS).
    pub fn identity_pem(mut self, cert_chain: &[u8], key: &[u8]) -> io::Result<ClientTlsConfig> {
        let certs = certs_from_pem(cert_chain, "the client certificate chain")?;
        self.identity = Some((certs, Arc::new(key_from_pem(key)?)));
        Ok(self)
    }

    /// [`identity_pem`](Self::identity_pem) from files.
    pub fn identity_files(
        self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<ClientTlsConfig> {
        let chain = read_file(cert_chain.as_ref(), "client certificate chain")?;
        let key = read_file(key.as_ref(), "client private key")?;
        self.identity_pem(&chain, &key)
    }

    /// Checks the server's certificate against `name` instead of the
    /// target's host (the interop clients' `--server_host_override`).
    pub fn server_name(mut self, name: impl Into<String>) -> ClientTlsConfig {
        self.server_name = Some(name.into());
        self
    }

    /// Wraps `inner`: each connection it opens to `target` gets TLS.
    pub(crate) fn connector(
        self,
        inner: Arc<dyn Connector>,
        target: &Target,
    ) -> io::Result<TlsConnector> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => match target {
                Target::Tcp(authority) | Target::TcpTls(authority) => authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                Target::Unix(_) => "localhost".to_owned(),
            },
        };
        let server_name = ServerName::try_from(name.clone())
            .map_err(|e| invalid(format!("bad server name {name:?}: {e}")))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_root_certificates(self.roots);
        let no_cert = self.identity.is_none().then(Arc::<NoClientCert>::default);
        let mut config = match self.identity {
            None => builder.with_client_cert_resolver(no_cert.clone().unwrap_or_default()),
            Some((certs, key)) => builder
                .with_client_auth_cert(certs, key.clone_key())
                .map_err(|e| {
                    invalid(format!("the client certificate and key do not match: {e}"))
                })?,
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(TlsConnector {
            inner,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
            no_cert,
        })
    }
}

/// A connector with TLS on each connection of an inner connector.
pub struct TlsConnector {
    inner: Arc<dyn Connector>,
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    /// Without a client identity: whether the server asked for one.
    no_cert: Option<Arc<NoClientCert>>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Connector for TlsConnector {
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a> {
        Box::pin(async move {
            let io = self.inner.connect(target).await?;
            if let Some(no_cert) = &self.no_cert {
                no_cert.asked.store(false, Ordering::Relaxed);
            }
            let tls = self
                .tls
                .connect(self.server_name.clone(), io)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake failed: {e}")))?;
            if tls.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS server did not negotiate ALPN h2 (gRPC needs HTTP/2)",
                ));
            }
            // (A channel dials one connection at a time, so the flag is this one's.)
            if self
                .no_cert
                .as_ref()
                .is_some_and(|n| n.asked.load(Ordering::Relaxed))
            {
                return Ok(Box::new(AskedForCert {
                    inner: tls,
                    heard: false,
                }) as BoxedIo);
            }
            Ok(Box::new(tls) as BoxedIo)
        })
    }
}

/// The client's certificate resolver when it has no identity: it answers a
/// server's CertificateRequest with no certificate and notes that it was
/// asked. Under TLS 1.3 the client's side of the handshake is over before
/// the server checks the client's certificate, so a server that requires
/// one refuses afterwards, and not every server sends an alert first
/// (Node's TLS closes the socket): without this note the client would
/// only see "peer closed connection without sending TLS close_notify".
#[derive(Debug, Default)]
struct NoClientCert {
    asked: AtomicBool,
}

impl ResolvesClientCert for NoClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<sign::CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// A connection to a server that asked for a client certificate this client
/// does not have: until the server's first bytes arrive, an abrupt close
/// is reported as the refusal it almost surely is.
struct AskedForCert<T> {
    inner: T,
    /// The server has sent something: it accepted us.
    heard: bool,
}

impl<T: AsyncRead + Unpin> AsyncRead for AskedForCert<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.heard = true,
            Poll::Ready(Err(e)) if !self.heard && e.kind() == io::ErrorKind::UnexpectedEof => {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!(
                        "the server asked for a client certificate and this client has none \
                         (mTLS: ClientTlsConfig::identity_pem); it then closed the connection ({e})"
                    ),
                )));
            }
            _ => {}
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AskedForCert<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
