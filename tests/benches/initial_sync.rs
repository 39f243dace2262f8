//! Initial-sync throughput against Nhanh's limiter, as a fraction of its ceiling, on each API
//! version: the real client talks HTTP to the Nhanh simulator (limiter compressed to 15 calls /
//! 3 s, 2 000 products)
//! while the Hub and the stores are in memory, so what is measured is the connector's pacing
//! (one call at a time per URL, locks waited out, no call while locked), not the emulators.
//! Prints one line per version; `make bench` runs it.

mod support;

use serde_json::json;
use shared::domain::{ApiVersion, InitialSyncState, WorkItem};
use shared::services::process::BatchRecord;
use std::time::Instant;

#[tokio::main]
async fn main() {
    for version in [ApiVersion::V2, ApiVersion::V3] {
        run(version).await;
    }
}

async fn run(version: ApiVersion) {
    let (max, window, products) = (15usize, 3i64, 2000u64);
    let (base, http) = support::simulator(max, window).await;
    http.post(format!("{base}/_sim/businesses/10/products/bulk"))
        .json(&json!({"count": products, "start_id": 1}))
        .send()
        .await
        .expect("bulk");
    let b = support::connect(
        &base,
        http,
        version,
        InitialSyncState::Due,
        None,
        shared::services::process::DEFAULT_PASS_BUDGET,
    )
    .await;
    let (processor, queue, account) = (&b.processor, &b.queue, &b.account);
    let started = Instant::now();
    let start =
        WorkItem::ReconcileAccount { account_id: account.clone(), tick: time::OffsetDateTime::now_utc(), resume: None };
    let record = |m: &str, g: String, item: &WorkItem| BatchRecord {
        message_id: m.to_owned(),
        group_id: g,
        body: serde_json::to_string(item).expect("json"),
    };
    assert!(processor.process_batch(&[record("start", "bench:reconcile".into(), &start)]).await.is_empty());
    // Like the event source mapping: batches of up to 10; each page queues the next one.
    let mut taken = 0;
    let mut pending: Vec<BatchRecord> = Vec::new();
    loop {
        let queued = queue.messages();
        pending.extend(queued[taken..].iter().enumerate().map(|(i, m)| BatchRecord {
            message_id: (taken + i).to_string(),
            group_id: m.group_id.clone(),
            body: m.body.clone(),
        }));
        taken = queued.len();
        if pending.is_empty() {
            break;
        }
        let batch: Vec<BatchRecord> = pending.drain(..pending.len().min(10)).collect();
        let failed = processor.process_batch(&batch).await;
        pending.extend(batch.into_iter().filter(|r| failed.iter().any(|f| f.message_id == r.message_id)));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let path = if version == ApiVersion::V2 { "/api/product/search" } else { "/v3.0/product/list" };
    let (search, while_locked) = support::calls(&b, path).await;
    let ceiling = max as f64 / window as f64;
    let rate = search as f64 / elapsed;
    // The limiter lets `max` calls through per window: the fastest possible run of `search` calls
    // takes floor((search - 1) / max) windows.
    let fastest = ((search.saturating_sub(1)) / max) as f64 * window as f64;
    println!(
        "initial sync on API v{} (in-memory Hub and stores, real client over HTTP): {products} products, {search} {path} calls in {elapsed:.1} s ({rate:.2} calls/s, ceiling {ceiling:.1}/s); fastest the limiter allows {fastest:.0} s → throughput {:.2} of the ceiling; calls while locked: {}",
        version.as_str(),
        if elapsed > 0.0 { (fastest / elapsed).min(1.0) } else { 0.0 },
        while_locked
    );
}
