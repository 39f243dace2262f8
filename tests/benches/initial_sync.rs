//! Initial-sync throughput against Nhanh's limiter, as a fraction of its ceiling, on each API
//! version: the real client talks HTTP to the Nhanh simulator (limiter compressed to 15 calls /
//! 3 s, 2 000 products)
//! while the Hub and the stores are in memory, so what is measured is the connector's pacing
//! (one call at a time per URL, locks waited out, no call while locked), not the emulators.
//! Prints one line per version; `make bench` runs it.

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
    let (max, window, products) = (15usize, 3i64, 2000u64);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, sims::nhanh_sim::router(sims::nhanh_sim::NhanhSim::new(max, window, vec![]))).await });
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| http.post(format!("{base}{path}")).json(&body).send();
    post("/_sim/apps", json!({"app_id": 1, "secret_key": "s", "business_id": 10, "auto_consent": true})).await.expect("app");
    post("/_sim/businesses/10/products/bulk", json!({"count": products, "start_id": 1})).await.expect("bulk");
    // A token for business 10 through the real consent + exchange.
    let consent = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
        .get(format!("{base}/oauth?appId=1&returnLink=https://x/cb")).send().await.expect("consent");
    let location = consent.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let code = location.split("accessCode=").nth(1).unwrap_or_default().to_owned();

    let f = intake_fixture();
    let account = AccountId::parse("bench").expect("account");
    let nhanh = Arc::new(NhanhClient::new(reqwest::Client::new(), &base, &format!("{base}/oauth"), Arc::new(SystemClock)));
    use shared::nhanh::NhanhApi;
    let grant = nhanh.exchange_code(version, shared::domain::AppId::new(1).expect("app"), &shared::secrets::SecretString::new("s"), &code).await.expect("token");
    f.connect("bench", 1, 10, "tok", shared::domain::ConnectionState::Syncing).await;
    {
        use shared::secrets::SecretBox;
        use shared::store::ConnectionStore;
        let mut conn = f.store.get(&account).await.expect("get").expect("conn");
        conn.access_token_sealed = Some(f.secrets.seal(&grant.access_token, &shared::services::connect::seal_context(&account, "access_token")).await.expect("seal"));
        conn.initial_sync = Some(shared::domain::InitialSync { state: shared::domain::InitialSyncState::Due, done: 0, total: None });
        conn.api_version = version;
        f.store.put(&conn).await.expect("put");
    }
    let queue = Arc::new(MemoryQueue::default());
    let processor = Processor {
        connections: f.store.clone(), maps: f.store.clone(), intents: f.store.clone(), stats: f.store.clone(),
        failures: f.store.clone(), cursors: f.store.clone(), queue: queue.clone(),
        nhanh, hub: Arc::new(FakeHub::default()), secrets: f.secrets.clone(), clock: Arc::new(SystemClock), tokens: Default::default(),
        pass_budget: shared::services::pass::DEFAULT_PASS_BUDGET,
    };
    let started = Instant::now();
    let start = WorkItem::ReconcileAccount { account_id: account.clone(), tick: time::OffsetDateTime::now_utc(), resume: None };
    let record = |m: &str, g: String, item: &WorkItem| BatchRecord { message_id: m.to_owned(), group_id: g, body: serde_json::to_string(item).expect("json") };
    assert!(processor.process_batch(&[record("start", "bench:reconcile".into(), &start)]).await.is_empty());
    // Like the event source mapping: batches of up to 10; each page queues the next one.
    let mut taken = 0;
    let mut pending: Vec<BatchRecord> = Vec::new();
    loop {
        let queued = queue.messages();
        pending.extend(queued[taken..].iter().enumerate().map(|(i, m)| BatchRecord { message_id: (taken + i).to_string(), group_id: m.group_id.clone(), body: m.body.clone() }));
        taken = queued.len();
        if pending.is_empty() {
            break;
        }
        let batch: Vec<BatchRecord> = pending.drain(..pending.len().min(10)).collect();
        let failed = processor.process_batch(&batch).await;
        pending.extend(batch.into_iter().filter(|r| failed.iter().any(|f| f.message_id == r.message_id)));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls: serde_json::Value = http.get(format!("{base}/_sim/calls?app_id=1")).send().await.expect("calls").json().await.expect("json");
    let list = calls["calls"].as_array().cloned().unwrap_or_default();
    let path = if version == ApiVersion::V2 { "/api/product/search" } else { "/v3.0/product/list" };
    let search = list.iter().filter(|c| c["path"] == path).count();
    let ceiling = max as f64 / window as f64;
    let rate = search as f64 / elapsed;
    // The limiter lets `max` calls through per window: the fastest possible run of `search` calls
    // takes floor((search - 1) / max) windows.
    let fastest = ((search.saturating_sub(1)) / max) as f64 * window as f64;
    println!(
        "initial sync on API v{} (in-memory Hub and stores, real client over HTTP): {products} products, {search} {path} calls in {elapsed:.1} s ({rate:.2} calls/s, ceiling {ceiling:.1}/s); fastest the limiter allows {fastest:.0} s → throughput {:.2} of the ceiling; calls while locked: {}",
        version.as_str(),
        if elapsed > 0.0 { (fastest / elapsed).min(1.0) } else { 0.0 },
        calls["while_locked"]
    );
}
