//! `order-client`: drives the OrderManagement service, one RPC per subcommand.
//!
//! ```text
//! order-client [--addr HOST:PORT | https://HOST:PORT | unix:PATH]
//!              [--ca FILE] [--cert FILE --key FILE] [--server-name NAME]
//!                                 get ID
//!                                 add --id ID --item ITEM... --description D --price P --destination DEST
//!                                 search QUERY
//!                                 update [--id ... same flags as add]   (else JSON lines on stdin)
//!                                 process [--cancel-after-first | --ping-pong] ID...
//!                                 demo
//!                                 health [SERVICE] | watch [--updates N] SERVICE | reflect SYMBOL
//! ```
//! `health`, `watch` and `reflect` call the standard services (probe.rs).
//! `--token TOKEN` sends `authorization: Bearer TOKEN` on every call.
//! TLS: an `https://` address, or any address with `--ca` (a bare
//! `HOST:PORT` then means `https://HOST:PORT`; `unix:PATH` runs TLS over the
//! socket). `--ca FILE` trusts the CAs in FILE (PEM) instead of the
//! platform's store; `--cert`/`--key` present a client certificate (mTLS);
//! `--server-name` checks the server's certificate against NAME instead of
//! the address's host. `--authority NAME` sends `:authority NAME` instead of
//! the address (the TLS name stays the address's host unless `--server-name`
//! says otherwise). `--timeout 250ms|2s|none` sets every call's deadline
//! (default 30 s; `none` sends no `grpc-timeout`), `--metadata KEY=VALUE`
//! (repeatable) adds request metadata, a `-bin` KEY's VALUE sent as bytes.
//! `--keepalive 200ms` PINGs the server that often (`ChannelBuilder::keepalive_interval`).
//! The global flags come before the subcommand.
//!
//! Orders and shipments print as one JSON object per line. A failed call
//! prints `error: CODE: message` to stderr and exits 1. `--trace` (or
//! `H2GRPC_TRACE=1`) prints the message trace to stderr, `--trace=frames`
//! every HTTP/2 frame as it crossed the socket, `--trace=all` both.

mod flags;
#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/pb.rs"]
mod pb;
mod probe;

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use h2grpc::Status;
use h2grpc::client::Channel;
use h2grpc::compression::Encoding;
use serde_json::{Value, json};

#[cfg(feature = "tls")]
use flags::tls_config;
use flags::{CALL_SETTINGS, Global, parse_global, target_uri, timed};
use pb::ecommerce::order_management_client::OrderManagementClient;
use pb::ecommerce::{CombinedShipment, Order};

const USAGE: &str = "usage: order-client [--addr HOST:PORT|https://HOST:PORT|unix:PATH] [--ca FILE] [--cert FILE --key FILE] [--server-name NAME] [--authority NAME] [--timeout 250ms|2s|none] [--metadata KEY=VALUE]... [--keepalive 200ms] [--token TOKEN] [--trace[=frames|all]] [--gzip] (get ID | add ORDER-FLAGS | search QUERY | update [ORDER-FLAGS] | process [--cancel-after-first|--ping-pong] ID... | demo | health [SERVICE] | watch [--updates N] SERVICE | reflect SYMBOL)
ORDER-FLAGS: --id ID --item ITEM [--item ITEM]... --description TEXT --price N --destination TEXT";

/// What went wrong: a usage error (exit 2), a bad setting such as an
/// unreadable certificate (exit 2), or a failed call (exit 1).
enum Failure {
    Usage(String),
    Setup(String),
    Call(Status),
}

impl From<Status> for Failure {
    fn from(status: Status) -> Failure {
        Failure::Call(status)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let trace = logging::trace_requested(&mut args);
    let gzip = match args.iter().position(|a| a == "--gzip") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    logging::init("warn", trace);
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut global = match parse_global(&mut args) {
        Ok(global) => global,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let _ = CALL_SETTINGS.set(std::mem::take(&mut global.call));
    match run(&global, &args, gzip).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("{message}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Setup(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Call(status)) => {
            eprintln!("error: {}: {}", status.code().as_str(), status.message());
            ExitCode::FAILURE
        }
    }
}

async fn run(global: &Global, args: &[String], gzip: bool) -> Result<(), Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Failure::Usage("missing subcommand".into()));
    };
    // `http://host:port`, `https://host:port`, `unix:path`, or a bare `host:port`.
    let uri = target_uri(global).map_err(Failure::Usage)?;
    let mut channel = Channel::builder(&uri);
    #[cfg(feature = "tls")]
    if let Some(tls) = tls_config(global).map_err(Failure::Setup)? {
        channel = channel.tls_config(tls);
    }
    #[cfg(not(feature = "tls"))]
    if global.wants_tls() {
        return Err(Failure::Setup(
            "order-client was built without the `tls` feature".into(),
        ));
    }
    if let Some(authority) = &global.authority {
        channel = channel.authority(authority)?;
    }
    if let Some(token) = &global.token {
        channel = channel.interceptor(h2grpc::intercept::BearerCredentials::new(token));
    }
    if let Some(interval) = global.keepalive {
        channel = channel.keepalive_interval(interval);
    }
    if gzip {
        // Every request message goes out gzip-compressed (grpc-encoding: gzip).
        channel = channel.send_compression(Encoding::Gzip);
    }
    let client = OrderManagementClient::new(channel.connect().await?);
    match command.as_str() {
        "get" => {
            let [id] = rest else {
                return Err(Failure::Usage("get takes one ID".into()));
            };
            let order = client.get_order(timed(id.clone())).await?.into_inner();
            println!("{}", order_json(&order));
        }
        "add" => {
            let order = order_from_flags(rest)?;
            let id = client.add_order(timed(order)).await?.into_inner();
            println!("added {id}");
        }
        "search" => {
            let [query] = rest else {
                return Err(Failure::Usage("search takes one QUERY".into()));
            };
            let mut found = client
                .search_orders(timed(query.clone()))
                .await?
                .into_inner();
            while let Some(order) = found.message().await? {
                println!("{}", order_json(&order));
            }
        }
        "update" => {
            let orders = if rest.is_empty() {
                orders_from_stdin()?
            } else {
                vec![order_from_flags(rest)?]
            };
            // As the book's client: Send each order, then CloseAndRecv.
            let mut call = client.update_orders(timed(())).await?;
            for order in &orders {
                call.send(order).await?;
            }
            let reply = call.close_and_recv().await?.into_inner();
            println!("updated: {reply}");
        }
        "process" => {
            if rest.is_empty() {
                return Err(Failure::Usage("process takes at least one ID".into()));
            }
            // `--cancel-after-first`: keep sending open, and walk away after the
            // first shipment (the call is cancelled: RST_STREAM CANCEL).
            let (cancel, ids) = match rest.split_first() {
                Some((flag, ids)) if flag == "--cancel-after-first" => (true, ids.to_vec()),
                Some((flag, ids)) if flag == "--ping-pong" => {
                    return ping_pong(&client, ids).await;
                }
                _ => (false, rest.to_vec()),
            };
            // Send the ids, CloseSend (unless cancelling), then Recv until the end.
            let mut call = client.process_orders(timed(())).await?;
            for id in &ids {
                call.feed(id).await?;
            }
            if !cancel {
                call.close_send().await?;
            }
            while let Some(shipment) = call.recv().await? {
                println!("{}", shipment_json(&shipment));
                if cancel {
                    drop(call);
                    // Give h2 a moment to put the RST_STREAM on the wire before exit.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    println!("cancelled after the first shipment");
                    break;
                }
            }
        }
        "demo" => demo(&client).await?,
        "health" | "watch" | "reflect" => probe::run(client.channel(), command, rest)
            .await
            .map_err(|e| match e {
                probe::Error::Usage(message) => Failure::Usage(message),
                probe::Error::Call(status) => Failure::Call(status),
            })?,
        other => return Err(Failure::Usage(format!("unknown subcommand {other:?}"))),
    }
    Ok(())
}

/// `process --ping-pong ID...`: one id at a time, each sent only after the
/// shipment for the one before has arrived (a server with `--batch-size 1`
/// answers every id; with more, the first wait lasts until the deadline).
async fn ping_pong(client: &OrderManagementClient, ids: &[String]) -> Result<(), Failure> {
    if ids.is_empty() {
        return Err(Failure::Usage(
            "process --ping-pong takes at least one ID".into(),
        ));
    }
    let mut call = client.process_orders(timed(())).await?;
    // Our server sends its head as soon as the handler reads; waiting for it
    // makes each turn of the trace the same every run.
    call.head().await?;
    for id in ids {
        call.send(id).await?; // flushed: it leaves now, in a DATA frame of its own
        match call.recv().await? {
            Some(shipment) => println!("{}", shipment_json(&shipment)),
            None => return Err(Status::internal(format!("no shipment for {id}")).into()),
        }
    }
    call.close_send().await?; // an empty DATA frame with END_STREAM
    while let Some(shipment) = call.recv().await? {
        println!("{}", shipment_json(&shipment));
    }
    Ok(())
}

fn order_json(order: &Order) -> Value {
    json!({
        "id": order.id,
        "items": order.items,
        "description": order.description,
        "price": order.price,
        "destination": order.destination,
    })
}

fn shipment_json(shipment: &CombinedShipment) -> Value {
    json!({
        "id": shipment.id,
        "status": shipment.status,
        "ordersList": shipment.orders_list.iter().map(order_json).collect::<Vec<_>>(),
    })
}

fn order_from_flags(args: &[String]) -> Result<Order, Failure> {
    let mut order = Order::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| Failure::Usage(format!("{flag} needs a value")))?
            .clone();
        match flag.as_str() {
            "--id" => order.id = value,
            "--item" => order.items.push(value),
            "--description" => order.description = value,
            "--price" => {
                order.price = value
                    .parse()
                    .map_err(|_| Failure::Usage(format!("bad --price {value:?}")))?;
            }
            "--destination" => order.destination = value,
            other => return Err(Failure::Usage(format!("unknown flag {other:?}"))),
        }
    }
    Ok(order)
}

fn order_from_json(line: &str) -> Result<Order, Failure> {
    let bad = |why: &str| Failure::Usage(format!("bad order JSON ({why}): {line}"));
    let value: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let items = match value.get("items") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("items must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("items must be an array")),
    };
    let price = match value.get("price") {
        None => 0.0,
        Some(p) => p.as_f64().ok_or_else(|| bad("price must be a number"))? as f32,
    };
    Ok(Order {
        id: text("id"),
        items,
        description: text("description"),
        price,
        destination: text("destination"),
    })
}

fn orders_from_stdin() -> Result<Vec<Order>, Failure> {
    let mut orders = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
        if !line.trim().is_empty() {
            orders.push(order_from_json(&line)?);
        }
    }
    Ok(orders)
}

/// Describes the `google.rpc.BadRequest` inside a status's details, if any.
fn describe_details(status: &Status) -> Option<String> {
    let lines: Vec<String> = status
        .bad_request()?
        .field_violations
        .into_iter()
        .map(|v| format!("field violation: {} — {}", v.field, v.description))
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// Walks all five RPCs and says what happens on each.
async fn demo(client: &OrderManagementClient) -> Result<(), Failure> {
    println!("== getOrder (unary): order 102");
    let order = client
        .get_order(timed("102".to_string()))
        .await?
        .into_inner();
    println!("   got {}", order_json(&order));

    println!("== getOrder (unary): order 999, which does not exist");
    match client.get_order(timed("999".to_string())).await {
        Err(status) => println!(
            "   failed as expected: {}: {}",
            status.code().as_str(),
            status.message()
        ),
        Ok(r) => println!("   unexpectedly got {}", order_json(r.get_ref())),
    }

    let id = format!("demo-{}", std::process::id());
    println!("== addOrder (unary): a new order {id}");
    let new_order = Order {
        id: id.clone(),
        items: vec!["Kindle Paperwhite".into()],
        description: "Kindle Paperwhite".into(),
        price: 120.0,
        destination: "Seattle, WA".into(),
    };
    let added = client.add_order(timed(new_order)).await?.into_inner();
    println!("   server stored it as {added}");

    println!("== addOrder (unary): an order with an empty id");
    match client.add_order(timed(Order::default())).await {
        Err(status) => {
            println!(
                "   failed as expected: {}: {}",
                status.code().as_str(),
                status.message()
            );
            if let Some(details) = describe_details(&status) {
                println!("   details: {details}");
            }
        }
        Ok(_) => println!("   unexpectedly accepted"),
    }

    println!("== searchOrders (server streaming): items containing \"Google\"");
    let mut found = client
        .search_orders(timed("Google".to_string()))
        .await?
        .into_inner();
    while let Some(order) = found.next().await {
        let order = order?;
        println!("   streamed order {}: {:?}", order.id, order.items);
    }
    println!("   stream ended with OK");

    println!("== updateOrders (client streaming): new prices for 102 and 103");
    let mut o102 = client
        .get_order(timed("102".to_string()))
        .await?
        .into_inner();
    let mut o103 = client
        .get_order(timed("103".to_string()))
        .await?
        .into_inner();
    o102.price = 1750.0;
    o103.price = 380.0;
    let mut call = client.update_orders(timed(())).await?;
    call.send(&o102).await?;
    call.send(&o103).await?;
    let reply = call.close_and_recv().await?.into_inner();
    println!("   server replied: {reply}");

    println!("== processOrders (bidirectional): ids 102 103 104 105 106");
    // As the book's client: one task sends the ids and closes its side,
    // while this one receives the shipments as the server sends them.
    let call = client.process_orders(timed(())).await?;
    let (mut requests, mut shipments) = call.split();
    let sender = tokio::spawn(async move {
        for id in ["102", "103", "104", "105", "106"] {
            requests.send(&id.to_string()).await?;
        }
        requests.close().await
    });
    while let Some(shipment) = shipments.recv().await? {
        let ids: Vec<&str> = shipment.orders_list.iter().map(|o| o.id.as_str()).collect();
        println!(
            "   shipment {:?} ({}): orders {:?}",
            shipment.id, shipment.status, ids
        );
    }
    sender
        .await
        .map_err(|e| Status::internal(format!("the sending task failed: {e}")))??;
    println!("   stream ended with OK");
    Ok(())
}
