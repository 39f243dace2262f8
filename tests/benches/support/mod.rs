//! What the limiter benchmarks share: the Nhanh simulator on a loopback port with a compressed
//! limiter, a token for business 10 of app 1 through the real consent and exchange, and a
//! processor over in-memory stores and Hub whose Nhanh client talks HTTP to the simulator.

// Each benchmark binary compiles this module and uses a part of it.
#![allow(dead_code)]

use serde_json::json;
use shared::clock::SystemClock;
use shared::domain::{AccountId, ApiVersion, InitialSync, InitialSyncState};
use shared::nhanh::{NhanhApi, NhanhClient};
use shared::queue::memory::MemoryQueue;
use shared::services::process::Processor;
use shared::testing::{fakes::FakeHub, intake_fixture, IntakeFixture};
use std::sync::Arc;

/// The simulator's address, its control client, and the connected processor.
pub struct Bench {
    /// `http://127.0.0.1:<port>` of the simulator.
    pub base: String,
    /// A client for its control API.
    pub http: reqwest::Client,
    /// The account benchmarked.
    pub account: AccountId,
    /// The stores behind the processor.
    pub fixture: IntakeFixture,
    /// The queue the processor writes to.
    pub queue: Arc<MemoryQueue>,
    /// The processor.
    pub processor: Processor,
}

/// Starts the simulator with `max` calls per `window` seconds and app 1 of business 10.
pub async fn simulator(max: usize, window: i64) -> (String, reqwest::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, sims::nhanh_sim::router(sims::nhanh_sim::NhanhSim::new(max, window, vec![]))).await
    });
    let http = reqwest::Client::new();
    http.post(format!("{base}/_sim/apps"))
        .json(&json!({"app_id": 1, "secret_key": "s", "business_id": 10, "auto_consent": true}))
        .send()
        .await
        .expect("app");
    (base, http)
}

/// A connection of account `bench` on `version` (its token from the real consent and exchange),
/// with its initial sync in `sync` and, when given, `connected_at`; and a processor for it.
pub async fn connect(
    base: &str,
    http: reqwest::Client,
    version: ApiVersion,
    sync: InitialSyncState,
    connected_at: Option<time::OffsetDateTime>,
    pass_budget: time::Duration,
) -> Bench {
    let consent = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{base}/oauth?appId=1&returnLink=https://x/cb"))
        .send()
        .await
        .expect("consent");
    let location = consent.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let code = location.split("accessCode=").nth(1).unwrap_or_default().to_owned();
    let fixture = intake_fixture();
    let account = AccountId::parse("bench").expect("account");
    let nhanh =
        Arc::new(NhanhClient::new(reqwest::Client::new(), base, &format!("{base}/oauth"), Arc::new(SystemClock)));
    let grant = nhanh
        .exchange_code(
            version,
            shared::domain::AppId::new(1).expect("app"),
            &shared::secrets::SecretString::new("s"),
            &code,
        )
        .await
        .expect("token");
    fixture.connect("bench", 1, 10, "tok", shared::domain::ConnectionState::Syncing).await;
    {
        use shared::secrets::SecretBox;
        use shared::store::ConnectionStore;
        let mut conn = fixture.store.get(&account).await.expect("get").expect("conn");
        let context = shared::secrets::seal_context(&account, shared::secrets::SealedField::AccessToken);
        conn.access_token_sealed = Some(fixture.secrets.seal(&grant.access_token, &context).await.expect("seal"));
        conn.initial_sync = Some(InitialSync { state: sync, done: 0, total: None });
        if sync == InitialSyncState::Done {
            conn.state = shared::domain::ConnectionState::Active;
        }
        conn.api_version = version;
        conn.connected_at = connected_at.or(conn.connected_at);
        fixture.store.put(&conn).await.expect("put");
    }
    let queue = Arc::new(MemoryQueue::default());
    let store = fixture.store.clone();
    let processor = Processor {
        connections: store.clone(),
        maps: store.clone(),
        intents: store.clone(),
        stats: store.clone(),
        failures: store.clone(),
        cursors: store,
        queue: queue.clone(),
        nhanh,
        hub: Arc::new(FakeHub::default()),
        secrets: fixture.secrets.clone(),
        clock: Arc::new(SystemClock),
        tokens: Default::default(),
        customers: Default::default(),
        account_data: fixture.store.clone(),
        erasure: fixture.store.clone(),
        pass_budget,
        retry: shared::services::process::RetryRule { max_receive_count: 5, ..Default::default() },
        dead_letters: fixture.store.clone(),
        backlog: fixture.store.clone(),
        outage: shared::services::process::OutageGuard::new(fixture.store.clone()),
    };
    Bench { base: base.to_owned(), http, account, fixture, queue, processor }
}

/// The simulator's calls of `path` and how many were made while locked.
pub async fn calls(b: &Bench, path: &str) -> (usize, serde_json::Value) {
    let calls: serde_json::Value =
        b.http.get(format!("{}/_sim/calls?app_id=1", b.base)).send().await.expect("calls").json().await.expect("json");
    let n = calls["calls"].as_array().map_or(0, |l| l.iter().filter(|c| c["path"] == path).count());
    (n, calls["while_locked"].clone())
}
