//! Issue 24, what an operator reads: the metrics (EMF documents in the functions' logs) an
//! applied order, a refused write and a Nhanh rate lock leave, with the values they caused; and
//! the data a disconnect deletes at once or leaves to expire.

use crate::helpers::*;
use crate::measure::merchant;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn order(id: u64, mobile: &str) -> Value {
    json!({"id": id, "statusCode": "New", "saleChannel": "2", "customerName": "Trần Thị Lan", "customerMobile": mobile,
        "customerAddress": "12 Lê Lợi, Hà Nội", "moneyDiscount": "0", "moneyUsedPoints": "0", "customerShipFee": "0",
        "products": [{"productId": "7001", "productName": "Áo", "productCode": "SP7001", "price": "250000", "quantity": "1", "discount": "0"}]})
}

/// The EMF documents of the functions' log (every line holding `_aws`), parsed.
fn emf_documents() -> Vec<Value> {
    let text = std::fs::read_to_string(stack().log_dir.join("functions.log")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("\"_aws\""))
        .filter_map(|l| l.find('{').and_then(|at| serde_json::from_str::<Value>(&l[at..]).ok()))
        .collect()
}

/// Waits (at most `secs`) for the EMF documents matching `check`; returns them.
async fn until_metrics(secs: u64, what: &str, check: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let found: Vec<Value> = emf_documents().into_iter().filter(|d| check(d)).collect();
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "no EMF document for {what} after {secs} s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether `doc` declares `metric` in the connector's namespace with exactly `dimensions`.
fn declares(doc: &Value, metric: &str, dimensions: &[&str]) -> bool {
    let cw = &doc["_aws"]["CloudWatchMetrics"][0];
    cw["Namespace"] == "NhanhvnConnector"
        && cw["Metrics"].as_array().is_some_and(|m| m.iter().any(|m| m["Name"] == metric))
        && cw["Dimensions"] == json!([dimensions])
        && doc["_aws"]["Timestamp"].as_i64().is_some()
}

/// The sum of a metric's values in `docs` (a value or an array of values).
fn total(docs: &[Value], metric: &str) -> f64 {
    docs.iter()
        .map(|d| match &d[metric] {
            Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
            v => v.as_f64().unwrap_or(0.0),
        })
        .sum()
}

#[tokio::test]
async fn an_applied_order_a_refused_write_and_a_rate_lock_leave_their_metrics() {
    let (app, _token) = connected_on(Api::V3, Some(true)).await;
    let account = app.account.clone();
    let of_account = |d: &Value| d["account_id"] == json!(account);

    // An applied order: one `Records` of orders applied, and its lag from intake to the Hub.
    merchant(&app, "orders", order(870_001, "0912870001")).await;
    let applied = until_metrics(60, "the applied order", |d| {
        declares(d, "Records", &["function", "stream", "outcome"])
            && of_account(d)
            && d["function"] == "processor"
            && d["stream"] == "orders"
            && d["outcome"] == "applied"
    })
    .await;
    assert_eq!(total(&applied, "Records"), 1.0, "{applied:?}");
    let lag = until_metrics(10, "the order's lag", |d| declares(d, "Lag", &["function"]) && of_account(d)).await;
    let lag_ms = total(&lag, "Lag");
    assert!(lag_ms > 0.0 && lag_ms < 60_000.0, "the lag is the order's own: {lag_ms} ms");
    let hub = until_metrics(10, "the Hub calls", |d| declares(d, "HubLatency", &["function"]) && of_account(d)).await;
    assert!(hub.iter().all(|d| d["HubLatency"].as_f64().is_some_and(|ms| ms > 0.0)), "{hub:?}");

    // A write the Hub refuses for good (422): one `Records` of orders failed. The order has no
    // phone, so the order's write is the account's next Hub call (no customer lookup first).
    app.post_json(&format!("{}/_sim/faults", stack().hub), json!([{"status": 422, "account": app.account}])).await;
    merchant(&app, "orders", order(870_002, "")).await;
    let failed = until_metrics(60, "the refused write", |d| {
        declares(d, "Records", &["function", "stream", "outcome"])
            && of_account(d)
            && d["stream"] == "orders"
            && d["outcome"] == "failed"
    })
    .await;
    assert_eq!(total(&failed, "Records"), 1.0, "{failed:?}");

    // A rate lock: one product read a 10 s window for this app, so the second meets ERR_429
    // (locked 10 s): one `NhanhRateLimited`, and the seconds locked as Nhanh said them.
    app.post_json(
        &format!("{}/_sim/limits", stack().nhanh),
        json!({"app_id": app.app_id, "max": 1, "window_secs": 10}),
    )
    .await;
    merchant(&app, "products", json!({"idNhanh": 870_101, "name": "Áo", "price": "1000"})).await;
    merchant(&app, "products", json!({"idNhanh": 870_102, "name": "Mũ", "price": "2000"})).await;
    let app_id = app.app_id.to_string();
    let of_app = |d: &Value| d["app_id"] == json!(app_id);
    let limited =
        until_metrics(60, "the rate lock", |d| declares(d, "NhanhRateLimited", &["function"]) && of_app(d)).await;
    assert!(total(&limited, "NhanhRateLimited") >= 1.0);
    let locked =
        until_metrics(10, "the seconds locked", |d| declares(d, "NhanhLockedSeconds", &["function"]) && of_app(d))
            .await;
    let first_lock = locked[0]["NhanhLockedSeconds"].as_f64().unwrap_or(0.0);
    assert!((1.0..=16.0).contains(&first_lock), "Nhanh's lock is 10 s (5 s more per call while locked): {first_lock}");
    assert_eq!(locked[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Seconds");
    let calls = until_metrics(10, "the Nhanh calls", |d| declares(d, "NhanhCalls", &["function"]) && of_app(d)).await;
    assert!(total(&calls, "NhanhCalls") >= 2.0, "the refused call counts as a call");
}
