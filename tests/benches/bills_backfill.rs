//! Retail-bill backfill throughput against Nhanh's limiter, as a fraction of its ceiling, on each
//! API version (issue 11): 5 000 bills of today in the Nhanh simulator (limiter compressed to 15
//! calls / 3 s), one scheduled pass by the real client over HTTP, the Hub and the stores in memory.
//! Prints bills per second, the list calls, the fastest run the limiter allows and the calls made
//! while locked; `make bench` runs it.

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
    let (max, window, bills) = (15usize, 3i64, 5000u64);
    let (base, http) = support::simulator(max, window).await;
    http.post(format!("{base}/_sim/businesses/10/bills/bulk"))
        .json(&json!({"count": bills, "start_id": 1}))
        .send()
        .await
        .expect("bulk");
    // Connected an hour ago: the bills (created just now) are of the connected period.
    let connected = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let b =
        support::connect(&base, http, version, InitialSyncState::Done, Some(connected), time::Duration::minutes(10))
            .await;
    let (processor, account) = (&b.processor, &b.account);
    // A pass reads only seconds already over.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let started = Instant::now();
    let pass =
        WorkItem::ReconcileAccount { account_id: account.clone(), tick: time::OffsetDateTime::now_utc(), resume: None };
    let record = BatchRecord {
        message_id: "pass".into(),
        group_id: "bench:reconcile".into(),
        body: serde_json::to_string(&pass).expect("json"),
    };
    assert!(processor.process_batch(&[record]).await.is_empty(), "the pass failed");
    let elapsed = started.elapsed().as_secs_f64();
    let stats = shared::store::StatsStore::stats(b.fixture.store.as_ref(), account).await.expect("stats");
    let applied = stats.streams.get("bills").map_or(0, |c| c.applied);
    let path = if version == ApiVersion::V2 { "/api/bill/search" } else { "/v3.0/bill/retail" };
    let (reads, while_locked) = support::calls(&b, path).await;
    let fastest = ((reads.saturating_sub(1)) / max) as f64 * window as f64;
    println!(
        "bills backfill on API v{}: {applied} of {bills} bills applied in {elapsed:.1} s ({:.0} bills/s) with {reads} {path} calls; the limiter ({max} / {window} s) allows it in {fastest:.0} s → throughput {:.2} of the ceiling; calls while locked: {}",
        version.as_str(),
        applied as f64 / elapsed,
        if elapsed > 0.0 { (fastest / elapsed).min(1.0) } else { 0.0 },
        while_locked
    );
}
