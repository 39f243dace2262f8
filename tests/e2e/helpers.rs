//! `TestApp`: one Hub account, one Nhanh app and business (unique per test), and the HTTP steps
//! an admin's browser takes through the connect flow.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where the stack runs (from the env file `scripts/stack.sh` writes).
pub struct Stack {
    pub connector: String,
    pub nhanh: String,
    pub hub: String,
    pub service_token: String,
    /// The status JSON's credential (`STATUS_API_TOKEN`).
    pub status_token: String,
    /// The queue bridge's control API (`BRIDGE_URL`).
    pub bridge: String,
    pub log_dir: PathBuf,
}

/// The key/value pairs of the stack's env file.
pub fn stack_env() -> HashMap<String, String> {
    let path = std::env::var("STACK_ENV_FILE")
        .unwrap_or_else(|_| format!("{}/../.stack/test/env", env!("CARGO_MANIFEST_DIR")));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path} ({e}): run the tests through `make test`"));
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = stack_env();
        let get = |k: &str| env.get(k).cloned().unwrap_or_default();
        Stack {
            connector: get("CONNECTOR_URL"),
            nhanh: get("NHANH_SIM_URL"),
            hub: get("HUB_SIM_URL"),
            service_token: get("HUB_SERVICE_TOKEN"),
            status_token: get("STATUS_API_TOKEN"),
            bridge: get("BRIDGE_URL"),
            log_dir: PathBuf::from(get("LOG_DIR")),
        }
    })
}

/// Now, as the Hub writes `occurred_at` (the connector refuses stale Hub events).
pub fn now_rfc3339() -> String {
    shared::clock::rfc3339(time::OffsetDateTime::now_utc())
}

/// A random number (ids, phones, businesses).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random");
    u64::from_le_bytes(b)
}

/// Extracts the text of the element with `id` (`<code id="x">text</code>`).
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[start..];
    let open_end = rest.find('>')?;
    let close = rest[open_end..].find('<')?;
    Some(rest[open_end + 1..open_end + close].to_string())
}

/// The value of the hidden CSRF input.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf_token\" value=\"").expect("page has a CSRF field");
    let rest = &html[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// Whether an answer is `cargo lambda watch`'s own 500 (its problem JSON, which no function of the
/// connector writes): the local front lost the function's answer. Seen on pages (answers over 8 KB)
/// when the function's runtime client closed its connection right after posting the answer; the
/// function had answered 200 (its `answered` log line says so). A GET is asked once more; a form's
/// POST is never sent again, nor the OAuth callback (its code is spent once).
pub fn lost_by_the_local_front(status: u16, body: &str) -> bool {
    status == 500 && body.contains("\"type\":\"https://httpstatuses.com/500\"")
}

/// A response reduced to what tests look at.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub body: String,
}

pub struct TestApp {
    pub http: reqwest::Client,
    pub account: String,
    pub app_id: u64,
    pub business_id: u64,
    pub secret: String,
    pub session: String,
    pub cookie: Option<String>,
}

impl TestApp {
    /// A fresh account, a fresh Nhanh app (automatic consent for a fresh business) and an admin session.
    pub async fn new() -> Self {
        stack();
        let n = random_u64();
        let app = Self {
            http: reqwest::Client::builder().redirect(Policy::none()).build().expect("client"),
            account: format!("t{}", n % 1_000_000_000),
            app_id: 100_000 + n % 800_000,
            business_id: 1_000_000 + (n >> 20) % 8_000_000,
            secret: format!("secret-{:x}", random_u64()),
            session: format!("sess-{:x}", random_u64()),
            cookie: None,
        };
        app.register_app(app.app_id, &app.secret, app.business_id, &[]).await;
        app.add_session(&app.session.clone(), &app.account.clone(), "admin").await;
        app
    }

    pub async fn register_app(&self, app_id: u64, secret: &str, business_id: u64, denied_paths: &[&str]) {
        self.post_json(
            &format!("{}/_sim/apps", stack().nhanh),
            json!({
                "app_id": app_id, "secret_key": secret, "business_id": business_id, "auto_consent": true,
                "permissions": ["product", "order", "customer"], "denied_paths": denied_paths,
            }),
        )
        .await;
    }

    pub async fn add_session(&self, token: &str, account: &str, role: &str) {
        self.post_json(
            &format!("{}/_sim/sessions", stack().hub),
            json!({
                "token": token, "account_id": account, "user_id": format!("u-{role}"), "role": role,
            }),
        )
        .await;
    }

    pub async fn post_json(&self, url: &str, body: Value) -> Value {
        let r = self.http.post(url).json(&body).send().await.expect("control call");
        assert!(r.status().is_success(), "{url} answered {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn get_json(&self, url: &str) -> Value {
        self.http.get(url).send().await.expect("control call").json().await.expect("json")
    }

    async fn answer(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let location = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let set_cookie = r.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = r.text().await.unwrap_or_default();
        Answer { status, location, set_cookie, body }
    }

    fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => req.header(COOKIE, c.as_str()),
            None => req,
        }
    }

    pub fn page_url(&self) -> String {
        format!("{}/nhanhvn/connect/{}", stack().connector, self.account)
    }

    /// Opens the page with a session token (as the Hub links it); keeps the cookie it sets.
    pub async fn open_with_session(&mut self, session: &str) -> Answer {
        let r = self.http.get(self.page_url()).query(&[("session", session)]).send().await.expect("page");
        let a = Self::answer(r).await;
        if let Some(sc) = &a.set_cookie {
            self.cookie = sc.split(';').next().map(str::to_owned);
        }
        a
    }

    /// GETs a connector path with the cookie.
    pub async fn get(&self, path_or_url: &str) -> Answer {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", stack().connector)
        };
        let answer = Self::answer(self.with_cookie(self.http.get(&url)).send().await.expect("get")).await;
        if !lost_by_the_local_front(answer.status, &answer.body) || url.contains("accessCode=") {
            return answer;
        }
        eprintln!("e2e: the local Lambda front lost the function's answer to GET {url}; asking once more");
        Self::answer(self.with_cookie(self.http.get(&url)).send().await.expect("get")).await
    }

    /// POSTs a form to a connector path with the cookie.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let url = format!("{}{path}", stack().connector);
        Self::answer(self.with_cookie(self.http.post(url)).form(form).send().await.expect("post")).await
    }

    /// Opens the page with the admin session and returns the form page.
    pub async fn open_page(&mut self) -> Answer {
        let session = self.session.clone();
        let first = self.open_with_session(&session).await;
        assert_eq!(first.status, 303, "session accepted: {}", first.body);
        self.get(&format!("/nhanhvn/connect/{}", self.account)).await
    }

    /// Submits App Id + Secret Key; returns the answer (a redirect to Nhanh on success).
    pub async fn activate(&self, csrf: &str, app_id: u64, secret: &str) -> Answer {
        self.post_form(
            &format!("/nhanhvn/connect/{}", self.account),
            &[("csrf_token", csrf), ("app_id", &app_id.to_string()), ("secret_key", secret)],
        )
        .await
    }

    /// Follows the consent redirect at the Nhanh simulator; returns the callback URL with `accessCode`.
    pub async fn consent(&self, nhanh_url: &str) -> String {
        let r = self.http.get(nhanh_url).send().await.expect("consent");
        assert!(r.status().is_redirection(), "consent redirects, got {}", r.status());
        r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).expect("location").to_owned()
    }

    /// Page → activate → consent: the callback URL Nhanh sends the browser to.
    pub async fn start_connect(&mut self, secret: &str) -> (String, String) {
        let page = self.open_page().await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = csrf_of(&page.body);
        let act = self.activate(&csrf, self.app_id, secret).await;
        assert_eq!(act.status, 303, "{}", act.body);
        let to_nhanh = act.location.expect("redirect to Nhanh");
        (self.consent(&to_nhanh).await, csrf)
    }

    /// Opens the callback Nhanh redirected to and, when it shows the confirmation (issue 22),
    /// presses **Xác nhận kết nối** with the page's form token: the connected page after the
    /// redirect, or the first answer that is a refusal.
    pub async fn finish(&self, callback: &str) -> Answer {
        let shown = self.get(callback).await;
        if shown.status != 200 || !shown.body.contains("id=\"confirm-form\"") {
            return shown;
        }
        let path = callback.split_once("/nhanhvn/").map_or(callback, |(_, p)| p).split('?').next().unwrap_or_default();
        let confirmed = self.post_form(&format!("/nhanhvn/{path}"), &[("csrf_token", &csrf_of(&shown.body))]).await;
        match confirmed.location.as_deref() {
            Some(page) if confirmed.status == 303 => self.get(page).await,
            _ => confirmed,
        }
    }

    /// The whole happy path; returns the connected page.
    pub async fn connect(&mut self) -> Answer {
        let secret = self.secret.clone();
        let (callback, _) = self.start_connect(&secret).await;
        let done = self.finish(&callback).await;
        assert_eq!(done.status, 200, "account {}, callback {callback}: {}", self.account, done.body);
        assert!(done.body.contains("id=\"verify-token\""), "connected: {}", done.body);
        done
    }

    /// The status JSON read with the Hub's service token.
    pub async fn status(&self) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/nhanhvn/connections/{}", stack().connector, self.account))
            .header("authorization", format!("TOKEN {}", stack().status_token))
            .send()
            .await
            .expect("status");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `check` holds on the status JSON (at most `secs`): the processor adds its
    /// counters once a batch is done, after the batch's Hub writes.
    pub async fn status_until(&self, secs: u64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (_, status) = self.status().await;
            if check(&status) {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}; status is {status}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Waits until the account's first scheduled pass has read past the orders: its last stream
    /// lists the Hub's own orders, a call the Hub simulator records (a positive signal). An order
    /// made after it is the webhook's alone, never raced by that pass.
    pub async fn first_pass_past_orders(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let requests = self.get_json(&format!("{}/_sim/requests", stack().hub)).await;
            let listed = requests["requests"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|r| r["method"] == "GET" && r["path"] == "orders.json" && r["account"] == json!(self.account))
            });
            if listed {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the first pass did not end");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Every line the stack's processes logged so far.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(entries) = std::fs::read_dir(&stack().log_dir) {
            for e in entries.flatten() {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        all
    }
}

/// A message as the queue carried it (read from the bridge's tap: the bridge is the one reader of
/// the queue, like the event source mapping, and records each message the first time it sees it).
#[derive(Debug, Clone)]
pub struct Carried {
    pub message_id: String,
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
    /// The bridge's batch that carried it (one processor invocation).
    pub batch: u64,
}

fn claimed() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
    static CLAIMED: OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    CLAIMED.get_or_init(Default::default)
}

fn tapped(prefix: &str) -> Vec<Carried> {
    let path = stack_env().get("TAP_FILE").cloned().unwrap_or_default();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let claimed = claimed().lock().expect("lock");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Carried {
            message_id: v["message_id"].as_str().unwrap_or_default().to_owned(),
            group_id: v["group_id"].as_str().unwrap_or_default().to_owned(),
            dedup_id: v["dedup_id"].as_str().unwrap_or_default().to_owned(),
            body: v["body"].as_str().unwrap_or_default().to_owned(),
            batch: v["batch"].as_u64().unwrap_or_default(),
        })
        .filter(|m| m.group_id.starts_with(prefix) && !claimed.contains(&m.message_id))
        // The first scheduled pass and initial sync pages a connection queues for itself.
        .filter(|m| !m.group_id.ends_with(":reconcile") && !m.group_id.contains(":initial_sync"))
        .collect()
}

/// The messages of `account` the queue carried since the last call: waits until `expected`
/// arrived and no more came for `settle` (at most 20 s).
pub async fn messages_of(account: &str, expected: usize, settle: std::time::Duration) -> Vec<Carried> {
    let prefix = format!("{account}:");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut last_count = usize::MAX;
    let mut quiet_since = std::time::Instant::now();
    loop {
        let count = tapped(&prefix).len();
        if count != last_count {
            last_count = count;
            quiet_since = std::time::Instant::now();
        }
        if (count >= expected && quiet_since.elapsed() >= settle) || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mine = tapped(&prefix);
    claimed().lock().expect("lock").extend(mine.iter().map(|m| m.message_id.clone()));
    mine
}

/// Runs `f` while the bridge does not read the queue. moto forgets a FIFO deduplication id once
/// its message is deleted (real SQS keeps it 5 minutes), so duplicates are only observable while
/// the first copy is still in the queue.
pub async fn with_collector_paused<T>(f: impl std::future::Future<Output = T>) -> T {
    static PAUSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = PAUSES.lock().await;
    let held = Bridge::of_stack().hold().await;
    let out = f.await;
    held.release().await;
    out
}

/// The stack's queue bridge (the stand-in for the SQS event source mapping), by its control API.
pub struct Bridge {
    url: String,
    http: reqwest::Client,
}

impl Bridge {
    /// The bridge of the stack under test.
    pub fn of_stack() -> Self {
        Self { url: stack().bridge.clone(), http: reqwest::Client::new() }
    }
    /// Stops reading the queue; returns once the batch in flight (if any) is settled, so what the
    /// queue holds stays where it is until [`Bridge::resume`].
    pub async fn pause(&self) {
        let r = self.http.post(format!("{}/pause", self.url)).send().await.expect("pause bridge");
        assert!(r.status().is_success(), "pause bridge: {}", r.status());
    }
    /// Reads the queue again.
    pub async fn resume(&self) {
        let r = self.http.post(format!("{}/resume", self.url)).send().await.expect("resume bridge");
        assert!(r.status().is_success(), "resume bridge: {}", r.status());
    }
    /// Pauses the bridge until the returned hold is released or dropped: a test that fails
    /// while it holds the queue does not leave the stack paused for every test after it.
    pub async fn hold(self) -> Held {
        self.pause().await;
        Held { bridge: Some(self) }
    }
}

/// The bridge paused by [`Bridge::hold`].
pub struct Held {
    bridge: Option<Bridge>,
}

impl Held {
    /// Reads the queue again.
    pub async fn release(mut self) {
        if let Some(bridge) = self.bridge.take() {
            bridge.resume().await;
        }
    }
}

impl Drop for Held {
    /// A hold dropped unreleased (its test panicked): `POST /resume` by a plain blocking request,
    /// as no runtime may be left to await one.
    fn drop(&mut self) {
        use std::io::Write;
        let Some(bridge) = self.bridge.take() else { return };
        let Some(addr) = bridge.url.strip_prefix("http://").map(|a| a.trim_end_matches('/').to_owned()) else { return };
        if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
            let request =
                format!("POST /resume HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(request.as_bytes());
            let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
        }
    }
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A connected account and its webhooks verify token; with `webhooks`, the Nhanh simulator's app
/// is set up to send (or, with `Some(false)`, not send) webhooks to the stack.
pub async fn connected(webhooks: Option<bool>) -> (TestApp, String) {
    let mut app = TestApp::new().await;
    let page = app.connect().await;
    let token = element_text(&page.body, "verify-token").expect("verify token");
    if let Some(enabled) = webhooks {
        app.post_json(&format!("{}/_sim/webhooks", stack().nhanh), serde_json::json!({
            "app_id": app.app_id, "url": format!("{}/nhanhvn/hook/{}", stack().connector, app.app_id), "verify_token": token, "enabled": enabled,
        })).await;
    }
    (app, token)
}

/// The Nhanh API version a test's connection speaks. New connections made through the page
/// speak v3 (R15); a v2 connection is one made before v3 existed ([`TestApp::make_legacy_v2`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V2,
    V3,
}

impl Api {
    /// The simulator path of an endpoint in this version (`product_list`, `order_list`,
    /// `order_add`, `customer_add`).
    pub fn path(self, endpoint: &str) -> &'static str {
        match (self, endpoint) {
            (Api::V2, "product_list") => "/api/product/search",
            (Api::V2, "order_list") => "/api/order/index",
            (Api::V2, "order_add") => "/api/order/add",
            (Api::V2, "customer_add") => "/api/customer/add",
            (Api::V3, "product_list") => "/v3.0/product/list",
            (Api::V3, "order_list") => "/v3.0/order/list",
            (Api::V3, "order_add") => "/v3.0/order/add",
            (Api::V3, "customer_add") => "/v3.0/customer/add",
            _ => panic!("unknown endpoint {endpoint}"),
        }
    }

    /// The status JSON's `api_version`.
    pub fn name(self) -> &'static str {
        match self {
            Api::V2 => "2.0",
            Api::V3 => "3.0",
        }
    }
}

/// The AWS SDK configuration of the stack's moto, for tests that read or seed the store.
pub async fn aws_sdk() -> aws_config::SdkConfig {
    for (k, v) in [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")] {
        std::env::set_var(k, v);
    }
    shared::lambda::aws_sdk_config_for(stack_env().get("AWS_ENDPOINT_URL").map(String::as_str)).await
}

impl TestApp {
    /// Turns this (connected) account into a connection made over API v2 before v3 existed: a v2
    /// token from the simulator's v2 exchange, sealed with the stack's KMS key, `api_version`
    /// 2.0 in the stored connection. Everything else (routes, claim, verify token) is the flow's.
    pub async fn make_legacy_v2(&self) {
        use shared::secrets::SecretBox;
        use shared::store::ConnectionStore;
        let consent =
            format!("{}/oauth?appId={}&returnLink=https%3A%2F%2Flegacy.example%2Fcb", stack().nhanh, self.app_id);
        let to = self.consent(&consent).await;
        let code = to.split("accessCode=").nth(1).expect("access code").to_owned();
        let answer: Value = self
            .http
            .post(format!("{}/api/oauth/access_token", stack().nhanh))
            .form(&[
                ("version", "2.0"),
                ("appId", &self.app_id.to_string()),
                ("accessCode", &code),
                ("secretKey", &self.secret),
            ])
            .send()
            .await
            .expect("v2 exchange")
            .json()
            .await
            .expect("json");
        let token = answer["accessToken"].as_str().expect("v2 token").to_owned();
        let sdk = aws_sdk().await;
        let env = stack_env();
        let store = shared::store::dynamo::DynamoStore::from_sdk_config(
            &sdk,
            env.get("TABLE_NAME").cloned().unwrap_or_default(),
        );
        let secrets = shared::secrets::kms::KmsSecretBox::from_sdk_config(
            &sdk,
            env.get("KMS_KEY_ID").cloned().unwrap_or_default(),
        );
        let account = shared::domain::AccountId::parse(&self.account).expect("account");
        let context = format!("acct/{}/access_token", self.account);
        let sealed = secrets.seal(&shared::secrets::SecretString::new(token), &context).await.expect("seal");
        for _ in 0..10 {
            let mut conn = store.get(&account).await.expect("store").expect("connection");
            conn.api_version = shared::domain::ApiVersion::V2;
            conn.access_token_sealed = Some(sealed.clone());
            if store.put(&conn).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("could not store the v2 connection");
    }
}

/// [`connected`] on `api`: a v3 connection through the page, turned into a v2 one when asked.
pub async fn connected_on(api: Api, webhooks: Option<bool>) -> (TestApp, String) {
    let (app, token) = connected(None).await;
    if api == Api::V2 {
        app.make_legacy_v2().await;
    }
    if let Some(enabled) = webhooks {
        app.post_json(&format!("{}/_sim/webhooks", stack().nhanh), serde_json::json!({
            "app_id": app.app_id, "url": format!("{}/nhanhvn/hook/{}", stack().connector, app.app_id), "verify_token": token,
            "enabled": enabled, "version": if api == Api::V2 { 2 } else { 3 },
        })).await;
    }
    (app, token)
}

/// Queues one scheduled pass of `account` only (a tick covers every account, and SQS drops a
/// second tick of the same minute): in the account's pass group, after what is queued.
pub async fn queue_pass(account: &str) {
    use shared::domain::{AccountId, Origin, WorkItem};
    use shared::queue::WorkQueue;
    let now = time::OffsetDateTime::now_utc();
    let item = WorkItem::ReconcileAccount { account_id: AccountId::parse(account).unwrap(), tick: now, resume: None };
    let queue_url = stack_env().get("QUEUE_URL").cloned().expect("QUEUE_URL");
    let queue = shared::queue::sqs::SqsQueue::from_sdk_config(&aws_sdk().await, queue_url);
    queue.send(&[item.to_message(Origin::FollowUp(now)).unwrap()]).await.unwrap();
}

/// Runs the `replay-dead-letters` binary the stack built; returns what it printed.
pub async fn replay_dead_letters() -> String {
    let env = stack_env();
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
        std::process::Command::new(format!("{target}/debug/replay-dead-letters"))
            .env("QUEUE_URL", env.get("QUEUE_URL").cloned().unwrap_or_default())
            .env("DLQ_URL", env.get("DLQ_URL").cloned().unwrap_or_default())
            .env("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL").cloned().unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("replay-dead-letters")
    })
    .await
    .expect("replay task");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
