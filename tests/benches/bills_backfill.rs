//! Retail-bill backfill throughput against Nhanh's limiter, as a fraction of its ceiling, on each
//! API version (issue 11): 5 000 bills of today in the Nhanh simulator (limiter compressed to 15
//! calls / 3 s), one scheduled pass by the real client over HTTP, the Hub and the stores in memory.
//! Prints bills per second, the list calls, the fastest run the limiter allows and the calls made
//! while locked; `make bench` runs it.

use serde_json::json;
use shared::clock::SystemClock;
use shared::domain::{AccountId, ApiVersion, WorkItem};
use shared::nhanh::NhanhClient;
use shared::queue::memory::MemoryQueue;
use shared::services::process::{BatchRecord, Processor};
use shared::testing::{fakes::FakeHub, intake_fixture};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for version in [ApiVersion::V2, ApiVersion::V3] {
        run(version).await;
    }
}

async fn run(version: ApiVersion) {
    let (max, window, bills) = (15usize, 3i64, 5000u64);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, sims::nhanh_sim::router(sims::nhanh_sim::NhanhSim::new(max, window, vec![]))).await });
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| http.post(format!("{base}{path}")).json(&body).send();
    post("/_sim/apps", json!({"app_id": 1, "secret_key": "s", "business_id": 10, "auto_consent": true})).await.expect("app");
    post("/_sim/businesses/10/bills/bulk", json!({"count": bills, "start_id": 1})).await.expect("bulk");
    let consent = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
        .get(format!("{base}/oauth?appId=1&returnLink=https://x/cb")).send().await.expect("consent");
    let location = consent.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let code = location.split("accessCode=").nth(1).unwrap_or_default().to_owned();

    let f = intake_fixture();
    let account = AccountId::parse("bench").expect("account");
    let nhanh = Arc::new(NhanhClient::new(reqwest::Client::new(), &base, &format!("{base}/oauth"), Arc::new(SystemClock)));
    use shared::nhanh::NhanhApi;
    let grant = nhanh.exchange_code(version, shared::domain::AppId::new(1).expect("app"), &shared::secrets::SecretString::new("s"), &code).await.expect("token");
    f.connect("bench", 1, 10, "tok", shared::domain::ConnectionState::Active).await;
    {
        use shared::secrets::SecretBox;
        use shared::store::ConnectionStore;
        let mut conn = f.store.get(&account).await.expect("get").expect("conn");
        conn.access_token_sealed = Some(f.secrets.seal(&grant.access_token, &shared::services::connect::seal_context(&account, "access_token")).await.expect("seal"));
        conn.initial_sync = Some(shared::domain::InitialSync { state: shared::domain::InitialSyncState::Done, done: 0, total: None });
        conn.api_version = version;
        // Connected an hour ago: the bills (created just now) are of the connected period.
        conn.connected_at = Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
        f.store.put(&conn).await.expect("put");
    }
    let processor = Processor {
        connections: f.store.clone(), maps: f.store.clone(), intents: f.store.clone(), stats: f.store.clone(),
        failures: f.store.clone(), cursors: f.store.clone(), queue: Arc::new(MemoryQueue::default()),
        nhanh, hub: Arc::new(FakeHub::default()), secrets: f.secrets.clone(), clock: Arc::new(SystemClock), tokens: Default::default(),
        pass_budget: time::Duration::minutes(10),
    };
    // A pass reads only seconds already over.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let started = Instant::now();
    let pass = WorkItem::ReconcileAccount { account_id: account.clone(), tick: time::OffsetDateTime::now_utc(), resume: None };
    let record = BatchRecord { message_id: "pass".into(), group_id: "bench:reconcile".into(), body: serde_json::to_string(&pass).expect("json") };
    assert!(processor.process_batch(&[record]).await.is_empty(), "the pass failed");
    let elapsed = started.elapsed().as_secs_f64();
    let stats = shared::store::StatsStore::stats(f.store.as_ref(), &account).await.expect("stats");
    let applied = stats.streams.get("bills").map_or(0, |c| c.applied);
    let calls: serde_json::Value = http.get(format!("{base}/_sim/calls?app_id=1")).send().await.expect("calls").json().await.expect("json");
    let list = calls["calls"].as_array().cloned().unwrap_or_default();
    let path = if version == ApiVersion::V2 { "/api/bill/search" } else { "/v3.0/bill/retail" };
    let reads = list.iter().filter(|c| c["path"] == path).count();
    let fastest = ((reads.saturating_sub(1)) / max) as f64 * window as f64;
    println!(
        "bills backfill on API v{}: {applied} of {bills} bills applied in {elapsed:.1} s ({:.0} bills/s) with {reads} {path} calls; the limiter ({max} / {window} s) allows it in {fastest:.0} s → throughput {:.2} of the ceiling; calls while locked: {}",
        version.as_str(),
        applied as f64 / elapsed,
        if elapsed > 0.0 { (fastest / elapsed).min(1.0) } else { 0.0 },
        calls["while_locked"]
    );
}
