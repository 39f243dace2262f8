//! Loyalty Hub simulator (loyalty-hub-api.md): sessions, product groups, products, customers
//! (phone unique per account), orders, `Idempotency-Key` (same key + same body → first answer with
//! 200; different body → 409), 429 with `Retry-After`, and injected 5xx.
//!
//! Control API: `POST /_sim/sessions`, `POST /_sim/faults`, `POST /_sim/faults/rate` (random
//! faults), `GET /_sim/accounts/{a}`,
//! `POST /_sim/accounts/{a}/{customers|orders}` (records created in the Hub itself; sent to the
//! connector's Hub hook when one is set with `POST /_sim/hook`), `GET /_sim/requests`.

use crate::unix_now;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Deserialize)]
struct Session {
    token: String,
    account_id: String,
    user_id: String,
    role: String,
    #[serde(default)]
    expires_in_secs: Option<i64>,
}

#[derive(Debug, Default)]
struct Account {
    records: HashMap<&'static str, BTreeMap<u64, Value>>,
    idempotency: HashMap<String, (String, Value)>,
}

#[derive(Debug, Clone, Deserialize)]
struct Fault {
    status: u16,
    #[serde(default)]
    retry_after: Option<u64>,
    /// Only calls for this account (any account when absent).
    #[serde(default)]
    account: Option<String>,
    /// Only calls of this HTTP method, e.g. `POST` for a create (any method when absent): a test
    /// that means a write is not met by a scheduled pass's listing that runs meanwhile.
    #[serde(default)]
    method: Option<String>,
}

/// Faults answered at random (`POST /_sim/faults/rate`): each resource call of `account` (every
/// account when absent) is answered with one of `statuses` with a chance of `percent` %, after the
/// queued faults, without being carried out; 429s carry `Retry-After: retry_after`. `percent: 0`
/// ends it.
#[derive(Debug, Clone, Deserialize)]
struct FaultRate {
    percent: u32,
    statuses: Vec<u16>,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    account: Option<String>,
}

/// The simulator's state.
pub struct HubSim {
    service_token: String,
    sessions: HashMap<String, (Session, i64)>,
    accounts: HashMap<String, Account>,
    faults: VecDeque<Fault>,
    fault_rate: Option<FaultRate>,
    requests: Vec<Value>,
    hook: Option<(String, String)>,
    next_id: u64,
    /// The contract's limit of resource calls per second and account ("about 50 requests/s per
    /// account; above that it answers 429"); 0: none.
    rate_per_sec: usize,
    /// Each account's resource calls of the last second (Unix ms).
    recent: HashMap<String, VecDeque<u64>>,
}

/// The contract's rate limit (loyalty-hub-api.md, Conventions).
pub const RATE_PER_SEC: usize = 50;

type Shared = Arc<Mutex<HubSim>>;

impl HubSim {
    /// A simulator accepting `service_token` from the connector.
    pub fn new(service_token: String) -> Self {
        Self {
            service_token,
            sessions: HashMap::new(),
            accounts: HashMap::new(),
            faults: VecDeque::new(),
            fault_rate: None,
            requests: Vec::new(),
            hook: None,
            next_id: 1000,
            rate_per_sec: RATE_PER_SEC,
            recent: HashMap::new(),
        }
    }

    /// Sets the per-account limit of resource calls per second (0: none).
    pub fn with_rate_per_sec(mut self, limit: usize) -> Self {
        self.rate_per_sec = limit;
        self
    }

    /// Adds a user session (used for the demo session of `make run`).
    pub fn add_session(&mut self, token: &str, account_id: &str, user_id: &str, role: &str, ttl_secs: i64) {
        let s = Session {
            token: token.into(),
            account_id: account_id.into(),
            user_id: user_id.into(),
            role: role.into(),
            expires_in_secs: None,
        };
        self.sessions.insert(token.into(), (s, unix_now(0) + ttl_secs));
    }
}

/// The router over a shared state.
pub fn router(sim: HubSim) -> Router {
    let state: Shared = Arc::new(Mutex::new(sim));
    Router::new()
        .route("/sessions/current.json", get(current_session))
        .route("/accounts/{account}/{resource}", get(list).post(create))
        .route("/accounts/{account}/{resource}/{id}", axum::routing::put(update))
        .route("/_sim/sessions", post(ctl_session))
        .route("/_sim/faults", post(ctl_faults))
        .route("/_sim/faults/clear", post(ctl_clear_faults))
        .route("/_sim/faults/rate", post(ctl_fault_rate))
        .route("/_sim/hook", post(ctl_hook))
        .route("/_sim/requests", get(ctl_requests))
        .route("/_sim/accounts/{account}", get(ctl_account))
        .route("/_sim/accounts/{account}/{resource}", post(ctl_create_origin_hub))
        .with_state(state)
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

fn token(headers: &HeaderMap) -> Option<String> {
    headers.get("authorization")?.to_str().ok()?.strip_prefix("TOKEN ").map(|t| t.trim().to_owned())
}

async fn current_session(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = unix_now(0);
    match token(&headers).and_then(|t| sim.sessions.get(&t).cloned()) {
        Some((s, exp)) if exp > now => {
            let expires = time::OffsetDateTime::from_unix_timestamp(exp)
                .ok()
                .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
            Json(json!({"session": {"account_id": s.account_id, "user_id": s.user_id, "role": s.role, "expires_at": expires}})).into_response()
        }
        _ => error(401, "unauthorized", "session is not valid"),
    }
}

/// Resource path segment → (record kind, envelope singular, envelope plural).
fn resource(seg: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match seg.trim_end_matches(".json") {
        "product_groups" => Some(("product_groups", "product_group", "product_groups")),
        "products" => Some(("products", "product", "products")),
        "customers" => Some(("customers", "customer", "customers")),
        "orders" => Some(("orders", "order", "orders")),
        _ => None,
    }
}

/// Auth, fault injection and request logging common to every resource call.
fn gate(sim: &mut HubSim, method: &Method, account: &str, path: &str, headers: &HeaderMap) -> Option<Response> {
    // `at_ms` (Unix milliseconds) lets `make measure` time a webhook to the Hub write it caused.
    let at_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    sim.requests.push(json!({"method": method.as_str(), "account": account, "path": path, "at_ms": at_ms,
        "idempotency_key": headers.get("idempotency-key").and_then(|v| v.to_str().ok())}));
    if token(headers).as_deref() != Some(sim.service_token.as_str()) {
        return Some(error(401, "unauthorized", "service token is not valid"));
    }
    // Above the contract's rate, a 429 with `Retry-After`, and nothing carried out.
    if sim.rate_per_sec > 0 {
        let limit = sim.rate_per_sec;
        let window = sim.recent.entry(account.to_owned()).or_default();
        while window.front().is_some_and(|t| *t + 1000 <= at_ms) {
            window.pop_front();
        }
        if window.len() >= limit {
            if let Some(last) = sim.requests.last_mut() {
                last["fault"] = json!(429);
                last["rate_limited"] = json!(true);
            }
            let mut resp = error(429, "rate_limited", "more than the account's requests per second");
            resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return Some(resp);
        }
        window.push_back(at_ms);
    }
    let pick = sim.faults.iter().position(|f| {
        f.account.as_deref().is_none_or(|a| a == account)
            && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
    });
    if let Some(f) = pick.and_then(|i| sim.faults.remove(i)).or_else(|| random_fault(sim, account)) {
        if let Some(last) = sim.requests.last_mut() {
            last["fault"] = json!(f.status);
        }
        let mut resp = error(f.status, if f.status == 429 { "rate_limited" } else { "server_error" }, "simulated");
        if let Some(secs) = f.retry_after {
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        return Some(resp);
    }
    None
}

impl crate::hub_contract::Records for Account {
    fn has(&self, kind: &str, id: &str) -> bool {
        id.parse::<u64>().ok().is_some_and(|id| self.records.get(kind).is_some_and(|m| m.contains_key(&id)))
    }
    fn has_order_code(&self, code: &str) -> bool {
        self.records.get("orders").is_some_and(|m| m.values().any(|o| o["code"].as_str() == Some(code)))
    }
}

/// `422 validation_failed` with `error.fields`, when the contract refuses `record`.
#[allow(clippy::result_large_err)]
fn validate(kind: &str, record: &Value, partial: bool, account: Option<&Account>) -> Result<(), Response> {
    let empty = Account::default();
    crate::hub_contract::check(kind, record, partial, account.unwrap_or(&empty)).map_err(|fields| {
        let message = fields.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; ");
        let body = json!({"error": {"code": "validation_failed", "message": message, "fields": fields}});
        (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
    })
}

async fn create(
    State(state): State<Shared>,
    Path((account, seg)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = gate(&mut sim, &Method::POST, &account, &seg, &headers) {
        return r;
    }
    let Some((kind, one, _)) = resource(&seg) else { return error(404, "not_found", "no such resource") };
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "bad_request", "body is not JSON");
    };
    let record = parsed[one].clone();
    if !record.is_object() {
        return error(400, "bad_request", &format!("body must be {{\"{one}\": {{...}}}}"));
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 255) {
        return error(400, "bad_request", "Idempotency-Key must be 1 to 255 characters");
    }
    let body_text = record.to_string();
    if let Some(k) = &key {
        if let Some((seen_body, answer)) = sim.accounts.entry(account.clone()).or_default().idempotency.get(k).cloned()
        {
            if seen_body == body_text {
                return (StatusCode::OK, Json(answer)).into_response();
            }
            return error(409, "idempotency_key_reused", "this Idempotency-Key was used with another body");
        }
    }
    if let Err(r) = validate(kind, &record, false, sim.accounts.get(&account)) {
        return r;
    }
    if kind == "customers" {
        let taken = sim
            .accounts
            .get(&account)
            .and_then(|a| a.records.get("customers"))
            .is_some_and(|m| m.values().any(|c| c["phone"] == record["phone"]));
        if taken {
            return error(409, "phone_taken", "a customer with this phone already exists");
        }
    }
    sim.next_id += 1;
    let id = sim.next_id;
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let mut stored = record;
    stored["id"] = json!(id.to_string());
    stored["created_at"] = json!(now);
    stored["updated_at"] = json!(now);
    if kind == "customers" || kind == "orders" {
        stored["origin"] = json!("nhanh");
    }
    let answer = json!({ one: stored });
    let acct = sim.accounts.entry(account).or_default();
    acct.records.entry(kind).or_default().insert(id, stored);
    if let Some(k) = key {
        acct.idempotency.insert(k, (body_text, answer.clone()));
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn update(
    State(state): State<Shared>,
    Path((account, seg, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = gate(&mut sim, &Method::PUT, &account, &format!("{seg}/{id}"), &headers) {
        return r;
    }
    let Some((kind, one, _)) = resource(&seg) else { return error(404, "not_found", "no such resource") };
    let Ok(id) = id.trim_end_matches(".json").parse::<u64>() else { return error(404, "not_found", "no such record") };
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "bad_request", "body is not JSON");
    };
    let Some(changes) = parsed[one].as_object().cloned() else { return error(400, "bad_request", "missing envelope") };
    // Orders, products and groups are sent whole; a customer PUT carries only what changes.
    if let Err(r) = validate(kind, &parsed[one], kind == "customers", sim.accounts.get(&account)) {
        return r;
    }
    let acct = sim.accounts.entry(account).or_default();
    if kind == "customers" {
        if let Some(phone) = changes.get("phone") {
            let clash =
                acct.records.get("customers").is_some_and(|m| m.iter().any(|(k, c)| *k != id && &c["phone"] == phone));
            if clash {
                return error(409, "phone_taken", "a customer with this phone already exists");
            }
        }
    }
    let Some(record) = acct.records.entry(kind).or_default().get_mut(&id) else {
        return error(404, "not_found", "no such record");
    };
    if kind == "orders" || kind == "products" || kind == "product_groups" {
        let keep = ["id", "created_at", "origin"].map(|k| (k, record[k].clone()));
        *record = Value::Object(changes);
        for (k, v) in keep {
            record[k] = v;
        }
    } else {
        for (k, v) in changes {
            record[k] = v;
        }
    }
    record["updated_at"] = json!(time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default());
    (StatusCode::OK, Json(json!({ one: record.clone() }))).into_response()
}

async fn list(
    State(state): State<Shared>,
    Path((account, seg)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = gate(&mut sim, &Method::GET, &account, &seg, &headers) {
        return r;
    }
    let Some((kind, _, many)) = resource(&seg) else { return error(404, "not_found", "no such resource") };
    let page = match q.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => return error(400, "bad_request", "page must be a positive integer"),
    };
    let limit = match q.get("limit").map(|p| p.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return error(400, "bad_request", "limit must be between 1 and 100"),
    };
    if let Some(phone) = q.get("phone") {
        if !crate::hub_contract::is_hub_phone(phone) {
            return error(400, "bad_request", "phone must be in the form 0XXXXXXXXX");
        }
    }
    for stamp in ["created_at_from", "updated_at_from", "updated_at_to"] {
        if q.get(stamp).is_some_and(|t| !crate::hub_contract::is_utc_timestamp(t)) {
            return error(400, "bad_request", &format!("{stamp} must be an ISO-8601 UTC timestamp"));
        }
    }
    let empty = BTreeMap::new();
    let records = sim.accounts.get(&account).and_then(|a| a.records.get(kind)).unwrap_or(&empty);
    let matching: Vec<&Value> = records
        .values()
        .filter(|r| q.get("phone").is_none_or(|p| r["phone"].as_str() == Some(p)))
        .filter(|r| q.get("origin").is_none_or(|o| r["origin"].as_str() == Some(o)))
        .filter(|r| q.get("created_at_from").is_none_or(|f| r["created_at"].as_str().is_some_and(|c| c >= f.as_str())))
        .collect();
    let has_more = matching.len() > page * limit;
    let items: Vec<Value> = matching.into_iter().skip((page - 1) * limit).take(limit).cloned().collect();
    Json(json!({ many: items, "has_more": has_more })).into_response()
}

async fn ctl_session(State(state): State<Shared>, Json(s): Json<Session>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let exp = unix_now(0) + s.expires_in_secs.unwrap_or(3600);
    sim.sessions.insert(s.token.clone(), (s, exp));
    Json(json!({"ok": true}))
}

/// A fault for this call, if the dice of `/_sim/faults/rate` say so.
fn random_fault(sim: &HubSim, account: &str) -> Option<Fault> {
    let rate = sim.fault_rate.as_ref().filter(|r| r.account.as_deref().is_none_or(|a| a == account))?;
    let mut dice = [0u8; 4];
    getrandom::fill(&mut dice).ok()?;
    let dice = u32::from_le_bytes(dice);
    if dice % 100 >= rate.percent || rate.statuses.is_empty() {
        return None;
    }
    let status = rate.statuses[(dice / 100) as usize % rate.statuses.len()];
    Some(Fault {
        status,
        retry_after: (status == 429).then_some(rate.retry_after).flatten(),
        account: None,
        method: None,
    })
}

async fn ctl_fault_rate(State(state): State<Shared>, Json(b): Json<FaultRate>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.fault_rate = (b.percent > 0).then_some(b);
    Json(json!({"ok": true}))
}

async fn ctl_faults(State(state): State<Shared>, Json(faults): Json<Vec<Fault>>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.faults.extend(faults);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct ClearBody {
    account: Option<String>,
}

async fn ctl_clear_faults(State(state): State<Shared>, Json(b): Json<ClearBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.faults.retain(|f| b.account.is_some() && f.account != b.account);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct HookBody {
    url: String,
    secret: String,
}

async fn ctl_hook(State(state): State<Shared>, Json(h): Json<HookBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.hook = Some((h.url, h.secret));
    Json(json!({"ok": true}))
}

async fn ctl_requests(State(state): State<Shared>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({"requests": sim.requests}))
}

async fn ctl_account(State(state): State<Shared>, Path(account): Path<String>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = serde_json::Map::new();
    for kind in ["product_groups", "products", "customers", "orders"] {
        let items: Vec<Value> = sim
            .accounts
            .get(&account)
            .and_then(|a| a.records.get(kind))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        out.insert(kind.into(), json!(items));
    }
    Json(Value::Object(out))
}

/// Creates a record in the Hub itself (`origin: hub`) and sends the Hub event to the connector.
/// `?hook=false` on a Hub-created record: the event is lost (only the scheduled pass can find the record).
#[derive(Deserialize)]
struct CreateQuery {
    #[serde(default = "yes")]
    hook: bool,
}

fn yes() -> bool {
    true
}

async fn ctl_create_origin_hub(
    State(state): State<Shared>,
    Path((account, seg)): Path<(String, String)>,
    Query(q): Query<CreateQuery>,
    Json(mut record): Json<Value>,
) -> Response {
    let (event, hook) = {
        let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
        let Some((kind, one, _)) = resource(&seg) else { return error(404, "not_found", "no such resource") };
        sim.next_id += 1;
        let id = sim.next_id;
        let now =
            time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        record["id"] = json!(id.to_string());
        record["origin"] = json!("hub");
        record["created_at"] = json!(now);
        sim.accounts.entry(account.clone()).or_default().records.entry(kind).or_default().insert(id, record.clone());
        let event =
            json!({"event": format!("{one}.created"), "account_id": account, "occurred_at": now, "data": record});
        (event, sim.hook.clone().filter(|_| q.hook))
    };
    let record = event["data"].clone();
    if let Some((url, secret)) = hook {
        let body = event.to_string();
        let signature = sign(&secret, body.as_bytes());
        tokio::spawn(async move {
            let _ = reqwest::Client::new()
                .post(format!(
                    "{}/hub/hook/{}",
                    url.trim_end_matches('/'),
                    event["account_id"].as_str().unwrap_or_default()
                ))
                .header("content-type", "application/json")
                .header("x-hub-signature", format!("sha256={signature}"))
                .body(body)
                .send()
                .await;
        });
    }
    Json(json!({"ok": true, "record": record})).into_response()
}

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}
