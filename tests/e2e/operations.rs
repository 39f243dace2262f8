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
    // The first pass must not apply the order beside its webhook (two `Records` for one order).
    app.first_pass_past_orders().await;

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

/// The account's items whose sort key starts with `prefix`, as the table holds them.
async fn items_of(
    account: &str,
    prefix: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let table = stack_env().get("TABLE_NAME").cloned().unwrap_or_default();
    let client = aws_sdk_dynamodb::Client::new(&aws_sdk().await);
    let out = client
        .query()
        .table_name(table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("ACCT#{account}")))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("query the table");
    out.items.unwrap_or_default()
}

/// The connection item's data (JSON).
async fn connection_data(account: &str) -> Value {
    let items = items_of(account, "CONN").await;
    let data = items.first().and_then(|i| i.get("data")).and_then(|d| d.as_s().ok()).cloned().unwrap_or_default();
    serde_json::from_str(&data).unwrap_or(Value::Null)
}

/// The `ttl_epoch` of each item (`None`: no expiry).
fn expiries(items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]) -> Vec<Option<i64>> {
    items.iter().map(|i| i.get("ttl_epoch").and_then(|t| t.as_n().ok()).and_then(|n| n.parse().ok())).collect()
}

/// A disconnect deletes the sealed Secret Key and token at once and gives the id maps and
/// snapshots the retention period's expiry (the page says until when); a reconnect within it
/// takes the expiry back.
#[tokio::test]
async fn a_disconnect_deletes_the_secret_key_and_leaves_maps_and_snapshots_to_expire_unless_reconnected() {
    let (mut app, _token) = connected_on(Api::V3, Some(true)).await;
    let account = app.account.clone();
    merchant(&app, "products", json!({"idNhanh": 871_001, "name": "Áo", "price": "1000"})).await;
    merchant(&app, "orders", order(871_002, "0912871002")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while items_of(&account, "INT#snapshot:order").await.is_empty()
        || items_of(&account, "MAP#product").await.is_empty()
    {
        assert!(Instant::now() < deadline, "the order's snapshot and the product's map");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let before = connection_data(&account).await;
    assert!(before["secret_key_sealed"].as_str().is_some_and(|s| !s.is_empty()), "{before}");
    assert!(expiries(&items_of(&account, "MAP#").await).iter().all(Option::is_none), "no expiry while connected");

    let page = app.get(&app.page_url()).await;
    let out =
        app.post_form(&format!("/nhanhvn/connect/{account}/disconnect"), &[("csrf_token", &csrf_of(&page.body))]).await;
    assert_eq!(out.status, 303);
    // At once: no Secret Key, no access token.
    let after = connection_data(&account).await;
    assert_eq!(after["secret_key_sealed"], "", "{after}");
    assert!(after["access_token_sealed"].is_null(), "{after}");
    let (_, status) = app.status().await;
    let kept_until = status["data_kept_until"].as_str().expect("data_kept_until").to_owned();
    let kept_epoch = time::OffsetDateTime::parse(&kept_until, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
        .unix_timestamp();
    let disconnected = time::OffsetDateTime::parse(
        status["disconnected_at"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("disconnected_at");
    assert_eq!(kept_epoch - disconnected.unix_timestamp(), 30 * 86_400, "the default retention, 30 days");
    let page = app.get(&app.page_url()).await;
    assert!(page.body.contains("được giữ đến") && page.body.contains("Secret Key"), "{}", page.body);
    // The walk (a work item) gives every map and snapshot that expiry.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let maps = expiries(&items_of(&account, "MAP#").await);
        let snapshots = expiries(&items_of(&account, "INT#snapshot").await);
        if !maps.is_empty() && maps.iter().chain(&snapshots).all(|e| *e == Some(kept_epoch)) {
            break;
        }
        assert!(Instant::now() < deadline, "maps {maps:?}, snapshots {snapshots:?}, want {kept_epoch}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A reconnect within the period keeps them: the expiry is taken back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.connect().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let kept = expiries(&items_of(&account, "MAP#").await);
        if kept.iter().all(Option::is_none) && !kept.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the maps still expire after the reconnect: {kept:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(app.status().await.1["data_kept_until"].is_null());
}

/// The operators' fleet view on the stack: counts by state, and the account found by paging
/// through every connection (other tests' accounts too) with the `next` cursor.
#[tokio::test]
async fn the_fleet_view_pages_through_every_connection() {
    let (app, _token) = connected_on(Api::V3, Some(true)).await;
    let fleet = |after: Option<String>| {
        let app = &app;
        async move {
            let mut url = format!("{}/nhanhvn/connections?limit=100", stack().connector);
            if let Some(after) = after {
                url.push_str(&format!("&after={after}"));
            }
            let r = app
                .http
                .get(url)
                .header("authorization", format!("TOKEN {}", stack().status_token))
                .send()
                .await
                .expect("fleet view");
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.expect("JSON")
        }
    };
    let first = fleet(None).await;
    let counted: u64 = first["counts"].as_object().map_or(0, |c| c.values().filter_map(Value::as_u64).sum());
    assert!(counted >= 1 && first["counts_complete"] == true, "{}", first["counts"]);
    let (mut page, mut seen, mut found) = (first, 0u64, None);
    loop {
        let accounts = page["accounts"].as_array().cloned().unwrap_or_default();
        seen += accounts.len() as u64;
        found = found.or_else(|| accounts.into_iter().find(|a| a["account_id"] == json!(app.account)));
        match page["next"].as_str() {
            Some(next) => page = fleet(Some(next.to_owned())).await,
            None => break,
        }
    }
    let mine = found.expect("the account is in the fleet view");
    assert!(mine["state"] == "syncing" || mine["state"] == "active", "{mine}");
    assert!(seen >= counted, "every connection counted is on a page ({seen} of {counted})");
    let anonymous = app.http.get(format!("{}/nhanhvn/connections", stack().connector)).send().await.expect("fleet");
    assert_eq!(anonymous.status().as_u16(), 401);
}
