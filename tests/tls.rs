//! TLS and mTLS (issue 16): our client and our server over rustls, with
//! certificates made at test time; the errors a user meets; ALPN h2; a
//! handshake that never finishes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use h2grpc::Code;
use h2grpc::client::Channel;
use h2grpc::server::{Builder, Server};
use h2grpc::transport::{ClientTlsConfig, ServerTlsConfig, TlsListener};
use support::certs::{Ca, Leaf};
use support::echo::EchoService;
use support::echo::pb::EchoRequest;
use support::echo::pb::echo_client::EchoClient;
use support::echo::pb::echo_server::EchoServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

struct TlsServer {
    port: u16,
    _stop: oneshot::Sender<()>,
}

/// The echo service over TLS on 127.0.0.1:0 with `leaf`; `client_ca`: mTLS.
async fn tls_server(
    leaf: &Leaf,
    client_ca: Option<(&str, bool)>,
    configure: impl FnOnce(Builder) -> Builder,
) -> TlsServer {
    let mut config = ServerTlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
        .expect("server TLS config");
    if let Some((ca, required)) = client_ca {
        config = config
            .client_ca_pem(ca.as_bytes(), required)
            .expect("client CA");
    }
    let acceptor = config.build().expect("acceptor");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = oneshot::channel::<()>();
    let builder = configure(Server::builder().add_service(EchoServer::new(EchoService::default())));
    tokio::spawn(
        builder.serve_on(TlsListener::new(listener, acceptor), async {
            let _ = stopped.await;
        }),
    );
    TlsServer { port, _stop: stop }
}

fn trusting(ca: &Ca) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_pem(ca.pem.as_bytes())
        .expect("CA")
}

async fn connect(uri: &str, tls: ClientTlsConfig) -> Result<EchoClient, h2grpc::Status> {
    let channel = Channel::builder(uri)
        .tls_config(tls)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    Ok(EchoClient::new(channel))
}

/// One unary call and one bidi round trip work.
async fn served(client: &EchoClient) {
    let reply = client.unary(req("over tls")).await.expect("unary");
    assert_eq!(reply.get_ref().message, "over tls");
    let mut call = client.bidi(()).await.expect("bidi");
    call.send(&req("ping")).await.expect("send");
    assert_eq!(
        call.recv().await.expect("recv").expect("reply").message,
        "ping"
    );
    call.close_send().await.expect("close");
    assert!(call.recv().await.expect("end").is_none());
}

#[tokio::test]
async fn https_by_ip_and_by_name() {
    let ca = Ca::new("h2grpc test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"], "server");
    let server = tls_server(&leaf, None, |b| b).await;
    for host in ["127.0.0.1", "localhost"] {
        let client = connect(&format!("https://{host}:{}", server.port), trusting(&ca))
            .await
            .expect("connect");
        served(&client).await;
        // Without mTLS the handler sees TLS, but no client certificate.
        let reply = client.unary(req("x")).await.expect("unary");
        assert!(reply.metadata().get_bin("x-peer-cert-bin").is_none());
    }
}

#[tokio::test]
async fn tls_on_connection_threads() {
    let ca = Ca::new("h2grpc test CA");
    let leaf = ca.leaf(&["127.0.0.1"], "server");
    let server = tls_server(&leaf, None, |b| b.connection_threads(2)).await;
    for _ in 0..3 {
        let client = connect(&format!("https://127.0.0.1:{}", server.port), trusting(&ca))
            .await
            .expect("connect");
        served(&client).await;
    }
}

/// The call fails UNAVAILABLE naming the TLS cause, and the server keeps serving.
async fn refused(server: &TlsServer, tls: ClientTlsConfig, cause: &str, good: ClientTlsConfig) {
    let uri = format!("https://127.0.0.1:{}", server.port);
    let status = connect(&uri, tls).await.expect_err("must be refused");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(cause),
        "expected {cause:?} in {:?}",
        status.message()
    );
    let client = connect(&uri, good)
        .await
        .expect("a good client is still served");
    served(&client).await;
}

#[tokio::test]
async fn an_unknown_ca_is_refused_by_name() {
    let ca = Ca::new("h2grpc test CA");
    let other = Ca::new("someone else's CA");
    let server = tls_server(&ca.leaf(&["127.0.0.1"], "server"), None, |b| b).await;
    refused(&server, trusting(&other), "UnknownIssuer", trusting(&ca)).await;
}

#[tokio::test]
async fn a_wrong_host_name_is_refused_and_an_override_fixes_it() {
    let ca = Ca::new("h2grpc test CA");
    let server = tls_server(&ca.leaf(&["foo.test.google.fr"], "server"), None, |b| b).await;
    let good = trusting(&ca).server_name("foo.test.google.fr");
    refused(
        &server,
        trusting(&ca),
        "certificate not valid for name",
        good,
    )
    .await;
}

#[tokio::test]
async fn an_expired_certificate_is_refused_by_name() {
    let ca = Ca::new("h2grpc test CA");
    let expired = tls_server(&ca.expired_leaf(&["127.0.0.1"]), None, |b| b).await;
    let uri = format!("https://127.0.0.1:{}", expired.port);
    let status = connect(&uri, trusting(&ca)).await.expect_err("expired");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("certificate expired"),
        "{status:?}"
    );
}

#[tokio::test]
async fn mtls_refuses_no_certificate_and_a_foreign_one_and_shows_the_right_one() {
    let ca = Ca::new("h2grpc test CA");
    let clients = Ca::new("h2grpc client CA");
    let intruders = Ca::new("intruder CA");
    let server_leaf = ca.leaf(&["127.0.0.1"], "server");
    let server = tls_server(&server_leaf, Some((&clients.pem, true)), |b| b).await;
    let uri = format!("https://127.0.0.1:{}", server.port);
    let alice = clients.leaf(&["alice.example"], "h2grpc-test-alice");
    let with = |leaf: &Leaf| {
        trusting(&ca)
            .identity_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
            .expect("identity")
    };
    // No certificate: refused in the handshake.
    let status = connect(&uri, trusting(&ca))
        .await
        .expect_err("no client certificate");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("CertificateRequired"),
        "{status:?}"
    );
    // One from another CA: refused.
    let mallory = intruders.leaf(&["mallory.example"], "mallory");
    let status = connect(&uri, with(&mallory))
        .await
        .expect_err("foreign certificate");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // The right one: served, and the handler sees exactly it.
    let client = connect(&uri, with(&alice)).await.expect("alice is served");
    served(&client).await;
    let reply = client.unary(req("who am i")).await.expect("unary");
    let seen = reply
        .metadata()
        .get_bin("x-peer-cert-bin")
        .expect("the handler saw a certificate")
        .expect("valid base64");
    assert_eq!(seen.as_ref(), alice.der.as_slice());
    let subject = b"h2grpc-test-alice";
    assert!(
        seen.windows(subject.len()).any(|w| w == subject),
        "the subject's common name is in the certificate the handler saw"
    );
}

#[tokio::test]
async fn optional_client_auth_serves_both() {
    let ca = Ca::new("h2grpc test CA");
    let clients = Ca::new("h2grpc client CA");
    let server = tls_server(
        &ca.leaf(&["127.0.0.1"], "server"),
        Some((&clients.pem, false)),
        |b| b,
    )
    .await;
    let uri = format!("https://127.0.0.1:{}", server.port);
    let anonymous = connect(&uri, trusting(&ca))
        .await
        .expect("no certificate is fine");
    served(&anonymous).await;
    let bob = clients.leaf(&["bob.example"], "bob");
    let identified = trusting(&ca)
        .identity_pem(bob.cert_pem.as_bytes(), bob.key_pem.as_bytes())
        .expect("identity");
    let client = connect(&uri, identified).await.expect("bob is served");
    let reply = client.unary(req("x")).await.expect("unary");
    assert_eq!(
        reply
            .metadata()
            .get_bin("x-peer-cert-bin")
            .expect("cert")
            .expect("b64")
            .as_ref(),
        bob.der.as_slice()
    );
}

/// A raw rustls client offering `alpn` (or none).
async fn raw_tls_client(
    port: u16,
    ca: &Ca,
    alpn: Vec<Vec<u8>>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(ca.pem.as_bytes()).expect("pem");
    roots.add(der).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, socket)
        .await
}

#[tokio::test]
async fn a_client_that_does_not_negotiate_h2_is_refused() {
    let ca = Ca::new("h2grpc test CA");
    let server = tls_server(&ca.leaf(&["127.0.0.1"], "server"), None, |b| b).await;
    // Offering only http/1.1: the server's rustls refuses the handshake.
    let http1 = raw_tls_client(server.port, &ca, vec![b"http/1.1".to_vec()]).await;
    let error = http1.expect_err("no common protocol");
    assert!(
        error.to_string().contains("NoApplicationProtocol"),
        "{error}"
    );
    // Offering no ALPN at all: the handshake completes, then the server
    // closes without a byte of HTTP/2.
    let mut none = raw_tls_client(server.port, &ca, vec![])
        .await
        .expect("handshake without ALPN");
    let _ = none.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), none.read(&mut buf))
        .await
        .expect("the server closes promptly");
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_cut_and_holds_up_no_one() {
    let ca = Ca::new("h2grpc test CA");
    let server = tls_server(&ca.leaf(&["127.0.0.1"], "server"), None, |b| {
        b.handshake_timeout(Duration::from_millis(300))
    })
    .await;
    // A peer that connects and says nothing.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    // Meanwhile a good client is served: handshakes run off the accept loop.
    let client = connect(&format!("https://127.0.0.1:{}", server.port), trusting(&ca))
        .await
        .expect("connect");
    served(&client).await;
    let mut buf = [0u8; 16];
    let started = std::time::Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("the silent peer is dropped");
    assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
