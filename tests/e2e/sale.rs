//! `make measure` figures of issue 23 (ignored in `make test`; each asserts no time, only what
//! must hold whatever the machine: everything applied once, nothing given up, no call while
//! locked):
//! - `flash_sale`: `SALE_ORDERS` new orders (default 300) from a fifth as many customers, their
//!   webhooks sent at `SALE_RATE`/s (default 50) through the intake use case, under the documented
//!   limiter compressed to 15 calls / 3 s (10 s lock, extended while called); how long after the
//!   last webhook the last order is in the Hub, how many `order/list` calls it took.
//! - `hub_outage`: the Hub answers 503 to every call for `OUTAGE_SECS` (default 300) while 20
//!   orders arrive, then recovers; how long after the recovery everything is in the Hub, and how
//!   many records were given up.

use crate::helpers::*;
use crate::measure::{env_u64, in_process_functions, merchant, write};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn order(id: u64, mobile: &str) -> Value {
    json!({"id": id, "statusCode": "New", "saleChannel": "2", "customerName": "Khách", "customerMobile": mobile,
        "customerAddress": "12 Lê Lợi, Hà Nội", "moneyDiscount": "0", "moneyUsedPoints": "0", "customerShipFee": "30000",
        "products": [{"productId": "7001", "productName": "Áo", "productCode": "SP7001", "price": "250000", "quantity": "1", "discount": "0"}]})
}

async fn hub_orders(app: &TestApp) -> usize {
    let hub = app.get_json(&format!("{}/_sim/accounts/{}", stack().hub, app.account)).await;
    hub["orders"].as_array().map_or(0, Vec::len)
}

/// Waits until the Hub holds `n` orders of the account (at most `secs`); the seconds it took.
async fn until_hub_orders(app: &TestApp, n: usize, secs: u64) -> f64 {
    let started = Instant::now();
    while hub_orders(app).await < n {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "{} of {n} orders after {secs} s",
            hub_orders(app).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    started.elapsed().as_secs_f64()
}

/// Posts order webhooks for `ids` through the intake use case at `rate` a second (v3 shape, the
/// token in `Authorization`); returns when the last one was accepted.
async fn send_webhooks(app: &TestApp, token: &str, ids: &[u64], rate: u64) -> Instant {
    let (_boot, intake) = in_process_functions().await;
    let intake = std::sync::Arc::new(intake);
    let app_id = app.app_id.to_string();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    let mut sends = Vec::with_capacity(ids.len());
    for id in ids {
        tick.tick().await;
        let body = serde_json::to_vec(&json!({"event": "orderAdd", "businessId": app.business_id,
            "data": {"info": {"id": id, "status": 54}}}))
        .unwrap();
        let (intake, app_id, token) = (intake.clone(), app_id.clone(), token.to_owned());
        sends.push(tokio::spawn(async move { intake.nhanh_webhook(&app_id, Some(&token), &body).await.is_ok() }));
    }
    for s in sends {
        assert!(s.await.unwrap_or(false), "a webhook was refused");
    }
    Instant::now()
}

async fn nhanh_calls(app: &TestApp) -> Value {
    app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, app.app_id)).await
}

fn count_path(calls: &Value, path: &str) -> usize {
    calls["calls"].as_array().map_or(0, |l| l.iter().filter(|c| c["path"] == path).count())
}

#[tokio::test]
#[ignore = "make measure"]
async fn flash_sale() {
    let orders = env_u64("SALE_ORDERS", 300);
    let customers = (orders / 5).max(1);
    let rate = env_u64("SALE_RATE", 50);
    let (app, token) = connected_on(Api::V3, None).await;
    crate::measure::until_synced(&app).await;
    // The documented limit, compressed tenfold in time: 15 calls / 3 s per URL, a 10 s lock.
    app.post_json(
        &format!("{}/_sim/limits", stack().nhanh),
        json!({"app_id": app.app_id, "max": 15, "window_secs": 3}),
    )
    .await;
    merchant(&app, "products", json!({"idNhanh": 7001, "name": "Áo", "code": "SP7001", "price": "250000"})).await;
    let base = 300_000;
    let ids: Vec<u64> = (0..orders).map(|i| base + i).collect();
    for (i, id) in ids.iter().enumerate() {
        merchant(&app, "orders", order(*id, &format!("09{:08}", 30_000_000 + i as u64 % customers))).await;
    }
    let before = nhanh_calls(&app).await;
    let first = Instant::now();
    let last = send_webhooks(&app, &token, &ids, rate).await;
    let send_secs = (last - first).as_secs_f64();
    let after_last = until_hub_orders(&app, orders as usize, 900).await;
    let calls = nhanh_calls(&app).await;
    let reads = count_path(&calls, "/v3.0/order/list") - count_path(&before, "/v3.0/order/list");
    let hub = app.get_json(&format!("{}/_sim/accounts/{}", stack().hub, app.account)).await;
    let hub_customers = hub["customers"].as_array().map_or(0, Vec::len);
    let (_, status) = app.status().await;
    let dead = status["dead_letters"].as_array().map_or(0, Vec::len);
    let figures = json!({"orders": orders, "customers": customers, "webhooks_per_sec": rate,
        "send_secs": send_secs, "applied_secs_after_last_webhook": after_last, "order_list_calls": reads,
        "err_429": calls["limited"], "calls_while_locked": calls["while_locked"], "dead_letters": dead,
        "hub_orders": hub_orders(&app).await, "hub_customers": hub_customers});
    println!("flash sale: {figures}");
    write(&format!("flash_sale_{orders}"), &figures);
    assert_eq!(hub_customers as u64, customers, "one customer per phone");
    assert_eq!(dead, 0);
    assert_eq!(calls["while_locked"], 0);
}

#[tokio::test]
#[ignore = "make measure"]
async fn hub_outage() {
    let outage = env_u64("OUTAGE_SECS", 300);
    let orders = 20u64;
    let (app, token) = connected_on(Api::V3, None).await;
    crate::measure::until_synced(&app).await;
    merchant(&app, "products", json!({"idNhanh": 7001, "name": "Áo", "code": "SP7001", "price": "250000"})).await;
    let faults = format!("{}/_sim/faults/rate", stack().hub);
    app.post_json(&faults, json!({"percent": 100, "statuses": [503]})).await;
    let down_at = Instant::now();
    let ids: Vec<u64> = (0..orders).map(|i| 400_000 + i).collect();
    for (i, id) in ids.iter().enumerate() {
        merchant(&app, "orders", order(*id, &format!("09{:08}", 40_000_000 + i as u64 % 5))).await;
    }
    // Spread over the outage's first minute, one order every 3 s.
    for id in &ids {
        send_webhooks(&app, &token, &[*id], 1).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let left = Duration::from_secs(outage).saturating_sub(down_at.elapsed());
    tokio::time::sleep(left).await;
    let (_, during) = app.status().await;
    app.post_json(&faults, json!({"percent": 0, "statuses": [503]})).await;
    let after_recovery = until_hub_orders(&app, orders as usize, 600).await;
    let (_, status) = app.status().await;
    let dead = status["dead_letters"].as_array().map_or(0, Vec::len);
    let figures = json!({"outage_secs": outage, "orders": orders, "parked_during": during["waiting"]["parked"],
        "outage_on_status": during["hub_outage"].is_object(), "applied_secs_after_recovery": after_recovery,
        "dead_letters": dead, "hub_orders": hub_orders(&app).await});
    println!("hub outage: {figures}");
    write("hub_outage", &figures);
    assert_eq!(dead, 0);
}
