//! The simulator's API v3 (nhanh-api-v3.md §7), served over the same store as v2: records are kept
//! in v2 shapes and shown in v3 shapes here. It refuses what v3 refuses and keeps v3's awkward
//! parts: raw-token `Authorization` (a `Bearer ` token is refused), ids in the query, JSON bodies
//! (`ERR_INVALID_DATA` otherwise), version-bound tokens (`ERR_INVALID_VERSION`), one live token per
//! app and business (an older one dies 15 minutes after a newer is minted), opaque `next` cursors
//! that must be echoed as sent, pages shorter than `size` that still have a `next`, no totals,
//! windows over 31 days refused, `order/add` validation and `appOrderId` duplicates (answered with
//! `messages` as a map, a string or a list in turn), `customer/add` as a bare array of at most 100,
//! `depotIds: "All"`, a `warning` now and then, and webhooks in the v3 webhook shapes.

use super::{fail, limiter, num, parse_dt, send_event, Business, NhanhSim, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The most a v3 page holds.
const MAX_SIZE: i64 = 100;
/// The longest date window of `order/list` (and bills).
const MAX_WINDOW_SECS: i64 = 31 * 86_400;
/// A newer token leaves the previous one of the same app and business this long.
const SUPERSEDED_GRACE_SECS: i64 = 15 * 60;

/// v2 order status names → v3 ints (§4.1).
const ORDER_STATUSES: [(&str, i64); 18] = [
    ("New", 54),
    ("Confirming", 55),
    ("CustomerConfirming", 57),
    ("Confirmed", 56),
    ("Packing", 42),
    ("Packed", 40),
    ("ChangeDepot", 73),
    ("Pickup", 43),
    ("Shipping", 59),
    ("Success", 60),
    ("Failed", 61),
    ("Canceled", 63),
    ("Aborted", 64),
    ("CarrierCanceled", 58),
    ("SoldOut", 68),
    ("Returning", 71),
    ("Returned", 72),
    ("ConfirmReturned", 74),
];

fn order_status_int(name: &str) -> Value {
    ORDER_STATUSES.iter().find(|(n, _)| *n == name).map_or_else(|| json!(54), |(_, i)| json!(i))
}

fn order_status_name(code: i64) -> Option<&'static str> {
    ORDER_STATUSES.iter().find(|(_, i)| *i == code).map(|(n, _)| *n)
}

fn product_status_int(name: &str) -> i64 {
    match name {
        "New" => 1,
        "Inactive" => 3,
        "OutOfStock" => 4,
        _ => 2,
    }
}

/// The v3 twin of a v2 path, so a denied v2 path denies its v3 endpoint too.
fn v2_twin(path: &str) -> &'static str {
    match path {
        "/v3.0/product/list" => "/api/product/search",
        "/v3.0/product/category" => "/api/product/category",
        "/v3.0/order/list" => "/api/order/index",
        "/v3.0/order/add" => "/api/order/add",
        "/v3.0/customer/list" => "/api/customer/search",
        "/v3.0/customer/add" => "/api/customer/add",
        "/v3.0/bill/retail" | "/v3.0/bill/deleted" => "/api/bill/search",
        "/v3.0/business/depot" => "/api/store/depot",
        _ => "",
    }
}

/// The version of the newest token of `app` (3 when it has none).
pub(super) fn newest_token_version(sim: &NhanhSim, app: u64) -> u8 {
    sim.tokens.values().filter(|t| t.app_id == app).max_by_key(|t| t.expires_at).map_or(3, |t| t.version)
}

#[derive(Deserialize)]
pub(super) struct AppQuery {
    #[serde(rename = "appId")]
    app_id: Option<String>,
    #[serde(rename = "businessId")]
    business_id: Option<String>,
}

/// `POST /v3.0/app/getaccesstoken?appId=` with `{accessCode, secretKey}`.
pub(super) async fn access_token(State(state): State<Shared>, Query(q): Query<AppQuery>, body: Bytes) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    let Some(app) = q.app_id.as_deref().and_then(|a| a.parse::<u64>().ok()).and_then(|a| sim.apps.get(&a).cloned())
    else {
        return fail(Some("ERR_INVALID_APP_ID"), json!("appId is invalid"));
    };
    let Ok(f) = serde_json::from_slice::<Value>(&body) else {
        return fail(Some("ERR_INVALID_DATA"), json!("body is not valid JSON"));
    };
    let code_text = f["accessCode"].as_str().unwrap_or_default().to_owned();
    let Some(code) = sim.codes.get(&code_text).cloned() else {
        return fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"accessCode": "accessCode is invalid"}));
    };
    if code.used || code.app_id != app.app_id || now - code.issued_at > 600 {
        return fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"accessCode": "accessCode is invalid, used or expired"}));
    }
    if f["secretKey"].as_str() != Some(app.secret_key.as_str()) {
        return fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"secretKey": "secretKey is invalid"}));
    }
    if let Some(c) = sim.codes.get_mut(&code_text) {
        c.used = true;
    }
    // One live v3 token per app + business: the previous one lives 15 more minutes.
    for t in sim
        .tokens
        .values_mut()
        .filter(|t| t.version == 3 && t.app_id == app.app_id && t.business_id == code.business_id)
    {
        t.expires_at = t.expires_at.min(now + SUPERSEDED_GRACE_SECS);
    }
    let (token, expires_at) = super::mint_token(&mut sim, &app, code.business_id, 3);
    let depots = if app.depots_all { json!("All") } else { json!([]) };
    Json(
        json!({"code": 1, "data": {"accessToken": token, "version": "3.0", "expiredAt": expires_at, "businessId": code.business_id,
        "depotIds": depots, "pageIds": [], "permissions": app.permissions}}),
    )
}

/// `POST /v3.0/{module}/{action}?appId=&businessId=`, `Authorization: <token>`, JSON body.
pub(super) async fn api(
    State(state): State<Shared>,
    Path((module, action)): Path<(String, String)>,
    Query(q): Query<AppQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v3.0/{module}/{action}");
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    let app_id = q.app_id.as_deref().and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let business_id = q.business_id.as_deref().and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
    let lose_answer = match super::record_call(&mut sim, app_id, business_id, &path) {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    if !sim.apps.contains_key(&app_id) {
        return fail(Some("ERR_INVALID_APP_ID"), json!("appId is invalid")).into_response();
    }
    // The raw token, as every POS example sends it; `Bearer …` is not a token Nhanh knows.
    let raw = headers.get("authorization").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let Some(token) = sim.tokens.get(raw).cloned().filter(|t| t.app_id == app_id && t.expires_at > now) else {
        return fail(Some("ERR_INVALID_ACCESS_TOKEN"), json!("accessToken is invalid")).into_response();
    };
    if token.version != 3 {
        return fail(Some("ERR_INVALID_VERSION"), json!("this access token belongs to API v2.0")).into_response();
    }
    if token.business_id != business_id {
        return fail(Some("ERR_INVALID_BUSINESS_ID"), json!("businessId is invalid")).into_response();
    }
    if let Some(body) = limiter(&mut sim, (app_id, business_id, path.clone())) {
        return Json(body).into_response();
    }
    if token.denied_paths.contains(&path) || token.denied_paths.contains(v2_twin(&path)) {
        return fail(Some("ERR_403"), json!("You do not have permission to access this API")).into_response();
    }
    let Ok(data) = serde_json::from_slice::<Value>(&body) else {
        return fail(Some("ERR_INVALID_DATA"), json!("body is not valid JSON")).into_response();
    };
    // The call log notes the calls served (past the limiter) and the page token each sent, so a
    // test can tell a page read twice from a call that met a lock.
    if let Some(call) = sim.calls.last_mut() {
        call["served"] = json!(true);
        call["token"] = data["paginator"]["next"].clone();
        // How many ids a read by ids named (the drain's reads, told apart from window reads).
        if let Some(ids) = data["filters"]["ids"].as_array() {
            call["ids"] = json!(ids.len());
        }
    }
    sim.list_calls += 1;
    let short = sim.list_calls % 2 == 0;
    let guard = &mut *sim;
    let next_id = &mut guard.next_id;
    let business = guard.businesses.entry(business_id).or_default();
    let answer = match path.as_str() {
        "/v3.0/product/list" => product_list(business, &data, short),
        "/v3.0/product/category" => category_list(business, &data),
        "/v3.0/order/list" => order_list(business, &data, now, short),
        "/v3.0/order/add" => {
            *next_id += 1;
            order_add(business, &data, *next_id, now, app_id)
        }
        "/v3.0/customer/list" => customer_list(business, &data),
        "/v3.0/bill/retail" => super::bills::retail(business, &data, short),
        "/v3.0/bill/deleted" => super::bills::deleted(business, &data),
        "/v3.0/business/depot" => depot_list(business_id, &data),
        "/v3.0/customer/add" => {
            let refuses = guard.apps.get(&app_id).is_some_and(|a| a.customer_add_refuses_duplicates);
            customer_add(business, &data, next_id, refuses)
        }
        _ => Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!("unknown API"))),
    };
    let created = match (path.as_str(), &answer) {
        ("/v3.0/order/add", Ok(d)) => num(&d["data"]["id"]),
        _ => None,
    };
    let hooks = super::hooks_for(&sim);
    let event =
        created.and_then(|id| sim.businesses.get(&business_id)?.orders.get(&(id as u64)).cloned().map(|o| (id, o)));
    drop(sim);
    if let Some((id, mut order)) = event {
        order["orderId"] = json!(id);
        send_event(&state, &hooks, business_id, "orderAdd", order);
    }
    if lose_answer {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "simulated: answer lost").into_response();
    }
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(body) => body.into_response(),
    }
}

/// `paginator`: `size` 1–100 (`ERR_INVALID_FORM_FIELDS` otherwise); `next` absent, `""` or the
/// object this simulator gave (`{"id": <last id>}`), echoed exactly.
pub(super) fn paginator(data: &Value, default: i64) -> Result<(usize, u64), Json<Value>> {
    let p = &data["paginator"];
    let size = match &p["size"] {
        Value::Null => default,
        v => v
            .as_i64()
            .filter(|s| (1..=MAX_SIZE).contains(s))
            .ok_or_else(|| fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"paginator.size": "size must be 1 to 100"})))?,
    };
    let after = match &p["next"] {
        Value::Null => 0,
        Value::String(s) if s.is_empty() => 0,
        Value::Object(o) if o.len() == 1 => o.get("id").and_then(Value::as_u64).ok_or_else(|| {
            fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"paginator.next": "paginator.next is invalid"}))
        })?,
        _ => return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"paginator.next": "paginator.next is invalid"}))),
    };
    Ok((size as usize, after))
}

/// One page of `items` (id order) after `after`: a page may be one short while more follow (when
/// `short`); `next` names the last id given while anything follows.
pub(super) fn page_of(items: Vec<(u64, Value)>, size: usize, after: u64, short: bool) -> Value {
    let rest: Vec<(u64, Value)> = items.into_iter().filter(|(id, _)| *id > after).collect();
    let take = if short && size > 1 && rest.len() > size { size - 1 } else { size };
    let page: Vec<(u64, Value)> = rest.iter().take(take).cloned().collect();
    let more = rest.len() > page.len();
    let mut body = json!({"code": 1, "data": page.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()});
    if more {
        if let Some((last, _)) = page.last() {
            body["paginator"] = json!({"next": {"id": last}});
        }
    }
    body
}

fn ids_filter(filters: &Value) -> Result<Option<Vec<u64>>, Json<Value>> {
    match &filters["ids"] {
        Value::Null => Ok(None),
        Value::Array(list) if list.len() <= 100 => Ok(Some(list.iter().filter_map(num).map(|n| n as u64).collect())),
        _ => Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"filters.ids": "ids must be a list of at most 100"}))),
    }
}

/// A v2 product record in the `product/list` shape (string ids and float prices now and then).
fn product_item(id: u64, p: &Value) -> Value {
    let parent = num(&p["parentId"]).filter(|n| *n > 0);
    let category = num(&p["categoryId"]).filter(|n| *n > 0);
    let price = num(&p["price"]).map(|n| n as f64);
    json!({"id": id, "parentId": parent, "categoryId": category, "code": p["code"], "barcode": p["barcode"], "name": p["name"],
        "status": product_status_int(p["status"].as_str().unwrap_or("Active")), "type": 1,
        "prices": {"retail": price}, "images": {"avatar": p["image"], "others": []},
        "createdAt": p["_createdAt"].clone(), "updatedAt": p["_updatedAt"]})
}

/// A product in the webhook shape (≈ `product/detail`: nested `category`, status as text).
fn product_detail_shape(id: u64, p: &Value) -> Value {
    let category = num(&p["categoryId"]).filter(|n| *n > 0);
    json!({"id": id.to_string(), "parentId": num(&p["parentId"]).filter(|n| *n > 0), "code": p["code"], "name": p["name"],
        "status": product_status_int(p["status"].as_str().unwrap_or("Active")).to_string(),
        "category": category.map(|c| json!({"id": c})), "brand": null, "type": {"id": 1, "name": "Sản phẩm"},
        "prices": {"retail": num(&p["price"])}})
}

fn product_list(b: &Business, data: &Value, short: bool) -> Result<Value, Json<Value>> {
    let (size, after) = paginator(data, 50)?;
    let f = &data["filters"];
    let ids = ids_filter(f)?;
    let from = num(&f["updatedAtFrom"]);
    let to = num(&f["updatedAtTo"]);
    let items: Vec<(u64, Value)> = b
        .products
        .iter()
        .filter(|(id, p)| {
            let updated = num(&p["_updatedAt"]).unwrap_or(0);
            p["_deleted"] != json!(true)
                && ids.as_ref().is_none_or(|list| list.contains(id))
                && from.is_none_or(|t| updated >= t)
                && to.is_none_or(|t| updated <= t)
        })
        .map(|(id, p)| (*id, product_item(*id, p)))
        .collect();
    Ok(page_of(items, size, after, short))
}

/// The stored (v2) tree, flat with `parentId`.
/// `business/depot` (§3.11): the one depot every business of the simulator has (its bills'
/// `depotId`), named after the business so a confirmation page shows which one consented.
fn depot_list(business_id: u64, data: &Value) -> Result<Value, Json<Value>> {
    paginator(data, 100)?;
    let depot = json!({"id": 31010, "code": "K1", "name": format!("Kho DN {business_id}"),
        "location": {"cityId": 254, "cityName": "Hà Nội"}});
    let wanted = data["filters"]["ids"].as_array().is_none_or(|ids| ids.iter().any(|i| num(i) == Some(31010)));
    Ok(json!({"code": 1, "data": if wanted { json!([depot]) } else { json!([]) }}))
}

fn category_list(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (size, after) = paginator(data, 100)?;
    fn walk(nodes: &Value, parent: Option<u64>, out: &mut Vec<(u64, Value)>) {
        let list: Vec<&Value> = match nodes {
            Value::Array(a) => a.iter().collect(),
            Value::Object(m) => m.values().collect(),
            _ => vec![],
        };
        for n in list {
            let Some(id) = num(&n["id"]).map(|i| i as u64) else { continue };
            out.push((id, json!({"id": id, "parentId": parent.unwrap_or(0), "code": n["code"], "name": n["name"], "order": 1, "status": 1})));
            walk(&n["childs"], Some(id), out);
        }
    }
    let mut flat = Vec::new();
    walk(&b.categories, None, &mut flat);
    flat.sort_by_key(|(id, _)| *id);
    Ok(page_of(flat, size, after, false))
}

/// The money and lines of a stored order, v3 names.
fn order_parts(o: &Value) -> (Vec<Value>, Value, Value) {
    let lines: Vec<Value> = o["products"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|p| {
                    let qty = p["quantity"].as_str().and_then(|q| q.parse::<f64>().ok()).or_else(|| p["quantity"].as_f64()).unwrap_or(1.0);
                    let price = num(&p["price"]).unwrap_or(0);
                    let line_discount = num(&p["discount"]).unwrap_or(0);
                    json!({"productId": num(&p["productId"]), "code": p["productCode"], "name": p["productName"], "quantity": qty, "price": price,
                        "discount": (line_discount as f64 / qty.max(1.0)).round() as i64, "discountAmount": line_discount,
                        "totalAmount": (price as f64 * qty).round() as i64 - line_discount})
                })
                .collect()
        })
        .unwrap_or_default();
    let payment = json!({"discount": {"percent": 0, "amount": num(&o["moneyDiscount"]).unwrap_or(0)},
        "usedPoints": {"points": 0, "amount": num(&o["moneyUsedPoints"]).unwrap_or(0)}, "codAmount": 0});
    let carrier = json!({"id": 2, "customerShipFee": num(&o["customerShipFee"]).unwrap_or(0)});
    (lines, payment, carrier)
}

fn order_times(o: &Value) -> (i64, i64) {
    let created = parse_dt(&o["createdDateTime"]).unwrap_or(0);
    (created, num(&o["_updatedAt"]).unwrap_or(created))
}

/// A stored order in the `order/list` item shape.
fn order_item(id: u64, o: &Value) -> Value {
    let (lines, payment, carrier) = order_parts(o);
    let (created, updated) = order_times(o);
    json!({
        "info": {"id": id, "type": 1, "status": order_status_int(o["statusCode"].as_str().unwrap_or("New")), "createdAt": created, "updatedAt": updated,
            "description": o["description"], "createdById": 1, "createdByName": "Admin"},
        "channel": {"appOrderId": o["shopOrderId"], "saleChannel": num(&o["saleChannel"]), "shopId": null, "trafficSource": ""},
        "shippingAddress": {"id": 20_184_482, "name": o["customerName"], "mobile": o["customerMobile"], "email": o["customerEmail"], "address": o["customerAddress"]},
        "products": lines, "carrier": carrier, "payment": payment, "gifts": [],
    })
}

/// A stored order in the webhook shape (§5.4): staff objects, string address id, lines with `id`.
fn order_webhook_shape(id: u64, o: &Value) -> Value {
    let (lines, payment, _) = order_parts(o);
    let (created, updated) = order_times(o);
    let lines: Vec<Value> = lines
        .into_iter()
        .map(|l| json!({"id": l["productId"], "code": l["code"], "name": l["name"], "quantity": l["quantity"], "price": l["price"], "vat": {"value": 0, "amount": 0}}))
        .collect();
    json!({
        "info": {"id": id, "type": 1, "status": order_status_int(o["statusCode"].as_str().unwrap_or("New")), "createdAt": created, "updatedAt": updated},
        "createdBy": {"id": 1, "name": "Admin"}, "sale": null,
        "channel": {"appOrderId": o["shopOrderId"], "appShopId": null, "trafficSource": {"id": 1, "name": "Web"}},
        "shippingAddress": {"id": "20184482", "name": o["customerName"], "mobile": o["customerMobile"], "locationVersion": "v1"},
        "products": lines, "carrier": {"service": null, "deliveryDate": ""}, "payment": {"discount": {"type": "cash", "amount": payment["discount"]["amount"]}},
    })
}

fn order_list(b: &Business, data: &Value, now: i64, short: bool) -> Result<Value, Json<Value>> {
    let (size, after) = paginator(data, 50)?;
    let f = &data["filters"];
    let ids = ids_filter(f)?;
    let mobile = f["shippingAddress"]["mobile"].as_str().map(str::to_owned);
    let range = |from: &str, to: &str| (num(&f[from]), num(&f[to]));
    let created = range("createdAtFrom", "createdAtTo");
    let updated = range("updatedAtFrom", "updatedAtTo");
    let too_long = |(a, b): (Option<i64>, Option<i64>)| matches!((a, b), (Some(a), Some(b)) if b - a > MAX_WINDOW_SECS);
    if too_long(created) || too_long(updated) {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"filters": "the date range must not exceed 31 days"}),
        ));
    }
    // Ids and a phone lift the date rule; without any range the last 31 days by creation.
    let lifted = ids.is_some() || mobile.is_some();
    let items: Vec<(u64, Value)> = b
        .orders
        .iter()
        .filter(|(id, o)| {
            if o["_deleted"] == json!(true) {
                return false;
            }
            let (c, u) = order_times(o);
            if let Some(list) = &ids {
                return list.contains(id);
            }
            if let Some(m) = &mobile {
                if o["customerMobile"].as_str() != Some(m.as_str()) {
                    return false;
                }
            }
            if updated.0.is_some() || updated.1.is_some() {
                return updated.0.is_none_or(|t| u >= t) && updated.1.is_none_or(|t| u <= t);
            }
            if created.0.is_some() || created.1.is_some() {
                return created.0.is_none_or(|t| c >= t) && created.1.is_none_or(|t| c <= t);
            }
            lifted || c >= now - MAX_WINDOW_SECS
        })
        .map(|(id, o)| (*id, order_item(*id, o)))
        .collect();
    Ok(page_of(items, size, after, short))
}

fn vn_datetime(unix: i64) -> String {
    super::vn_datetime(unix)
}

/// `order/add`: a bare object; `channel.appOrderId`, `shippingAddress.name/mobile` and lines of
/// existing products with `id`, `price`, `quantity` are required; a repeated `appOrderId` of the
/// same app is refused (the reply's `messages` shape rotates: map, string, list).
fn order_add(b: &mut Business, data: &Value, new_id: u64, now: i64, app_id: u64) -> Result<Value, Json<Value>> {
    if !data.is_object() {
        return Err(fail(Some("ERR_INVALID_DATA"), json!("order must be an object")));
    }
    let Some(app_order_id) =
        data["channel"]["appOrderId"].as_str().filter(|s| !s.is_empty() && s.chars().count() <= 36).map(str::to_owned)
    else {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"channel.appOrderId": "channel.appOrderId is required"}),
        ));
    };
    if let Some(status) = data["info"]["status"].as_i64() {
        if ![54, 55, 56, 57].contains(&status) {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({"info.status": "status must be 54, 55, 56 or 57"}),
            ));
        }
    }
    let address = &data["shippingAddress"];
    let (Some(name), Some(mobile)) = (
        address["name"].as_str().filter(|s| !s.trim().is_empty()),
        address["mobile"].as_str().filter(|s| !s.trim().is_empty()),
    ) else {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"shippingAddress.mobile": "shippingAddress.name and shippingAddress.mobile are required"}),
        ));
    };
    let Some(lines) = data["products"].as_array().filter(|l| !l.is_empty() && l.len() <= 500) else {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"products": "products is required (1 to 500 lines)"}),
        ));
    };
    let mut stored_lines = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let id = num(&l["id"]).map(|n| n as u64);
        let Some(product) = id.and_then(|id| b.products.get(&id).filter(|p| p["_deleted"] != json!(true))) else {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("products.{i}.id"): "product does not exist"}),
            ));
        };
        let (Some(price), Some(quantity)) = (num(&l["price"]), l["quantity"].as_f64().filter(|q| *q > 0.0)) else {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({format!("products.{i}"): "price and quantity are required"}),
            ));
        };
        stored_lines.push(json!({"productId": id.map(|n| n.to_string()), "productName": product["name"], "productCode": product["code"],
            "price": price.to_string(), "quantity": quantity.to_string(), "discount": num(&l["discount"]).unwrap_or(0).to_string()}));
    }
    let key = format!("{app_id}:{app_order_id}");
    if b.shop_order_ids.contains_key(&key) {
        let text = format!("appOrderId {app_order_id} đã tồn tại");
        let messages = match new_id % 3 {
            0 => json!({"channel.appOrderId": text}),
            1 => json!(text),
            _ => json!([{"code": "DUPLICATE", "message": text}]),
        };
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), messages));
    }
    let order = json!({
        "id": new_id.to_string(), "shopOrderId": app_order_id, "statusCode": order_status_name(data["info"]["status"].as_i64().unwrap_or(54)).unwrap_or("New"),
        "saleChannel": "10", "customerName": name, "customerMobile": mobile, "customerEmail": address["email"], "customerAddress": address["address"],
        "moneyDiscount": "0", "moneyUsedPoints": "0", "customerShipFee": "0", "description": data["info"]["description"],
        "createdDateTime": vn_datetime(now), "products": stored_lines, "_updatedAt": now,
    });
    b.orders.insert(new_id, order);
    b.shop_order_ids.insert(key, new_id);
    Ok(
        json!({"code": 1, "data": {"id": new_id, "trackingUrl": null}, "warning": ["orderPrivateId is deprected, you should use appOrderId"]}),
    )
}

fn customer_item(id: u64, c: &Value) -> Value {
    json!({"id": id, "type": 1, "name": c["name"], "mobile": c["mobile"], "email": c["email"], "gender": num(&c["gender"]),
        "birthday": c["birthday"], "address": c["address"], "points": 0, "updatedAt": num(&c["_updatedAt"])})
}

fn customer_list(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (size, after) = paginator(data, 50)?;
    let f = &data["filters"];
    let ids = ids_filter(f)?;
    let mobile = f["mobile"].as_str();
    let items: Vec<(u64, Value)> = b
        .customers
        .iter()
        .filter(|(id, c)| {
            mobile.is_none_or(|m| c["mobile"].as_str() == Some(m)) && ids.as_ref().is_none_or(|l| l.contains(id))
        })
        .map(|(id, c)| (*id, customer_item(*id, c)))
        .collect();
    Ok(page_of(items, size, after, false))
}

/// `customer/add`: a bare array of at most 100 with `name` and `mobile`; a known mobile is
/// updated, or refused when the app is set to refuse duplicates.
fn customer_add(
    b: &mut Business,
    data: &Value,
    next_id: &mut u64,
    refuses_duplicates: bool,
) -> Result<Value, Json<Value>> {
    let Some(list) = data.as_array() else {
        return Err(fail(Some("ERR_INVALID_DATA"), json!("the body must be an array of customers")));
    };
    if list.is_empty() || list.len() > 100 {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"customers": "1 to 100 customers"})));
    }
    let mut out = Vec::new();
    for c in list {
        let (Some(name), Some(mobile)) = (c["name"].as_str(), c["mobile"].as_str()) else {
            return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"mobile": "name and mobile are required"})));
        };
        if c["type"].as_i64().is_some_and(|t| !(1..=2).contains(&t)) {
            return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"type": "type must be 1 or 2"})));
        }
        if refuses_duplicates && b.customers.values().any(|v| v["mobile"].as_str() == Some(mobile)) {
            return Err(fail(
                Some("ERR_INVALID_FORM_FIELDS"),
                json!({"mobile": format!("mobile {mobile} đã tồn tại")}),
            ));
        }
        let id = super::upsert_customer(b, c, name, mobile, next_id);
        out.push(json!({"id": id, "mobile": mobile}));
    }
    Ok(json!({"code": 1, "data": out}))
}

/// The v3 webhook `data` of an event whose v2 data the store layer built.
pub(super) fn webhook_data(sim: &NhanhSim, business: u64, event: &str, v2: &Value) -> Value {
    let b = sim.businesses.get(&business);
    match event {
        "orderAdd" | "orderUpdate" => {
            let id = num(&v2["orderId"]).unwrap_or(0) as u64;
            b.and_then(|b| b.orders.get(&id))
                .map_or_else(|| json!({"info": {"id": id}}), |o| order_webhook_shape(id, o))
        }
        "productAdd" | "productUpdate" => {
            let id = num(&v2["productId"]).unwrap_or(0) as u64;
            b.and_then(|b| b.products.get(&id)).map_or_else(|| json!({"id": id}), |p| product_detail_shape(id, p))
        }
        "productDelete" | "orderDelete" => match v2 {
            Value::Array(_) => v2.clone(),
            other => json!([num(&other["orderId"]).or_else(|| num(&other["productId"]))]),
        },
        "inventoryChange" => json!([{"id": 1, "available": 0, "depots": [{"id": 1, "available": 0}]}]),
        _ => Value::Null,
    }
}

/// A v3 webhook body and its `Authorization` header, the token placed as the app chose.
pub(super) fn envelope(
    hook: &super::WebhookConfig,
    business: u64,
    event: &str,
    data: Value,
) -> (Value, Option<String>) {
    let mut body = if event == "webhooksEnabled" {
        json!({"event": event})
    } else {
        json!({"event": event, "businessId": business, "data": data})
    };
    if event == "appUninstalled" {
        body = json!({"event": event, "businessId": business});
    }
    let token = hook.verify_token.clone();
    match hook.token_in.as_deref() {
        Some("bearer") => (body, Some(format!("Bearer {token}"))),
        Some("body") => {
            body["webhooksVerifyToken"] = json!(token);
            (body, None)
        }
        Some("both") => {
            body["webhooksVerifyToken"] = json!(token.clone());
            (body, Some(token))
        }
        _ => (body, Some(token)),
    }
}

#[derive(Deserialize)]
pub(super) struct UninstallBody {
    business_id: u64,
}

/// The merchant removes the app: `appUninstalled` is sent and the app's tokens die.
pub(super) async fn ctl_uninstall(
    State(state): State<Shared>,
    Path(app): Path<u64>,
    Json(b): Json<UninstallBody>,
) -> Json<Value> {
    let hooks: Vec<super::WebhookConfig> = {
        let sim = state.lock().unwrap_or_else(|e| e.into_inner());
        super::hooks_for(&sim).into_iter().filter(|h| h.app_id == app).collect()
    };
    send_event(&state, &hooks, b.business_id, "appUninstalled", Value::Null);
    // Give the event a moment to leave before the tokens go (the sender checks them).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    sim.tokens.retain(|_, t| !(t.app_id == app && t.business_id == b.business_id));
    Json(json!({"ok": true}))
}
