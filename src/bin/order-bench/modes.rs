//! The four load modes of `order-bench`, one [`Worker`] each, on h2grpc's
//! generated `OrderManagementClient`. They work against any server that
//! implements the OrderManagement contract with the book's sample orders.
//!
//! | mode            | one round                                  | messages counted            |
//! | --------------- | ------------------------------------------ | --------------------------- |
//! | `unary`         | `getOrder("102")`, reply checked in full   | 1 (the reply)               |
//! | `server-stream` | `searchOrders(token)` → K preloaded orders | K (the replies)             |
//! | `client-stream` | `updateOrders` of K preloaded orders       | K (the requests)            |
//! | `bidi`          | `processOrders`: send 102, 103, 104, wait  | 5 (3 ids + 2 shipments)     |
//! |                 | for their 2 shipments (one ping-pong)      |                             |
//!
//! `processOrders` answers only after every third id (the service batches
//! shipments by destination, `BATCH_SIZE` = 3), so one bidi ping-pong is
//! three ids out and the batch's two shipments back, on one long-lived call
//! per worker. Its latency is the time of that exchange.
//!
//! Preloading: the streaming modes first add K orders of about `--order-bytes`
//! through `addOrder`, each carrying a token item such as `<bs:64:1000>` that
//! no other order contains (`searchOrders` matches by substring, and the
//! closing `>` keeps `<bs:64:1000>` from matching `<bs:64:10000>`). Ids and
//! contents are deterministic, so a second run against the same server finds
//! them already there (`ALREADY_EXISTS`) and reuses them.

use std::path::Path;
use std::sync::Arc;

use futures::channel::mpsc;
use h2grpc::client::{Channel, ChannelBuilder};
use h2grpc::{Code, Status, Streaming};
use prost::Message;

use crate::pb::ecommerce::order_management_client::OrderManagementClient;
use crate::pb::ecommerce::{CombinedShipment, Order};
use crate::stats::{Outcome, Worker, code_name};

/// The ids one bidi round sends: one batch of `processOrders`.
const BIDI_IDS: [&str; 3] = ["102", "103", "104"];

/// The sample order 102 (service.rs `with_samples`), which every unary reply must equal.
pub(crate) fn order_102() -> Order {
    Order {
        id: "102".into(),
        items: vec!["Google Pixel 3A".into(), "Mac Book Pro".into()],
        description: "Mac Book Pro".into(),
        price: 1800.0,
        destination: "Mountain View, CA".into(),
    }
}

/// Opens `n` channels (one TCP connection each) to `uri`; with `ca`, over
/// TLS trusting the CAs in that PEM file.
pub(crate) async fn connect(
    uri: &str,
    ca: Option<&Path>,
    n: usize,
) -> Result<Vec<OrderManagementClient>, Status> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut builder = Channel::builder(uri);
        if let Some(ca) = ca {
            builder = with_ca(builder, ca)?;
        }
        clients.push(OrderManagementClient::new(builder.connect().await?));
    }
    Ok(clients)
}

#[cfg(feature = "tls")]
fn with_ca(builder: ChannelBuilder, ca: &Path) -> Result<ChannelBuilder, Status> {
    let tls = h2grpc::transport::ClientTlsConfig::new()
        .ca_file(ca)
        .map_err(|e| Status::invalid_argument(format!("--ca: {e}")))?;
    Ok(builder.tls_config(tls))
}

#[cfg(not(feature = "tls"))]
fn with_ca(_builder: ChannelBuilder, _ca: &Path) -> Result<ChannelBuilder, Status> {
    Err(Status::invalid_argument(
        "--ca needs h2grpc's `tls` feature",
    ))
}

fn failed(status: &Status) -> Outcome {
    Outcome::Failed(code_name(status.code() as i32))
}

/// `getOrder("102")`, checking the whole reply.
pub(crate) struct Unary {
    client: OrderManagementClient,
    expected: Order,
    reply_bytes: u64,
}

impl Unary {
    pub(crate) fn new(client: OrderManagementClient) -> Unary {
        let expected = order_102();
        let reply_bytes = expected.encoded_len() as u64;
        Unary {
            client,
            expected,
            reply_bytes,
        }
    }
}

impl Worker for Unary {
    async fn round(&mut self) -> Outcome {
        match self.client.get_order("102".to_string()).await {
            Ok(reply) if *reply.get_ref() == self.expected => Outcome::Ok {
                messages: 1,
                bytes: self.reply_bytes,
            },
            Ok(_) => Outcome::Failed("MISMATCH"),
            Err(status) => failed(&status),
        }
    }
}

/// `addOrder` of a new order each round (ids unique per worker and run),
/// checking the id the server answers with: the store's write path.
pub(crate) struct Add {
    client: OrderManagementClient,
    order: Order,
    /// This worker's id prefix, and its next sequence number.
    prefix: String,
    next: u64,
}

impl Add {
    pub(crate) fn new(client: OrderManagementClient) -> Add {
        static WORKERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let worker = WORKERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = std::process::id();
        Add {
            client,
            order: order_102(),
            prefix: format!("add-{run}-{worker}-"),
            next: 0,
        }
    }
}

impl Worker for Add {
    async fn round(&mut self) -> Outcome {
        self.next += 1;
        self.order.id = format!("{}{}", self.prefix, self.next);
        match self.client.add_order(self.order.clone()).await {
            Ok(reply) if *reply.get_ref() == self.order.id => Outcome::Ok {
                messages: 1,
                bytes: self.order.id.len() as u64,
            },
            Ok(_) => Outcome::Failed("MISMATCH"),
            Err(status) => failed(&status),
        }
    }
}

/// `searchOrders(token)`, expecting exactly the preloaded set.
pub(crate) struct ServerStream {
    client: OrderManagementClient,
    token: String,
    expected: u64,
}

impl ServerStream {
    pub(crate) fn new(client: OrderManagementClient, set: &Preloaded) -> ServerStream {
        ServerStream {
            client,
            token: set.token.clone(),
            expected: set.orders.len() as u64,
        }
    }
}

impl Worker for ServerStream {
    async fn round(&mut self) -> Outcome {
        let mut found = match self.client.search_orders(self.token.clone()).await {
            Ok(reply) => reply.into_inner(),
            Err(status) => return failed(&status),
        };
        let (mut messages, mut bytes) = (0, 0);
        loop {
            match found.message().await {
                Ok(Some(order)) => {
                    messages += 1;
                    bytes += order.encoded_len() as u64;
                }
                Ok(None) => break,
                Err(status) => return failed(&status),
            }
        }
        if messages == self.expected {
            Outcome::Ok { messages, bytes }
        } else {
            Outcome::Failed("MISMATCH")
        }
    }
}

/// `updateOrders` of the preloaded set, rewriting each order as it is.
pub(crate) struct ClientStream {
    client: OrderManagementClient,
    orders: Arc<Vec<Order>>,
    bytes: u64,
}

impl ClientStream {
    pub(crate) fn new(client: OrderManagementClient, set: &Preloaded) -> ClientStream {
        ClientStream {
            client,
            orders: set.orders.clone(),
            bytes: set.orders.iter().map(|o| o.encoded_len() as u64).sum(),
        }
    }
}

impl Worker for ClientStream {
    async fn round(&mut self) -> Outcome {
        let orders = futures::stream::iter(self.orders.as_ref().clone());
        match self.client.update_orders_stream(orders).await {
            // The service answers "Updated orders: id, id, ...".
            Ok(reply) => {
                let listed = reply
                    .get_ref()
                    .strip_prefix("Updated orders: ")
                    .map_or(0, |ids| ids.split(", ").count());
                if listed == self.orders.len() {
                    Outcome::Ok {
                        messages: listed as u64,
                        bytes: self.bytes,
                    }
                } else {
                    Outcome::Failed("MISMATCH")
                }
            }
            Err(status) => failed(&status),
        }
    }
}

/// One long `processOrders` call; each round is one batch of three ids.
pub(crate) struct Bidi {
    client: OrderManagementClient,
    ids: mpsc::UnboundedSender<String>,
    /// Held until the call opens: our server sends its response head with the
    /// first shipment, so the call can only open after the first batch is sent.
    pending: Option<mpsc::UnboundedReceiver<String>>,
    shipments: Option<Streaming<CombinedShipment>>,
    ids_bytes: u64,
}

impl Bidi {
    pub(crate) fn new(client: OrderManagementClient) -> Bidi {
        let (ids, pending) = mpsc::unbounded();
        Bidi {
            client,
            ids,
            pending: Some(pending),
            shipments: None,
            ids_bytes: BIDI_IDS
                .iter()
                .map(|id| id.to_string().encoded_len() as u64)
                .sum(),
        }
    }

    async fn exchange(&mut self) -> Result<u64, Outcome> {
        for id in BIDI_IDS {
            self.ids
                .unbounded_send(id.to_string())
                .map_err(|_| Outcome::Failed("CANCELLED"))?;
        }
        if let Some(pending) = self.pending.take() {
            let reply = self.client.process_orders_stream(pending).await;
            self.shipments = Some(reply.map_err(|s| failed(&s))?.into_inner());
        }
        let Some(shipments) = self.shipments.as_mut() else {
            return Err(Outcome::Failed("CANCELLED"));
        };
        let mut bytes = 0;
        // The batch 102, 103, 104: Mountain View gets 102 and 104, San Jose 103,
        // in order of each destination's first order.
        let expected: [(&str, &[&str]); 2] = [
            ("cmb - Mountain View, CA", &["102", "104"]),
            ("cmb - San Jose, CA", &["103"]),
        ];
        for (id, orders) in expected {
            let shipment = match shipments.message().await {
                Ok(Some(shipment)) => shipment,
                Ok(None) => return Err(Outcome::Failed("MISMATCH")),
                Err(status) => return Err(failed(&status)),
            };
            let ids = shipment.orders_list.iter().map(|o| o.id.as_str());
            if shipment.id != id || !ids.eq(orders.iter().copied()) {
                return Err(Outcome::Failed("MISMATCH"));
            }
            bytes += shipment.encoded_len() as u64;
        }
        Ok(bytes)
    }
}

impl Worker for Bidi {
    async fn round(&mut self) -> Outcome {
        match self.exchange().await {
            Ok(bytes) => Outcome::Ok {
                messages: (BIDI_IDS.len() + 2) as u64,
                bytes: self.ids_bytes + bytes,
            },
            Err(outcome) => {
                // The call is unusable now; the next round opens a new one.
                let (ids, pending) = mpsc::unbounded();
                self.ids = ids;
                self.pending = Some(pending);
                self.shipments = None;
                outcome
            }
        }
    }
}

/// A set of orders added for a streaming mode, and the token that finds them.
#[derive(Debug)]
pub(crate) struct Preloaded {
    pub(crate) token: String,
    pub(crate) orders: Arc<Vec<Order>>,
}

/// Adds `count` orders of about `bytes` encoded bytes each, tagged `tag`
/// (`s` for search, `u` for update), or finds them already there. With `add`
/// false the set is only built, for a server an earlier run preloaded
/// (`--preloaded`: keeps the `addOrder` calls out of a profiled window).
pub(crate) async fn preload(
    client: &OrderManagementClient,
    tag: char,
    bytes: usize,
    count: usize,
    add: bool,
) -> Result<Preloaded, Status> {
    let token = format!("<b{tag}:{bytes}:{count}>");
    let orders: Vec<Order> = (0..count)
        .map(|i| sized_order(format!("b{tag}{bytes}-{count}-{i:06}"), &token, bytes))
        .collect();
    if add {
        for order in &orders {
            match client.add_order(order.clone()).await {
                Ok(_) => {}
                Err(status) if status.code() == Code::AlreadyExists => {}
                Err(status) => return Err(status),
            }
        }
    }
    Ok(Preloaded {
        token,
        orders: Arc::new(orders),
    })
}

/// An order whose encoding is `bytes` long, or as close as the fixed fields
/// allow: the description is padded to make up the difference.
fn sized_order(id: String, token: &str, bytes: usize) -> Order {
    let mut order = Order {
        id,
        items: vec![token.to_string()],
        description: String::new(),
        price: 1.0,
        destination: String::new(),
    };
    let base = order.encoded_len();
    let mut pad = bytes.saturating_sub(base);
    // A non-empty description costs a tag byte and a varint length too.
    while pad > 0 {
        order.description = "x".repeat(pad);
        if order.encoded_len() <= bytes {
            break;
        }
        pad -= 1;
        order.description.clear();
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_orders_hit_the_target_size() {
        for bytes in [64, 200, 4096] {
            let order = sized_order("bs64-1000-000001".into(), "<bs:64:1000>", bytes);
            assert_eq!(order.encoded_len(), bytes, "target {bytes}");
        }
    }

    #[test]
    fn order_102_encodes_to_the_h2load_reply_size() {
        // benches/compare.sh checks h2load's data bytes against 5 + this length.
        assert_eq!(order_102().encoded_len(), 74);
    }

    /// `--ca` (benches/compare.sh ONLY=tls): `connect` with a CA file speaks
    /// TLS to an order server with a leaf for 127.0.0.1 that CA signed, and a
    /// unary round gets the whole reply; without the CA the same server is
    /// unreachable, so the round really went over TLS.
    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn connect_with_a_ca_file_runs_rounds_over_tls() {
        use h2grpc::server::Server;
        use h2grpc::transport::{ServerTlsConfig, TlsListener};
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use std::time::Duration;

        use crate::pb::ecommerce::order_management_server::OrderManagementServer;
        use crate::service::OrderService;
        use crate::store::MemoryStore;

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca_params.self_signed(&ca_key).expect("CA").pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf");
        let ca_file =
            std::env::temp_dir().join(format!("order-bench-ca-{}.pem", std::process::id()));
        std::fs::write(&ca_file, &ca_pem).expect("write CA file");

        let acceptor =
            ServerTlsConfig::from_pem(leaf.pem().as_bytes(), leaf_key.serialize_pem().as_bytes())
                .expect("server TLS config")
                .build()
                .expect("acceptor");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            Server::builder()
                .add_service(OrderManagementServer::new(OrderService::new(
                    MemoryStore::new(true),
                )))
                .serve_on(TlsListener::new(listener, acceptor), async {
                    let _ = stopped.await;
                }),
        );

        let addr = format!("https://127.0.0.1:{port}");
        let clients =
            tokio::time::timeout(Duration::from_secs(10), connect(&addr, Some(&ca_file), 2))
                .await
                .expect("connect in time")
                .expect("TLS connect with --ca");
        assert_eq!(clients.len(), 2);
        for client in &clients {
            let mut unary = Unary::new(client.clone());
            match unary.round().await {
                Outcome::Ok { messages, bytes } => assert_eq!((messages, bytes), (1, 74)),
                other => panic!("unary round over TLS: {other:?}"),
            }
        }
        // No CA given: the platform store does not trust this CA, so no connection.
        let untrusted =
            tokio::time::timeout(Duration::from_secs(10), connect(&addr, None, 1)).await;
        assert!(
            matches!(untrusted, Ok(Err(_))),
            "a server signed by an unknown CA was trusted"
        );
        let _ = std::fs::remove_file(&ca_file);
        drop(clients);
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    }
}
