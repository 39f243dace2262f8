//! Nhanh Open API simulator, v2 (nhanh-api-v2.md §5) and v3 ([`v3`], nhanh-api-v3.md §7) over one
//! store: consent redirect, single-use 10-minute access codes, token exchange per version (tokens
//! are version-bound: the other version answers `ERR_INVALID_VERSION`), the `/api/*` calls with v2
//! quirks (keyed collections, string numbers, `code: 0` errors), the per-(app, business, URL)
//! limiter with `ERR_429`, and a webhook sender with retries in the app's webhook version.
//!
//! Control API (JSON): `POST /_sim/apps`, `POST /_sim/clock`, `POST /_sim/codes/age`, `GET /_sim/tokens`, `POST /_sim/tokens/age`, `POST /_sim/limits`,
//! `POST /_sim/businesses/{id}/{products|orders|customers}` (upsert; sends webhooks),
//! `DELETE /_sim/businesses/{id}/products/{pid}`, `PUT /_sim/businesses/{id}/categories`,
//! `GET /_sim/businesses/{id}`, `POST /_sim/webhooks`, `GET /_sim/webhooks/deliveries`,
//! `POST /_sim/faults`, `POST /_sim/faults/rate` (random faults), `POST /_sim/tokens/revoke`,
//! `GET /_sim/calls`.

//!
//! Files: storage and the router here; [`oauth`] (consent and token exchange), [`gate`] (the
//! limiter and call log), [`v2`] (the `/api/*` calls in v2 shapes), [`v3`], [`bills`],
//! [`control`] (the `/_sim` control API) and [`webhooks`] (the sender).

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
mod control;
mod gate;
mod oauth;
mod v2;
mod v3;
mod webhooks;

use control::*;
use gate::*;
use oauth::*;
use v2::*;
use webhooks::*;

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
    /// Faults played at random on a share of calls (`POST /_sim/faults/rate`).
    fault_rate: Option<FaultRate>,
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
            fault_rate: None,
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
        .route("/_sim/tokens/age", post(ctl_age_tokens))
        .route("/_sim/limits", post(ctl_limits))
        .route("/_sim/faults", post(ctl_faults))
        .route("/_sim/faults/rate", post(ctl_fault_rate))
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
