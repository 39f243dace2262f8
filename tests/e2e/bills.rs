//! In-store sales (R14) end to end on both API versions: retail bills seeded in the Nhanh
//! simulator (which sends no webhook for them, like Nhanh) reach the Hub through the scheduled
//! pass as `HD{id}` orders.

use crate::helpers::{connected_on, stack, Api, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn items(v: &Value, kind: &str) -> Vec<Value> {
    v[kind].as_array().cloned().unwrap_or_default()
}

async fn hub(app: &TestApp) -> Value {
    app.get_json(&format!("{}/_sim/accounts/{}", stack().hub, app.account)).await
}

async fn one_pass(app: &TestApp) {
    // A pass reads only whole seconds already over (its window ends 2 s before it starts).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = app
        .http
        .post(format!("{}/2015-03-31/functions/reconcile/invocations", stack().connector))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

async fn bill(app: &TestApp, record: Value) {
    app.post_json(&format!("{}/_sim/businesses/{}/bills", stack().nhanh, app.business_id), record).await;
}

async fn hub_until(app: &TestApp, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = hub(app).await;
        if check(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; Hub has {h}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn order<'a>(hub: &'a [Value], code: &str) -> Option<&'a Value> {
    hub.iter().find(|o| o["code"] == code)
}

async fn retail_bills_reach_the_hub_as_orders(api: Api) {
    let (app, _) = connected_on(api, None).await;
    let (_, status) = app.status().await;
    let connected = time::OffsetDateTime::parse(
        status["connected_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let id = 700_000 + crate::helpers::random_u64() % 100_000 * 10;
    let line = json!([{"id": 1, "code": "TRA", "name": "Trà", "quantity": 2, "price": 100_000, "discount": 10_000}]);
    // A sale with a messy phone, its return, a bill of an order, and a bill from before connecting.
    bill(&app, json!({"id": id, "type": 2, "customerName": "Ngô Thu", "customerMobile": "+84 (912) 345-601", "products": line, "discount": 5000, "usedPointsMoney": 3000})).await;
    bill(&app, json!({"id": id + 1, "type": 1, "customerName": "Ngô Thu", "customerMobile": "0912345601", "relatedBillId": id, "products": line})).await;
    bill(&app, json!({"id": id + 2, "type": 2, "customerMobile": "0912345601", "orderId": 4242, "products": line}))
        .await;
    bill(&app, json!({"id": id + 3, "type": 2, "customerMobile": "0912345601", "products": line, "createdAt": connected.unix_timestamp() - 60})).await;
    one_pass(&app).await;
    let (sale, ret) = (format!("HD{id}"), format!("HD{}", id + 1));
    let h = hub_until(&app, "the sale and the return", |h| {
        let orders = items(h, "orders");
        order(&orders, &sale).is_some() && order(&orders, &ret).is_some()
    })
    .await;
    let orders = items(&h, "orders");
    let s = order(&orders, &sale).unwrap();
    assert_eq!(
        (s["status"].as_str(), s["source_status"].as_str(), s["sale_channel"].as_str()),
        (Some("completed"), Some("RetailSale"), Some("POS"))
    );
    // 2 × 100 000 − (10 000 + 5 000) − 3 000 points
    assert_eq!(
        (s["subtotal"].as_i64(), s["discount"].as_i64(), s["shipping_fee"].as_i64(), s["total"].as_i64()),
        (Some(200_000), Some(15_000), Some(0), Some(182_000)),
        "{s}"
    );
    let r = order(&orders, &ret).unwrap();
    assert_eq!((r["status"].as_str(), r["return_of"].as_str()), (Some("returned"), Some(sale.as_str())));
    let customers = items(&h, "customers");
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(customers[0]["phone"], "0912345601");
    assert!(s["customer_id"] == customers[0]["id"] && r["customer_id"] == customers[0]["id"]);

    // Another pass re-reads the same days: nothing doubles; then the sale is deleted in Nhanh.
    one_pass(&app).await;
    app.http.delete(format!("{}/_sim/businesses/{}/bills/{id}", stack().nhanh, app.business_id)).send().await.unwrap();
    one_pass(&app).await;
    let h = hub_until(&app, "the deleted sale", |h| {
        order(&items(h, "orders"), &sale).is_some_and(|o| o["deleted"] == true)
    })
    .await;
    let orders = items(&h, "orders");
    assert_eq!(orders.len(), 2, "no bill of an order, none from before connecting, no second order: {orders:?}");
    assert!(order(&orders, &format!("HD{}", id + 2)).is_none() && order(&orders, &format!("HD{}", id + 3)).is_none());
    // The bill of an order is counted as ignored.
    app.status_until(30, "the bill counters", |s| {
        s["streams"]["bills"]["applied"].as_u64() >= Some(3) && s["streams"]["bills"]["ignored"].as_u64() >= Some(1)
    })
    .await;
}

on_both_versions!(retail_bills_reach_the_hub_as_orders);
