//! Nhanh Open API simulator, v2 (nhanh-api-v2.md §5) and v3 ([`v3`], nhanh-api-v3.md §7) over one
//! store: consent redirect, single-use 10-minute access codes, token exchange per version (tokens
//! are version-bound: the other version answers `ERR_INVALID_VERSION`), the `/api/*` calls with v2
//! quirks (keyed collections, string numbers, `code: 0` errors), the per-(app, business, URL)
//! limiter with `ERR_429`, and a webhook sender with retries in the app's webhook version.
//!
//! Control API (JSON): `POST /_sim/apps`, `POST /_sim/clock`, `POST /_sim/codes/age`, `GET /_sim/tokens`, `POST /_sim/limits`,
//! `POST /_sim/businesses/{id}/{products|orders|customers}` (upsert; sends webhooks),
//! `DELETE /_sim/businesses/{id}/products/{pid}`, `PUT /_sim/businesses/{id}/categories`,
//! `GET /_sim/businesses/{id}`, `POST /_sim/webhooks`, `GET /_sim/webhooks/deliveries`,
//! `POST /_sim/faults`, `POST /_sim/tokens/revoke`, `GET /_sim/calls`.

use crate::form::fields;
use crate::unix_now;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod bills;
mod v3;

/// A registered app.
#[derive(Debug, Clone, Deserialize)]
pub struct AppConfig {
    /// App id.
    pub app_id: u64,
    /// Secret key.
    pub secret_key: String,
    /// Allowed return links (empty = any).
    #[serde(default)]
    pub redirect_urls: Vec<String>,
    /// The business that consents when the consent is automatic.
    #[serde(default)]
    pub business_id: Option<u64>,
    /// Consent without a page (tests).
    #[serde(default)]
    pub auto_consent: bool,
    /// Permissions granted.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// API paths the token may not call (`ERR_403`); a v2 path denies its v3 twin too.
    #[serde(default)]
    pub denied_paths: Vec<String>,
    /// v3 `getaccesstoken` answers `depotIds: "All"` instead of `[]`.
    #[serde(default)]
    pub depots_all: bool,
    /// v3 `customer/add` refuses a mobile it has (instead of updating that customer).
    #[serde(default)]
    pub customer_add_refuses_duplicates: bool,
}

#[derive(Debug, Clone)]
struct Code {
    app_id: u64,
    business_id: u64,
    issued_at: i64,
    used: bool,
}

#[derive(Debug, Clone)]
struct Token {
    app_id: u64,
    business_id: u64,
    expires_at: i64,
    denied_paths: HashSet<String>,
    /// 2 or 3: the API version the token belongs to.
    version: u8,
}

#[derive(Debug, Default, Clone)]
struct Business {
    products: BTreeMap<u64, Value>,
    categories: Value,
    orders: BTreeMap<u64, Value>,
    customers: BTreeMap<u64, Value>,
    shop_order_ids: HashMap<String, u64>,
    /// Retail bills (v2 shape, see [`bills`]).
    bills: BTreeMap<u64, Value>,
}

#[derive(Debug, Clone, Deserialize)]
struct WebhookConfig {
    app_id: u64,
    url: String,
    verify_token: String,
    #[serde(default = "yes")]
    enabled: bool,
    /// The app's webhook version (2 or 3); by default that of the app's newest token.
    #[serde(default)]
    version: Option<u8>,
    /// Where a v3 webhook carries the token: `header` (raw, default), `bearer`, `body` or `both`.
    #[serde(default)]
    token_in: Option<String>,
}

fn yes() -> bool {
    true
}

/// The simulator's state.
pub struct NhanhSim {
    apps: HashMap<u64, AppConfig>,
    codes: HashMap<String, Code>,
    tokens: HashMap<String, Token>,
    businesses: HashMap<u64, Business>,
    webhooks: HashMap<u64, WebhookConfig>,
    deliveries: Vec<Value>,
    limit_max: usize,
    limit_window: i64,
    app_limits: HashMap<u64, (usize, i64)>,
    windows: HashMap<(u64, u64, String), VecDeque<i64>>,
    locks: HashMap<(u64, u64, String), i64>,
    calls: Vec<Value>,
    faults: HashMap<String, VecDeque<String>>,
    clock_offset: i64,
    next_id: u64,
    retry_delays_ms: Vec<u64>,
    /// Calls of v3 list endpoints (some pages are made short while a next one follows).
    list_calls: u64,
}

type Shared = Arc<Mutex<NhanhSim>>;

impl NhanhSim {
    /// A simulator with the documented limiter (150 / 30 s) and webhook retries at `retry_delays_ms`.
    pub fn new(limit_max: usize, limit_window: i64, retry_delays_ms: Vec<u64>) -> Self {
        Self {
            apps: HashMap::new(),
            codes: HashMap::new(),
            tokens: HashMap::new(),
            businesses: HashMap::new(),
            webhooks: HashMap::new(),
            deliveries: Vec::new(),
            limit_max,
            limit_window,
            app_limits: HashMap::new(),
            windows: HashMap::new(),
            locks: HashMap::new(),
            calls: Vec::new(),
            faults: HashMap::new(),
            clock_offset: 0,
            next_id: 5_000_000,
            retry_delays_ms,
            list_calls: 0,
        }
    }

    /// Registers an app (used for the demo app of `make run`).
    pub fn add_app(&mut self, app: AppConfig) {
        self.apps.insert(app.app_id, app);
    }

    fn now(&self) -> i64 {
        unix_now(self.clock_offset)
    }
}

/// The router over a shared state.
pub fn router(sim: NhanhSim) -> Router {
    let state: Shared = Arc::new(Mutex::new(sim));
    Router::new()
        .route("/oauth", get(consent_page))
        .route("/oauth/consent", post(consent_submit))
        .route("/api/oauth/access_token", post(access_token))
        .route("/api/{module}/{action}", post(api))
        .route("/v3.0/app/getaccesstoken", post(v3::access_token))
        .route("/v3.0/{module}/{action}", post(v3::api))
        .route("/_sim/apps/{app}/uninstall", post(v3::ctl_uninstall))
        .route("/_sim/apps", post(ctl_app))
        .route("/_sim/clock", post(ctl_clock))
        .route("/_sim/codes/age", post(ctl_age_codes))
        .route("/_sim/tokens", get(ctl_tokens))
        .route("/_sim/limits", post(ctl_limits))
        .route("/_sim/faults", post(ctl_faults))
        .route("/_sim/tokens/revoke", post(ctl_revoke))
        .route("/_sim/calls", get(ctl_calls))
        .route("/_sim/webhooks", post(ctl_webhooks))
        .route("/_sim/webhooks/deliveries", get(ctl_deliveries))
        .route("/_sim/businesses/{id}", get(ctl_business))
        .route("/_sim/businesses/{id}/categories", put(ctl_categories))
        .route("/_sim/businesses/{id}/{kind}", post(ctl_upsert))
        .route("/_sim/businesses/{id}/products/{pid}", delete(ctl_delete_product))
        .route("/_sim/businesses/{id}/products/bulk", post(ctl_bulk_products))
        .route("/_sim/businesses/{id}/bills", post(bills::ctl_upsert))
        .route("/_sim/businesses/{id}/bills/bulk", post(bills::ctl_bulk))
        .route("/_sim/businesses/{id}/bills/{bid}", delete(bills::ctl_delete))
        .with_state(state)
}

fn random_text(len_bytes: usize) -> String {
    let mut buf = vec![0u8; len_bytes];
    let _ = getrandom::fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn fail(code: Option<&str>, messages: Value) -> Json<Value> {
    let mut body = json!({"code": 0, "messages": messages});
    if let Some(c) = code {
        body["errorCode"] = json!(c);
    }
    Json(body)
}

#[derive(Deserialize)]
struct ConsentQuery {
    #[serde(rename = "appId")]
    app_id: Option<String>,
    #[serde(rename = "returnLink")]
    return_link: Option<String>,
}

fn issue_code(sim: &mut NhanhSim, app_id: u64, business_id: u64) -> String {
    let code = random_text(16);
    let issued_at = sim.now();
    sim.codes.insert(code.clone(), Code { app_id, business_id, issued_at, used: false });
    code
}

fn with_code(return_link: &str, code: &str) -> String {
    let sep = if return_link.contains('?') { '&' } else { '?' };
    format!("{return_link}{sep}accessCode={code}")
}

async fn consent_page(State(state): State<Shared>, Query(q): Query<ConsentQuery>) -> Response {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let app_id = q.app_id.as_deref().and_then(|a| a.parse::<u64>().ok());
    let (Some(app_id), Some(return_link)) = (app_id, q.return_link.clone()) else {
        return (StatusCode::BAD_REQUEST, "appId and returnLink are required").into_response();
    };
    let Some(app) = sim.apps.get(&app_id).cloned() else {
        return (StatusCode::BAD_REQUEST, "unknown appId").into_response();
    };
    if !app.redirect_urls.is_empty() && !app.redirect_urls.contains(&return_link) {
        return (StatusCode::BAD_REQUEST, "returnLink is not one of the app's Redirect URLs").into_response();
    }
    if let (true, Some(business)) = (app.auto_consent, app.business_id) {
        let code = issue_code(&mut sim, app_id, business);
        return Redirect::to(&with_code(&return_link, &code)).into_response();
    }
    let business = app.business_id.unwrap_or(1);
    let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Nhanh.vn (simulator) · Cấp quyền</title></head><body>\
<h1>Nhanh.vn (simulator)</h1><p>Ứng dụng {app_id} xin quyền truy cập doanh nghiệp của bạn.</p>\
<form method=\"post\" action=\"/oauth/consent\"><input type=\"hidden\" name=\"appId\" value=\"{app_id}\">\
<input type=\"hidden\" name=\"returnLink\" value=\"{link}\"><label>Business Id <input name=\"businessId\" value=\"{business}\"></label>\
<button type=\"submit\" id=\"agree\">Đồng ý</button></form></body></html>",
        link = esc(&return_link)
    ))
    .into_response()
}

async fn consent_submit(State(state): State<Shared>, req: Request) -> Response {
    let f = fields(req).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let app_id = f.get("appId").and_then(|a| a.parse::<u64>().ok());
    let business = f.get("businessId").and_then(|a| a.parse::<u64>().ok());
    match (app_id, business, f.get("returnLink")) {
        (Some(app_id), Some(business), Some(link)) if sim.apps.contains_key(&app_id) => {
            let code = issue_code(&mut sim, app_id, business);
            Redirect::to(&with_code(link, &code)).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "appId, businessId and returnLink are required").into_response(),
    }
}

async fn access_token(State(state): State<Shared>, req: Request) -> Json<Value> {
    let f = fields(req).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    if f.get("version").map(String::as_str) != Some("2.0") {
        return fail(Some("ERR_INVALID_VERSION"), json!(["version must be 2.0"]));
    }
    let Some(app) = f.get("appId").and_then(|a| a.parse::<u64>().ok()).and_then(|a| sim.apps.get(&a).cloned()) else {
        return fail(Some("ERR_INVALID_APP_ID"), json!(["appId is invalid"]));
    };
    let code_text = f.get("accessCode").cloned().unwrap_or_default();
    let Some(code) = sim.codes.get(&code_text).cloned() else {
        return fail(None, json!(["accessCode is invalid"]));
    };
    if code.used || code.app_id != app.app_id {
        return fail(None, json!(["accessCode is invalid or already used"]));
    }
    if now - code.issued_at > 600 {
        return fail(None, json!(["accessCode has expired"]));
    }
    if f.get("secretKey") != Some(&app.secret_key) {
        return fail(None, json!(["secretKey is invalid"]));
    }
    if let Some(c) = sim.codes.get_mut(&code_text) {
        c.used = true;
    }
    let (token, expires_at) = mint_token(&mut sim, &app, code.business_id, 2);
    let expired = time::OffsetDateTime::from_unix_timestamp(expires_at + 7 * 3600)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).ok())
        .unwrap_or_default();
    Json(json!({
        "code": 1, "accessToken": token, "expiredDateTime": expired, "expiredAt": expires_at,
        "businessId": code.business_id, "depotIds": [], "permissions": app.permissions,
    }))
}

/// Checks and counts a call against the limiter; `Some(body)` is the ERR_429 answer.
fn limiter(sim: &mut NhanhSim, key: (u64, u64, String)) -> Option<Value> {
    let now = sim.now();
    if let Some(until) = sim.locks.get(&key).copied() {
        if until > now {
            // Calling while locked extends the lock (documented behaviour).
            let until = until + 5;
            sim.locks.insert(key, until);
            return Some(
                json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds": until - now,"unlockedAt": until}}),
            );
        }
        sim.locks.remove(&key);
    }
    let (max, window) = sim.app_limits.get(&key.0).copied().unwrap_or((sim.limit_max, sim.limit_window));
    let calls = sim.windows.entry(key.clone()).or_default();
    while calls.front().is_some_and(|t| *t <= now - window) {
        calls.pop_front();
    }
    if calls.len() >= max {
        let until = now + window.max(1);
        sim.locks.insert(key, until);
        return Some(
            json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds": window,"unlockedAt": until}}),
        );
    }
    calls.push_back(now);
    None
}

/// Logs a call (with whether its URL was locked) and plays the next injected fault for it, in
/// both versions: `Err` is the answer to give instead; `Ok(true)`: do the work, lose the answer.
#[allow(clippy::result_large_err)]
fn record_call(sim: &mut NhanhSim, app_id: u64, business_id: u64, path: &str) -> Result<bool, Response> {
    let now = sim.now();
    let locked = sim.locks.get(&(app_id, business_id, path.to_owned())).is_some_and(|u| *u > now);
    sim.calls
        .push(json!({"path": path, "app_id": app_id, "business_id": business_id, "at": now, "while_locked": locked}));
    let app_fault = sim.faults.get_mut(&format!("{app_id}:{path}")).and_then(VecDeque::pop_front);
    let Some(fault) = app_fault.or_else(|| sim.faults.get_mut(path).and_then(VecDeque::pop_front)) else {
        return Ok(false);
    };
    match fault.as_str() {
        // Nhanh does the work, the answer is lost on the way back.
        "commit_then_500" => Ok(true),
        "http500" => Err((StatusCode::INTERNAL_SERVER_ERROR, "simulated failure").into_response()),
        "garbage" => Err((StatusCode::OK, "<html>oops</html>").into_response()),
        other => Err(fail(Some(other), json!([format!("simulated {other}")])).into_response()),
    }
}

/// Mints an access token of `version` for (app, business), valid a year; returns it and its expiry.
fn mint_token(sim: &mut NhanhSim, app: &AppConfig, business_id: u64, version: u8) -> (String, i64) {
    let token = match version {
        2 => format!("{}{}", random_text(64), random_text(8)),
        _ => format!("{}{}", random_text(80), random_text(20)),
    };
    let expires_at = sim.now() + 365 * 86_400;
    let denied_paths = app.denied_paths.iter().cloned().collect();
    sim.tokens.insert(token.clone(), Token { app_id: app.app_id, business_id, expires_at, denied_paths, version });
    sim.businesses.entry(business_id).or_default();
    (token, expires_at)
}

async fn api(State(state): State<Shared>, Path((module, action)): Path<(String, String)>, req: Request) -> Response {
    let path = format!("/api/{module}/{action}");
    let f = fields(req).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    let app_id = f.get("appId").and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let business_id = f.get("businessId").and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let lose_answer = match record_call(&mut sim, app_id, business_id, &path) {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    if f.get("version").map(String::as_str) != Some("2.0") {
        return fail(Some("ERR_INVALID_VERSION"), json!(["version must be 2.0"])).into_response();
    }
    if !sim.apps.contains_key(&app_id) {
        return fail(Some("ERR_INVALID_APP_ID"), json!(["appId is invalid"])).into_response();
    }
    let token = f.get("accessToken").and_then(|t| sim.tokens.get(t)).cloned();
    let Some(token) = token.filter(|t| t.app_id == app_id && t.expires_at > now) else {
        return fail(Some("ERR_INVALID_ACCESS_TOKEN"), json!(["accessToken is invalid"])).into_response();
    };
    if token.version != 2 {
        return fail(Some("ERR_INVALID_VERSION"), json!(["this access token belongs to API v3.0"])).into_response();
    }
    if token.business_id != business_id {
        return fail(Some("ERR_INVALID_BUSINESS_ID"), json!(["businessId is invalid"])).into_response();
    }
    if let Some(body) = limiter(&mut sim, (app_id, business_id, path.clone())) {
        return Json(body).into_response();
    }
    if token.denied_paths.contains(&path) {
        return fail(Some("ERR_403"), json!(["You do not have permission to access this API"])).into_response();
    }
    let raw = f.get("data").cloned().unwrap_or_default();
    let data: Value = if path == "/api/product/detail" {
        json!(raw.trim())
    } else if raw.trim().is_empty() || raw.trim() == "productcategory" {
        json!({})
    } else {
        match serde_json::from_str(&raw) {
            Ok(v) => v,
            Err(_) => return fail(Some("ERR_INVALID_DATA"), json!(["data is invalid"])).into_response(),
        }
    };
    let guard = &mut *sim;
    let business = guard.businesses.entry(business_id).or_default();
    let answer = match path.as_str() {
        "/api/product/search" => product_search(business, &data),
        "/api/product/detail" => product_detail(business, &data),
        "/api/product/category" => {
            Ok(if business.categories.is_null() { json!([]) } else { business.categories.clone() })
        }
        "/api/order/index" => order_index(business, &data, now),
        "/api/order/add" => {
            guard.next_id += 1;
            order_add(business, &data, guard.next_id, now)
        }
        "/api/order/update" => order_update(business, &data, now),
        "/api/customer/search" => customer_search(business, &data),
        "/api/customer/add" => {
            let next = &mut guard.next_id;
            customer_add(business, &data, next)
        }
        "/api/bill/search" => bills::search(business, &data),
        _ => Err(fail(None, json!(["unknown API"]))),
    };
    // Nhanh sends order webhooks for every order, also those pushed through the API.
    let event = match (path.as_str(), &answer) {
        ("/api/order/add", Ok(d)) => num(&d["orderId"]).map(|id| ("orderAdd", id)),
        ("/api/order/update", Ok(d)) => num(&d["orderId"]).map(|id| ("orderUpdate", id)),
        _ => None,
    };
    let hooks = hooks_for(&sim);
    let event = event.and_then(|(name, id)| {
        let order = sim.businesses.get(&business_id)?.orders.get(&(id as u64))?.clone();
        let mut data = order;
        data["orderId"] = json!(id);
        data["status"] = data["statusCode"].clone();
        Some((name, data))
    });
    drop(sim);
    if let Some((name, data)) = event {
        send_event(&state, &hooks, business_id, name, data);
    }
    if lose_answer {
        return (StatusCode::INTERNAL_SERVER_ERROR, "simulated: answer lost").into_response();
    }
    match answer {
        Ok(data) => Json(json!({"code": 1, "messages": [], "data": data})).into_response(),
        Err(body) => body.into_response(),
    }
}

fn num(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn page_args(data: &Value, max: i64, default: i64) -> Result<(usize, usize), Json<Value>> {
    let page = num(&data["page"]).unwrap_or(1).max(1) as usize;
    let icpp = num(&data["icpp"]).unwrap_or(default);
    if icpp > max || icpp < 1 {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"icpp": format!("icpp must be between 1 and {max}")}),
        ));
    }
    Ok((page, icpp as usize))
}

fn keyed(items: Vec<(&u64, &Value)>) -> Value {
    if items.is_empty() {
        return json!([]);
    }
    Value::Object(items.into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Map<String, Value>>())
}

fn parse_dt(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let dt = time::PrimitiveDateTime::parse(
        s,
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(dt.assume_offset(time::macros::offset!(+7)).unix_timestamp())
}

fn parse_date(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(d.midnight().assume_offset(time::macros::offset!(+7)).unix_timestamp())
}

fn product_search(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (page, icpp) = page_args(data, 50, 20)?;
    let from = parse_dt(&data["updatedDateTimeFrom"]);
    let to = parse_dt(&data["updatedDateTimeTo"]);
    let matching: Vec<(&u64, &Value)> = b
        .products
        .iter()
        .filter(|(_, p)| {
            let updated = num(&p["_updatedAt"]).unwrap_or(0);
            from.is_none_or(|f| updated >= f) && to.is_none_or(|t| updated <= t) && p["_deleted"] != json!(true)
        })
        .collect();
    let total_pages = matching.len().div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    Ok(json!({"totalPages": total_pages, "currentPage": page, "products": keyed(slice)}))
}

fn product_detail(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let id = num(data).unwrap_or(0) as u64;
    let Some(p) = b.products.get(&id).filter(|p| p["_deleted"] != json!(true)) else {
        return Err(fail(None, json!(["product not found"])));
    };
    let mut out = Map::new();
    out.insert(id.to_string(), p.clone());
    for (cid, child) in &b.products {
        if num(&child["parentId"]) == Some(id as i64) {
            out.insert(cid.to_string(), child.clone());
        }
    }
    Ok(Value::Object(out))
}

fn order_index(b: &Business, data: &Value, now: i64) -> Result<Value, Json<Value>> {
    let (page, icpp) = page_args(data, 100, 100)?;
    let by_id = num(&data["id"]);
    let upd = (parse_dt(&data["updatedDateTimeFrom"]), parse_dt(&data["updatedDateTimeTo"]));
    let created = (parse_date(&data["fromDate"]), parse_date(&data["toDate"]).map(|t| t + 86_399));
    let window_too_long = |from: Option<i64>, to: Option<i64>| match (from, to) {
        (Some(f), Some(t)) => t - f > 10 * 86_400,
        _ => false,
    };
    if window_too_long(upd.0, upd.1) || window_too_long(created.0, created.1) {
        return Err(fail(None, json!(["The date range must not exceed 10 days"])));
    }
    let matching: Vec<(&u64, &Value)> = b
        .orders
        .iter()
        .filter(|(id, o)| {
            if o["_deleted"] == json!(true) {
                return false;
            }
            if let Some(want) = by_id {
                return **id as i64 == want;
            }
            let updated = num(&o["_updatedAt"]).unwrap_or(0);
            let created_at = parse_dt(&o["createdDateTime"]).unwrap_or(0);
            if upd.0.is_some() || upd.1.is_some() {
                return upd.0.is_none_or(|f| updated >= f) && upd.1.is_none_or(|t| updated <= t);
            }
            let from = created.0.unwrap_or(now - 10 * 86_400);
            created_at >= from && created.1.is_none_or(|t| created_at <= t)
        })
        .collect();
    let total = matching.len();
    let total_pages = total.div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    Ok(json!({"totalPages": total_pages, "totalRecords": total, "page": page, "orders": keyed(slice)}))
}

fn vn_datetime(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(time::macros::offset!(+7)))
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).ok())
        .unwrap_or_default()
}

fn order_add(b: &mut Business, data: &Value, new_id: u64, now: i64) -> Result<Value, Json<Value>> {
    let Some(shop_id) = data["id"].as_str().map(str::to_owned).or_else(|| num(&data["id"]).map(|n| n.to_string()))
    else {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"id": "id is required"})));
    };
    if data["customerName"].as_str().is_none() || data["customerMobile"].as_str().is_none() {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"customerMobile": "customerName and customerMobile are required"}),
        ));
    }
    if shop_id.is_empty() || shop_id.chars().count() > 36 {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"id": "id must be 1 to 36 characters"})));
    }
    if let Some(status) = data["status"].as_str() {
        if !["New", "Confirming", "Confirmed"].contains(&status) {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({"status": "status must be New, Confirming or Confirmed"}),
            ));
        }
    }
    // nhanh-api-v2.md §3.5: productList is required; each line needs id, quantity and price, a
    // Nhanh product needs idNhanh, and an unknown product needs a name to be created.
    let Some(lines) = data["productList"].as_array().filter(|l| !l.is_empty()) else {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"productList": "productList is required"})));
    };
    for (i, l) in lines.iter().enumerate() {
        let has_id = l["id"].as_str().is_some_and(|s| !s.is_empty()) || num(&l["id"]).is_some();
        let quantity = l["quantity"].as_f64().or_else(|| l["quantity"].as_str().and_then(|q| q.trim().parse().ok()));
        if !has_id || quantity.is_none_or(|q| q <= 0.0) || num(&l["price"]).is_none() {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("productList.{i}"): "id, quantity and price are required"}),
            ));
        }
        let known = num(&l["idNhanh"]).is_some_and(|id| b.products.contains_key(&(id as u64)));
        if !l["idNhanh"].is_null() && !known {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("productList.{i}.idNhanh"): "product not found"}),
            ));
        }
        if !known && l["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("productList.{i}.name"): "name is required for a new product"}),
            ));
        }
    }
    if b.shop_order_ids.contains_key(&shop_id) {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"id": format!("Order id {shop_id} already exists")})));
    }
    let products: Vec<Value> = data["productList"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    json!({"productId": l["idNhanh"].clone(), "productName": l["name"], "productCode": l["code"],
                    "price": l["price"].to_string(), "quantity": l["quantity"].to_string(), "discount": "0"})
                })
                .collect()
        })
        .unwrap_or_default();
    let order = json!({
        "id": new_id.to_string(), "shopOrderId": shop_id, "statusCode": data["status"].as_str().unwrap_or("New"),
        "saleChannel": "10", "customerName": data["customerName"], "customerMobile": data["customerMobile"],
        "customerEmail": data["customerEmail"], "customerAddress": data["customerAddress"],
        "moneyDiscount": "0", "moneyUsedPoints": "0", "customerShipFee": "0", "description": data["description"],
        "createdDateTime": vn_datetime(now), "products": products, "_updatedAt": now,
    });
    b.orders.insert(new_id, order);
    b.shop_order_ids.insert(shop_id, new_id);
    Ok(json!({"orderId": new_id}))
}

fn order_update(b: &mut Business, data: &Value, now: i64) -> Result<Value, Json<Value>> {
    let id = num(&data["orderId"])
        .map(|n| n as u64)
        .or_else(|| data["id"].as_str().and_then(|s| b.shop_order_ids.get(s).copied()));
    let Some(order) = id.and_then(|id| b.orders.get_mut(&id)) else {
        return Err(fail(None, json!(["order not found"])));
    };
    if let Some(status) = data["status"].as_str() {
        order["statusCode"] = json!(status);
    }
    order["_updatedAt"] = json!(now);
    Ok(json!({"orderId": id, "status": order["statusCode"]}))
}

fn customer_search(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (page, icpp) = page_args(data, 50, 10)?;
    let mobile = data["mobile"].as_str();
    let by_id = num(&data["id"]);
    let matching: Vec<(&u64, &Value)> = b
        .customers
        .iter()
        .filter(|(id, c)| {
            mobile.is_none_or(|m| c["mobile"].as_str() == Some(m)) && by_id.is_none_or(|i| **id as i64 == i)
        })
        .collect();
    let total_pages = matching.len().div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    Ok(json!({"totalPages": total_pages, "page": page, "customers": keyed(slice)}))
}

fn customer_add(b: &mut Business, data: &Value, next_id: &mut u64) -> Result<Value, Json<Value>> {
    let Some(list) = data.as_array() else {
        return Err(fail(Some("ERR_INVALID_DATA"), json!(["data must be a list of customers"])));
    };
    if list.len() > 50 {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"data": "at most 50 customers"})));
    }
    let mut ids = Map::new();
    for c in list {
        let (Some(name), Some(mobile)) = (c["name"].as_str(), c["mobile"].as_str()) else {
            return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"mobile": "name and mobile are required"})));
        };
        let id = upsert_customer(b, c, name, mobile, next_id);
        ids.insert(mobile.to_owned(), json!(id));
    }
    Ok(json!({"ids": ids}))
}

/// The customer of `mobile` created or updated from a `customer/add` item (both versions); its id.
fn upsert_customer(b: &mut Business, c: &Value, name: &str, mobile: &str, next_id: &mut u64) -> u64 {
    let existing = b.customers.iter().find(|(_, v)| v["mobile"].as_str() == Some(mobile)).map(|(k, _)| *k);
    let id = existing.unwrap_or_else(|| {
        *next_id += 1;
        *next_id
    });
    let mut record = b.customers.get(&id).cloned().unwrap_or_else(|| json!({"id": id.to_string(), "type": "1"}));
    for key in ["email", "address", "gender", "birthday"] {
        if !c[key].is_null() {
            record[key] = c[key].clone();
        }
    }
    record["name"] = json!(name);
    record["mobile"] = json!(mobile);
    b.customers.insert(id, record);
    id
}

async fn ctl_app(State(state): State<Shared>, Json(app): Json<AppConfig>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.add_app(app);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct ClockBody {
    advance_secs: i64,
}

async fn ctl_clock(State(state): State<Shared>, Json(b): Json<ClockBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.clock_offset += b.advance_secs;
    Json(json!({"offset": sim.clock_offset}))
}

#[derive(Deserialize)]
struct AgeBody {
    app_id: u64,
    secs: i64,
}

/// Makes the access codes of one app older (expiry tests without moving the whole clock).
async fn ctl_age_codes(State(state): State<Shared>, Json(b): Json<AgeBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    for code in sim.codes.values_mut().filter(|c| c.app_id == b.app_id) {
        code.issued_at -= b.secs;
    }
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct TokensQuery {
    business_id: u64,
}

/// The access tokens issued for a business (tests check they never reach a log).
async fn ctl_tokens(State(state): State<Shared>, Query(q): Query<TokensQuery>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let tokens: Vec<&String> =
        sim.tokens.iter().filter(|(_, t)| t.business_id == q.business_id).map(|(k, _)| k).collect();
    Json(json!({"tokens": tokens}))
}

#[derive(Deserialize)]
struct LimitsBody {
    max: usize,
    window_secs: i64,
    /// Only this app (all apps when absent).
    #[serde(default)]
    app_id: Option<u64>,
}

async fn ctl_limits(State(state): State<Shared>, Json(b): Json<LimitsBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    match b.app_id {
        Some(app) => {
            sim.app_limits.insert(app, (b.max, b.window_secs));
        }
        None => {
            sim.limit_max = b.max;
            sim.limit_window = b.window_secs;
        }
    }
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct FaultBody {
    path: String,
    kind: String,
    #[serde(default = "one")]
    count: usize,
    /// Only calls of this app (all apps when absent).
    #[serde(default)]
    app_id: Option<u64>,
}

fn one() -> usize {
    1
}

async fn ctl_faults(State(state): State<Shared>, Json(b): Json<FaultBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let key = match b.app_id {
        Some(app) => format!("{app}:{}", b.path),
        None => b.path,
    };
    let queue = sim.faults.entry(key).or_default();
    queue.extend(std::iter::repeat_n(b.kind, b.count));
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct RevokeBody {
    business_id: u64,
}

async fn ctl_revoke(State(state): State<Shared>, Json(b): Json<RevokeBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.tokens.retain(|_, t| t.business_id != b.business_id);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct CallsQuery {
    app_id: Option<u64>,
}

async fn ctl_calls(State(state): State<Shared>, Query(q): Query<CallsQuery>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let calls: Vec<&Value> = sim.calls.iter().filter(|c| q.app_id.is_none_or(|a| c["app_id"] == json!(a))).collect();
    let while_locked = calls.iter().filter(|c| c["while_locked"] == json!(true)).count();
    Json(json!({"calls": calls, "while_locked": while_locked}))
}

async fn ctl_business(State(state): State<Shared>, Path(id): Path<u64>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let b = sim.businesses.get(&id).cloned().unwrap_or_default();
    let vals = |m: &BTreeMap<u64, Value>| m.values().cloned().collect::<Vec<_>>();
    Json(
        json!({"products": vals(&b.products), "orders": vals(&b.orders), "customers": vals(&b.customers), "categories": b.categories}),
    )
}

async fn ctl_categories(State(state): State<Shared>, Path(id): Path<u64>, Json(tree): Json<Value>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.businesses.entry(id).or_default().categories = tree;
    Json(json!({"ok": true}))
}

/// Upserts a record as the merchant would, and sends the matching webhook to every enabled app.
async fn ctl_upsert(
    State(state): State<Shared>,
    Path((id, kind)): Path<(u64, String)>,
    Json(mut record): Json<Value>,
) -> Response {
    let (event, hooks) = {
        let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
        let now = sim.now();
        sim.next_id += 1;
        let fresh = sim.next_id;
        let business = sim.businesses.entry(id).or_default();
        let (map, key, add, update) = match kind.as_str() {
            "products" => (&mut business.products, "idNhanh", "productAdd", "productUpdate"),
            "orders" => (&mut business.orders, "id", "orderAdd", "orderUpdate"),
            "customers" => (&mut business.customers, "id", "", ""),
            _ => return (StatusCode::NOT_FOUND, "unknown kind").into_response(),
        };
        let rid = num(&record[key]).map(|n| n as u64).unwrap_or(fresh);
        record[key] = json!(rid.to_string());
        record["_updatedAt"] = json!(now);
        if kind == "orders" && record["createdDateTime"].is_null() {
            record["createdDateTime"] = json!(vn_datetime(now));
        }
        let existed = map.contains_key(&rid);
        map.insert(rid, record.clone());
        let event = match (kind.as_str(), existed) {
            ("customers", _) => None,
            ("products", _) => {
                let mut data = record.clone();
                data["productId"] = json!(rid);
                Some((if existed { update } else { add }, data))
            }
            (_, false) => {
                let mut data = record.clone();
                data["orderId"] = json!(rid);
                data["status"] = record["statusCode"].clone();
                Some((add, data))
            }
            (_, true) => Some((
                update,
                json!({"orderId": rid, "shopOrderId": record["shopOrderId"], "status": record["statusCode"]}),
            )),
        };
        (event, hooks_for(&sim))
    };
    if let Some((name, data)) = event {
        send_event(&state, &hooks, id, name, data);
    }
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct BulkBody {
    count: u64,
    start_id: u64,
}

/// Seeds a catalogue without webhooks (initial sync tests).
async fn ctl_bulk_products(State(state): State<Shared>, Path(id): Path<u64>, Json(b): Json<BulkBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    let business = sim.businesses.entry(id).or_default();
    for i in 0..b.count {
        let pid = b.start_id + i;
        business.products.insert(pid, json!({"idNhanh": pid.to_string(), "name": format!("Sản phẩm {pid}"), "code": format!("SP{pid}"),
            "price": format!("{}", 10_000 + i), "status": "Active", "parentId": "", "categoryId": "", "_updatedAt": now}));
    }
    Json(json!({"ok": true, "products": business.products.len()}))
}

async fn ctl_delete_product(State(state): State<Shared>, Path((id, pid)): Path<(u64, u64)>) -> Json<Value> {
    let hooks = {
        let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
        let now = sim.now();
        if let Some(p) = sim.businesses.entry(id).or_default().products.get_mut(&pid) {
            p["_deleted"] = json!(true);
            p["_updatedAt"] = json!(now);
        }
        hooks_for(&sim)
    };
    send_event(&state, &hooks, id, "productDelete", json!([pid]));
    Json(json!({"ok": true}))
}

fn hooks_for(sim: &NhanhSim) -> Vec<WebhookConfig> {
    sim.webhooks
        .values()
        .filter(|w| w.enabled)
        .cloned()
        .map(|mut w| {
            if w.version.is_none() {
                w.version = Some(v3::newest_token_version(sim, w.app_id));
            }
            w
        })
        .collect()
}

async fn ctl_webhooks(State(state): State<Shared>, Json(cfg): Json<WebhookConfig>) -> Json<Value> {
    let (businesses, cfg) = {
        let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
        sim.webhooks.insert(cfg.app_id, cfg.clone());
        let cfg = hooks_for(&sim).into_iter().find(|h| h.app_id == cfg.app_id).unwrap_or(cfg);
        let b: Vec<u64> = sim
            .tokens
            .values()
            .filter(|t| t.app_id == cfg.app_id)
            .map(|t| t.business_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        (b, cfg)
    };
    if cfg.enabled {
        for b in businesses {
            send_event(&state, std::slice::from_ref(&cfg), b, "webhooksEnabled", json!({}));
        }
    }
    Json(json!({"ok": true}))
}

async fn ctl_deliveries(State(state): State<Shared>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({"deliveries": sim.deliveries}))
}

/// Sends one webhook per app (only to apps whose token covers the business), retrying 3 times.
fn send_event(state: &Shared, hooks: &[WebhookConfig], business_id: u64, event: &str, data: Value) {
    let delays = state.lock().map(|s| s.retry_delays_ms.clone()).unwrap_or_default();
    for hook in hooks {
        let covered = state
            .lock()
            .map(|s| s.tokens.values().any(|t| t.app_id == hook.app_id && t.business_id == business_id))
            .unwrap_or(false);
        if !covered {
            continue;
        }
        let (body, authorization) = match hook.version {
            Some(3) => {
                let shaped =
                    state.lock().map(|s| v3::webhook_data(&s, business_id, event, &data)).unwrap_or(Value::Null);
                v3::envelope(hook, business_id, event, shaped)
            }
            _ => (
                json!({"event": event, "businessId": business_id, "webhooksVerifyToken": hook.verify_token, "data": data}),
                None,
            ),
        };
        let url = hook.url.clone();
        let state = state.clone();
        let delays = delays.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for attempt in 0..=delays.len() {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(delays[attempt - 1])).await;
                }
                let mut request = client.post(&url);
                if let Some(auth) = &authorization {
                    request = request.header(header::AUTHORIZATION.as_str(), auth.as_str());
                }
                let status = request
                    .header(header::CONTENT_TYPE.as_str(), "application/json")
                    .body(body.to_string())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                if let Ok(mut sim) = state.lock() {
                    sim.deliveries
                        .push(json!({"event": body["event"], "url": url, "attempt": attempt + 1, "status": status}));
                }
                if status == 200 {
                    break;
                }
            }
        });
    }
}
