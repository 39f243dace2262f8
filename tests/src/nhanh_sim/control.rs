//! The `/_sim` control API: apps, clock, limits, faults, records, categories, webhooks.

use super::*;

pub(super) async fn ctl_app(State(state): State<Shared>, Json(app): Json<AppConfig>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.add_app(app);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
pub(super) struct ClockBody {
    advance_secs: i64,
}

pub(super) async fn ctl_clock(State(state): State<Shared>, Json(b): Json<ClockBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.clock_offset += b.advance_secs;
    Json(json!({"offset": sim.clock_offset}))
}

#[derive(Deserialize)]
pub(super) struct AgeBody {
    app_id: u64,
    secs: i64,
}

/// Makes the access codes of one app older (expiry tests without moving the whole clock).
pub(super) async fn ctl_age_codes(State(state): State<Shared>, Json(b): Json<AgeBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    for code in sim.codes.values_mut().filter(|c| c.app_id == b.app_id) {
        code.issued_at -= b.secs;
    }
    Json(json!({"ok": true}))
}

/// Moves the clock forward for one app's access tokens only (`secs` later for them, without
/// moving the whole simulator's clock under the tests running beside): the 15-minute rule of a
/// superseded token, tested in seconds.
pub(super) async fn ctl_age_tokens(State(state): State<Shared>, Json(b): Json<AgeBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut aged = 0;
    for token in sim.tokens.values_mut().filter(|t| t.app_id == b.app_id) {
        token.expires_at -= b.secs;
        aged += 1;
    }
    Json(json!({"aged": aged}))
}

#[derive(Deserialize)]
pub(super) struct TokensQuery {
    business_id: u64,
}

/// The access tokens issued for a business (tests check they never reach a log).
pub(super) async fn ctl_tokens(State(state): State<Shared>, Query(q): Query<TokensQuery>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let tokens: Vec<&String> =
        sim.tokens.iter().filter(|(_, t)| t.business_id == q.business_id).map(|(k, _)| k).collect();
    Json(json!({"tokens": tokens}))
}

#[derive(Deserialize)]
pub(super) struct LimitsBody {
    max: usize,
    window_secs: i64,
    /// Only this app (all apps when absent).
    #[serde(default)]
    app_id: Option<u64>,
}

pub(super) async fn ctl_limits(State(state): State<Shared>, Json(b): Json<LimitsBody>) -> Json<Value> {
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
pub(super) struct FaultBody {
    path: String,
    kind: String,
    #[serde(default = "one")]
    count: usize,
    /// Only calls of this app (all apps when absent).
    #[serde(default)]
    app_id: Option<u64>,
}

pub(super) fn one() -> usize {
    1
}

pub(super) async fn ctl_faults(State(state): State<Shared>, Json(b): Json<FaultBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let key = match b.app_id {
        Some(app) => format!("{app}:{}", b.path),
        None => b.path,
    };
    let queue = sim.faults.entry(key).or_default();
    queue.extend(std::iter::repeat_n(b.kind, b.count));
    Json(json!({"ok": true}))
}

/// Faults played at random: each call of the app (every app when absent) meets one of `kinds`
/// with a chance of `percent` %, after the queued faults. Kinds: `timeout` (the answer never
/// arrives: the connection breaks after a second), `ERR_429` (the URL is locked for a second, as
/// Nhanh's limiter does), `http500`, or any `errorCode`. `percent: 0` ends it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct FaultRate {
    pub(super) percent: u32,
    pub(super) kinds: Vec<String>,
    #[serde(default)]
    pub(super) app_id: Option<u64>,
}

pub(super) async fn ctl_fault_rate(State(state): State<Shared>, Json(b): Json<FaultRate>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.fault_rate = (b.percent > 0 && !b.kinds.is_empty()).then_some(b);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
pub(super) struct RevokeBody {
    business_id: u64,
}

pub(super) async fn ctl_revoke(State(state): State<Shared>, Json(b): Json<RevokeBody>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.tokens.retain(|_, t| t.business_id != b.business_id);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
pub(super) struct CallsQuery {
    app_id: Option<u64>,
}

pub(super) async fn ctl_calls(State(state): State<Shared>, Query(q): Query<CallsQuery>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let calls: Vec<&Value> = sim.calls.iter().filter(|c| q.app_id.is_none_or(|a| c["app_id"] == json!(a))).collect();
    let while_locked = calls.iter().filter(|c| c["while_locked"] == json!(true)).count();
    let faults = calls.iter().filter(|c| c.get("fault").is_some()).count();
    let limited = calls.iter().filter(|c| c["limited"] == json!(true)).count();
    Json(json!({"calls": calls, "while_locked": while_locked, "faults": faults, "limited": limited}))
}

pub(super) async fn ctl_business(State(state): State<Shared>, Path(id): Path<u64>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let b = sim.businesses.get(&id).cloned().unwrap_or_default();
    let vals = |m: &BTreeMap<u64, Value>| m.values().cloned().collect::<Vec<_>>();
    Json(
        json!({"products": vals(&b.products), "orders": vals(&b.orders), "customers": vals(&b.customers), "categories": b.categories}),
    )
}

pub(super) async fn ctl_categories(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    Json(tree): Json<Value>,
) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.businesses.entry(id).or_default().categories = tree;
    Json(json!({"ok": true}))
}

/// Upserts a record as the merchant would, and sends the matching webhook to every enabled app.
pub(super) async fn ctl_upsert(
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
pub(super) struct BulkBody {
    count: u64,
    start_id: u64,
}

/// Seeds a catalogue without webhooks (initial sync tests).
pub(super) async fn ctl_bulk_products(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    Json(b): Json<BulkBody>,
) -> Json<Value> {
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

pub(super) async fn ctl_delete_product(State(state): State<Shared>, Path((id, pid)): Path<(u64, u64)>) -> Json<Value> {
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
