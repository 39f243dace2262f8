//! Retail bills in the simulator (R14): stored once, served in v2's `bill/search` shape (keyed,
//! string numbers, `relatedBillId`) and v3's `bill/retail` shape (`customer{…}`, `related{…}`,
//! line `amount`, `payment{…}`), with v3's `bill/deleted` log and its 31-day window. No webhook is
//! sent for bills (Nhanh sends none).
//!
//! Control API: `POST /_sim/businesses/{id}/bills` (`{id, type: 2 sale | 1 return, customerName,
//! customerMobile, products: [{id, code, name, quantity, price, discount (the line's)}], discount,
//! usedPointsMoney, relatedBillId, orderId, createdAt}`), `POST /_sim/businesses/{id}/bills/bulk`
//! (`{count, start_id}`, sales spread over today) and `DELETE /_sim/businesses/{id}/bills/{bid}`.

use super::{fail, num, Business, Shared};
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The longest v3 date range (31 days, inclusive).
const MAX_DAYS: i64 = 31;

fn vn_date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| t.to_offset(time::macros::offset!(+7)).date())
        .ok()
        .and_then(|d| d.format(time::macros::format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_default()
}

fn date_of(v: &Value) -> Option<time::Date> {
    time::Date::parse(v.as_str()?, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// The stored bill from a control call (the v2 shape, plus `_createdAt`).
fn stored(id: u64, b: &Value, now: i64) -> Value {
    let created = num(&b["createdAt"]).unwrap_or(now);
    json!({"id": id.to_string(), "type": num(&b["type"]).unwrap_or(2).to_string(), "mode": "2", "date": vn_date(created),
        "createdDateTime": super::vn_datetime(created), "customerName": b["customerName"], "customerMobile": b["customerMobile"],
        "discount": num(&b["discount"]).unwrap_or(0).to_string(), "moneyUsedPoints": num(&b["usedPointsMoney"]).unwrap_or(0).to_string(),
        "relatedBillId": b["relatedBillId"], "orderId": b["orderId"], "description": b["description"],
        "products": b["products"].clone(), "_createdAt": created})
}

/// Bills of the dates `fromDate`–`toDate` (both required here), not deleted, id order.
fn in_range<'a>(
    b: &'a Business,
    data: &Value,
    max_days: Option<i64>,
) -> Result<Vec<(&'a u64, &'a Value)>, Json<Value>> {
    let (Some(from), Some(to)) = (date_of(&data["fromDate"]), date_of(&data["toDate"])) else {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"fromDate": "fromDate and toDate (yyyy-mm-dd) are required"}),
        ));
    };
    if max_days.is_some_and(|m| (to - from).whole_days() + 1 > m) || to < from {
        return Err(fail(Some("ERR_INVALID_FORM_FIELDS"), json!({"toDate": "the date range must not exceed 31 days"})));
    }
    Ok(b.bills
        .iter()
        .filter(|(_, bill)| {
            bill["_deleted"] != json!(true) && date_of(&bill["date"]).is_some_and(|d| d >= from && d <= to)
        })
        .collect())
}

/// v2 `bill/search` (mode 2): `{totalPages, page, bill: {id: bill}}`; `icpp` at most 20 (v1).
pub(super) fn search(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (page, icpp) = super::page_args(data, 20, 20)?;
    if num(&data["mode"]).is_some_and(|m| m != 2) {
        return Ok(json!({"totalPages": 0, "page": page, "bill": []}));
    }
    let matching = in_range(b, data, None)?;
    let total_pages = matching.len().div_ceil(icpp);
    let slice: Vec<(&u64, &Value)> = matching.into_iter().skip((page - 1) * icpp).take(icpp).collect();
    let keyed: Map<String, Value> = slice.into_iter().map(|(k, v)| (k.to_string(), strip(v))).collect();
    Ok(
        json!({"totalPages": total_pages, "page": page, "bill": if keyed.is_empty() { json!([]) } else { Value::Object(keyed) }}),
    )
}

fn strip(v: &Value) -> Value {
    let mut out = v.clone();
    if let Some(o) = out.as_object_mut() {
        o.retain(|k, _| !k.starts_with('_'));
    }
    out
}

/// A stored bill in v3's `bill/retail` item shape.
fn v3_item(id: u64, bill: &Value) -> Value {
    let lines: Vec<Value> = bill["products"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|p| {
                    let qty = p["quantity"].as_f64().or_else(|| p["quantity"].as_str().and_then(|q| q.parse().ok())).unwrap_or(1.0);
                    let price = num(&p["price"]).unwrap_or(0);
                    let discount = num(&p["discount"]).unwrap_or(0);
                    json!({"id": num(&p["id"]), "code": p["code"], "name": p["name"], "quantity": qty, "price": price as f64,
                        "discount": (discount as f64 / qty.max(1.0)), "vat": {"percent": 0, "amount": 0},
                        "amount": (price as f64 * qty).round() as i64 - discount})
                })
                .collect()
        })
        .unwrap_or_default();
    let related = num(&bill["relatedBillId"]).map(|r| json!({"type": 1, "billId": r})).unwrap_or(Value::Null);
    json!({"id": id, "orderId": num(&bill["orderId"]), "depotId": 31010, "date": bill["date"], "type": num(&bill["type"]),
        "createdAt": bill["_createdAt"], "related": related,
        "customer": {"id": 1, "name": bill["customerName"], "mobile": bill["customerMobile"]}, "sale": {"id": 1, "name": "Thu ngân"},
        "products": lines,
        "payment": {"discount": num(&bill["discount"]).unwrap_or(0), "usedPoints": {"points": 0, "amount": num(&bill["moneyUsedPoints"]).unwrap_or(0)}},
        "description": bill["description"]})
}

/// v3 `bill/retail`: `fromDate`/`toDate` at most 31 days apart, cursor paging.
pub(super) fn retail(b: &Business, data: &Value, short: bool) -> Result<Value, Json<Value>> {
    let (size, after) = super::v3::paginator(data, 50)?;
    // Only the page and one more are shaped (enough for `page_of` to know a next page follows).
    let items: Vec<(u64, Value)> = in_range(b, &data["filters"], Some(MAX_DAYS))?
        .into_iter()
        .filter(|(id, _)| **id > after)
        .take(size + 1)
        .map(|(id, bill)| (*id, v3_item(*id, bill)))
        .collect();
    Ok(super::v3::page_of(items, size, after, short))
}

/// v3 `bill/deleted`: the bills deleted between `createdAtFrom` and `createdAtTo` (Unix seconds).
pub(super) fn deleted(b: &Business, data: &Value) -> Result<Value, Json<Value>> {
    let (size, after) = super::v3::paginator(data, 100)?;
    let f = &data["filters"];
    let (from, to) = (num(&f["createdAtFrom"]), num(&f["createdAtTo"]));
    if matches!((from, to), (Some(a), Some(b)) if b - a > MAX_DAYS * 86_400) {
        return Err(fail(
            Some("ERR_INVALID_FORM_FIELDS"),
            json!({"filters": "the date range must not exceed 31 days"}),
        ));
    }
    let items: Vec<(u64, Value)> = b
        .bills
        .iter()
        .filter_map(|(id, bill)| {
            let at = num(&bill["_deletedAt"])?;
            (from.is_none_or(|f| at >= f) && to.is_none_or(|t| at <= t))
                .then(|| (*id, json!({"id": id, "createdAt": at, "createdById": 1})))
        })
        .collect();
    Ok(super::v3::page_of(items, size, after, false))
}

/// `POST /_sim/businesses/{id}/bills`: upserts one bill.
pub(super) async fn ctl_upsert(State(state): State<Shared>, Path(id): Path<u64>, Json(b): Json<Value>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    sim.next_id += 1;
    let bid = num(&b["id"]).map_or(sim.next_id, |n| n as u64);
    sim.businesses.entry(id).or_default().bills.insert(bid, stored(bid, &b, now));
    Json(json!({"ok": true, "id": bid}))
}

#[derive(Deserialize)]
pub(super) struct BulkBills {
    count: u64,
    start_id: u64,
}

/// `POST /_sim/businesses/{id}/bills/bulk`: `count` sales of today, each one line.
pub(super) async fn ctl_bulk(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    Json(b): Json<BulkBills>,
) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    let business = sim.businesses.entry(id).or_default();
    for i in 0..b.count {
        let bid = b.start_id + i;
        let bill = json!({"type": 2, "customerName": "Khách lẻ", "customerMobile": format!("09{:08}", i % 500),
            "products": [{"id": 1, "code": "SP1", "name": "Trà", "quantity": 1, "price": 20_000 + i as i64, "discount": 0}]});
        business.bills.insert(bid, stored(bid, &bill, now));
    }
    Json(json!({"ok": true, "bills": business.bills.len()}))
}

/// `DELETE /_sim/businesses/{id}/bills/{bid}`: the bill leaves the lists and enters `bill/deleted`.
pub(super) async fn ctl_delete(State(state): State<Shared>, Path((id, bid)): Path<(u64, u64)>) -> Json<Value> {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    if let Some(bill) = sim.businesses.entry(id).or_default().bills.get_mut(&bid) {
        bill["_deleted"] = json!(true);
        bill["_deletedAt"] = json!(now);
    }
    Json(json!({"ok": true}))
}
