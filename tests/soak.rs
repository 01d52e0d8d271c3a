//! Soak: about a million mixed calls of all four patterns against the real
//! `order-server` process, with random cancellations, printing the server's
//! resident memory before and after. Memory must stay flat.
//!
//! Ignored by default (minutes of CPU): `cargo test --release --test soak -- --ignored --nocapture`.
//! `SOAK_CALLS` (default 1 000 000) and `SOAK_SECS` (default 600, a hard cap)
//! bound the run.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use h2grpc::client::Channel;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}
use pb::Order;
use pb::order_management_client::OrderManagementClient;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One mixed call; `n` picks the pattern and whether to cancel it early.
async fn one_call(client: &OrderManagementClient, n: u64) -> Result<(), (u64, h2grpc::Status)> {
    let cancel = n % 10 == 9; // one call in ten is dropped mid-flight
    let work = async {
        match n % 4 {
            0 => client.get_order("102".to_string()).await.map(drop),
            1 => {
                let mut s = client
                    .search_orders("Google".to_string())
                    .await?
                    .into_inner();
                while s.message().await?.is_some() {}
                Ok(())
            }
            2 => {
                let order = Order {
                    id: "103".into(),
                    items: vec!["Apple Watch S4".into()],
                    description: "Apple Watch S4".into(),
                    price: 400.0,
                    destination: "San Jose, CA".into(),
                };
                client
                    .update_orders_stream(futures::stream::iter(vec![order]))
                    .await
                    .map(drop)
            }
            _ => {
                let ids = futures::stream::iter(["102", "103", "104"].map(String::from));
                let mut s = client.process_orders_stream(ids).await?.into_inner();
                while s.next().await.transpose()?.is_some() {}
                Ok(())
            }
        }
    };
    if cancel {
        // Dropped after 200 µs, wherever it is: the stream is reset with CANCEL.
        let _ = tokio::time::timeout(Duration::from_micros(200), work).await;
        return Ok(());
    }
    work.await.map_err(|s| (n % 4, s))
}

#[test]
#[ignore = "soak: minutes of load; run with --ignored"]
fn soak() {
    let calls = env_u64("SOAK_CALLS", 1_000_000);
    let cap = Duration::from_secs(env_u64("SOAK_SECS", 600));
    let mut server = Command::new(env!("CARGO_BIN_EXE_order-server"));
    server
        .args(["--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn");
    let (guard, addr) = common::python::spawn_server("order-server", server);
    let pid = guard.id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let channel = Channel::connect(&format!("http://{addr}")).await.unwrap();
        let client = OrderManagementClient::new(channel);
        let done = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let rss_start = rss_kib(pid);
        let mut rss_warm = 0;
        let workers = 64;
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..workers {
            let (client, done, errors, next) =
                (client.clone(), done.clone(), errors.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= calls || started.elapsed() > cap {
                        return;
                    }
                    if let Err((pattern, status)) = one_call(&client, n).await
                        && errors.fetch_add(1, Ordering::Relaxed) < 10
                    {
                        println!("soak: error in pattern {pattern}: {status:?}");
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let mut samples = Vec::new();
        while !tasks.iter().all(|t| t.is_finished()) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let d = done.load(Ordering::Relaxed);
            let rss = rss_kib(pid);
            if rss_warm == 0 && d >= calls / 10 {
                rss_warm = rss;
            }
            samples.push((d, rss));
        }
        let rss_end = rss_kib(pid);
        let total = done.load(Ordering::Relaxed);
        let errs = errors.load(Ordering::Relaxed);
        println!(
            "soak: {total} calls in {:.1?}, {errs} errors",
            started.elapsed()
        );
        println!(
            "soak: server RSS start {rss_start} KiB, after 10% {rss_warm} KiB, end {rss_end} KiB"
        );
        for (d, rss) in samples.iter().step_by((samples.len() / 10).max(1)) {
            println!("soak:   {d:>9} calls  {rss:>7} KiB");
        }
        assert_eq!(errs, 0, "calls failed");
        assert!(total >= calls.min(1000), "too few calls ran");
        // Flat: after warm-up, growth stays within 16 MiB (allocator noise, not a leak).
        assert!(
            rss_end <= rss_warm.max(rss_start) + 16 * 1024,
            "server memory grew: {rss_warm} → {rss_end} KiB"
        );
    });
    drop(guard);
}
