//! The processor end to end: merchant changes in the Nhanh simulator travel as real webhooks
//! through intake, the FIFO queue and the bridge to the processor, and end as Hub records.

use crate::helpers::{stack, stack_env, Api, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

struct Live {
    app: TestApp,
    token: String,
    api: Api,
}

/// A connected account whose Nhanh app sends webhooks to the stack.
async fn live() -> Live {
    live_on(Api::V3).await
}

/// A connected account on `api` whose Nhanh app sends webhooks (in that version) to the stack.
async fn live_on(api: Api) -> Live {
    let (app, token) = crate::helpers::connected_on(api, Some(true)).await;
    Live { app, token, api }
}

impl Live {
    async fn merchant(&self, kind: &str, record: Value) {
        self.app.post_json(&format!("{}/_sim/businesses/{}/{kind}", stack().nhanh, self.app.business_id), record).await;
    }

    async fn hub(&self) -> Value {
        self.app.get_json(&format!("{}/_sim/accounts/{}", stack().hub, self.app.account)).await
    }

    /// Waits until `check` holds on the Hub's records of the account (at most `secs`).
    async fn hub_until(&self, secs: u64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let hub = self.hub().await;
            if check(&hub) {
                return hub;
            }
            if std::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; Hub has {hub}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Posts a webhook as Nhanh would in the connection's version; `data` is written v2-style
    /// (`{"orderId": …}`, `{"productId": …}`) and reshaped for v3 (ids under `info`, id arrays for
    /// deletes, the token in `Authorization`).
    async fn post_hook(&self, event: &str, data: Value) -> u16 {
        let url = format!("{}/nhanhvn/hook/{}", stack().connector, self.app.app_id);
        let request = match self.api {
            Api::V2 => {
                let body = json!({"event": event, "businessId": self.app.business_id, "webhooksVerifyToken": self.token, "data": data});
                self.app.http.post(url).json(&body)
            }
            Api::V3 => {
                let data = match event {
                    "orderDelete" => json!([data["orderId"]]),
                    "productDelete" => json!([data["productId"]]),
                    e if e.starts_with("order") => json!({"info": {"id": data["orderId"], "status": 54}}),
                    e if e.starts_with("product") => json!({"id": data["productId"]}),
                    _ => data,
                };
                let body = json!({"event": event, "businessId": self.app.business_id, "data": data});
                self.app.http.post(url).header("authorization", &self.token).json(&body)
            }
        };
        request.send().await.unwrap().status().as_u16()
    }
}

fn order(id: u64, status: &str, mobile: &str) -> Value {
    json!({"id": id, "statusCode": status, "saleChannel": "2", "customerName": "Trần Thị Lan", "customerMobile": mobile,
        "customerEmail": "lan@example.vn", "customerAddress": "12 Lê Lợi, Hà Nội", "customerCityId": "254",
        "moneyDiscount": "10000", "moneyUsedPoints": "5000", "customerShipFee": "30000",
        "products": [{"productId": "7001", "productName": "Áo", "productCode": "SP7001", "price": "250000", "quantity": "2", "discount": "20000"}]})
}

fn items(hub: &Value, kind: &str) -> Vec<Value> {
    hub[kind].as_array().cloned().unwrap_or_default()
}

async fn products_and_orders_reach_the_hub_and_the_status_counts_them(api: Api) {
    let l = live_on(api).await;
    l.merchant("products", json!({"idNhanh": 7001, "name": "Áo", "code": "SP7001", "barcode": "893000", "price": "250000", "status": "Active"})).await;
    let hub = l.hub_until(30, "the product", |h| items(h, "products").len() == 1).await;
    assert_eq!(items(&hub, "products")[0]["price"], 250_000);
    l.merchant("products", json!({"idNhanh": 7001, "name": "Áo thun", "code": "SP7001", "barcode": "893000", "price": "260000", "status": "Active"})).await;
    l.hub_until(30, "the product update", |h| items(h, "products").first().is_some_and(|p| p["name"] == "Áo thun"))
        .await;

    l.merchant("orders", order(88_001, "New", "0912345678")).await;
    let hub = l.hub_until(30, "the order", |h| items(h, "orders").len() == 1).await;
    let o = &items(&hub, "orders")[0];
    assert_eq!(
        (o["status"].as_str(), o["source_status"].as_str(), o["code"].as_str()),
        (Some("new"), Some("New"), Some("88001"))
    );
    // 2 × 250 000 − (20 000 + 10 000) − 5 000 + 30 000
    assert_eq!(
        (o["subtotal"].as_i64(), o["discount"].as_i64(), o["shipping_fee"].as_i64(), o["total"].as_i64()),
        (Some(500_000), Some(30_000), Some(30_000), Some(495_000))
    );
    assert_eq!(o["items"][0]["product_id"], items(&hub, "products")[0]["id"], "items mapped to Hub products");
    let customers = items(&hub, "customers");
    assert_eq!(customers.len(), 1);
    assert_eq!(
        (customers[0]["phone"].as_str(), customers[0]["address"].as_str()),
        (Some("0912345678"), Some("12 Lê Lợi, Hà Nội"))
    );
    assert!(customers[0].get("city").is_none() && customers[0].get("province").is_none(), "R7: free text only");
    assert_eq!(o["customer_id"], customers[0]["id"]);

    l.merchant("orders", order(88_001, "Success", "0912345678")).await;
    l.hub_until(30, "the status change", |h| items(h, "orders").first().is_some_and(|o| o["status"] == "completed"))
        .await;
    // The counters are added once the batch is done, after its Hub writes: wait for them.
    let status = l
        .app
        .status_until(30, "the counters of the batch", |s| {
            s["streams"]["orders"]["applied"].as_u64() >= Some(2)
                && s["streams"]["products"]["applied"].as_u64() >= Some(2)
        })
        .await;
    assert!(status["streams"]["orders"]["last_applied_at"].is_string());
    assert!(status["streams"]["orders"]["last_event_at"].is_string(), "moved by the processor: {status}");
}

async fn a_deleted_product_becomes_inactive_and_a_deleted_order_is_flagged(api: Api) {
    let l = live_on(api).await;
    l.merchant("products", json!({"idNhanh": 7101, "name": "Mũ", "price": "90000", "status": "Active"})).await;
    l.hub_until(30, "the product", |h| items(h, "products").len() == 1).await;
    let r = l
        .app
        .http
        .delete(format!("{}/_sim/businesses/{}/products/7101", stack().nhanh, l.app.business_id))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    l.hub_until(30, "the product to go inactive", |h| {
        items(h, "products").first().is_some_and(|p| p["status"] == "inactive")
    })
    .await;

    l.merchant("orders", order(88_101, "New", "0912000111")).await;
    l.hub_until(30, "the order", |h| items(h, "orders").len() == 1).await;
    assert_eq!(l.post_hook("orderDelete", json!({"orderId": 88_101, "shopOrderId": ""})).await, 200);
    let hub =
        l.hub_until(30, "the deletion", |h| items(h, "orders").first().is_some_and(|o| o["deleted"] == true)).await;
    assert_eq!(items(&hub, "orders").len(), 1);
}

async fn duplicated_and_reordered_deliveries_end_in_one_record_with_the_final_state(api: Api) {
    let l = live_on(api).await;
    // The merchant's order exists in its final state; the webhooks arrive late, twice, out of order.
    l.app
        .post_json(
            &format!("{}/_sim/webhooks", stack().nhanh),
            json!({"app_id": l.app.app_id, "url": "http://127.0.0.1:9/off", "verify_token": l.token, "enabled": false}),
        )
        .await;
    l.merchant("orders", order(88_201, "Shipping", "0912000222")).await;
    for (event, data) in [
        ("orderUpdate", json!({"orderId": 88_201, "status": "Shipping"})),
        ("orderAdd", json!({"orderId": 88_201, "status": "New"})),
        ("orderUpdate", json!({"orderId": 88_201, "status": "Confirmed"})),
        ("orderAdd", json!({"orderId": 88_201, "status": "New"})),
    ] {
        assert_eq!(l.post_hook(event, data).await, 200);
    }
    l.hub_until(30, "the order in its current state", |h| {
        items(h, "orders").iter().any(|o| o["code"] == "88201" && o["status"] == "shipping")
    })
    .await;
    // The marker: the order moves on and one more webhook of its group follows the four above;
    // once its state is in the Hub, every earlier delivery has been applied.
    l.merchant("orders", order(88_201, "Success", "0912000222")).await;
    assert_eq!(l.post_hook("orderUpdate", json!({"orderId": 88_201, "status": "Success"})).await, 200);
    let hub =
        l.hub_until(30, "the marker state", |h| items(h, "orders").iter().any(|o| o["status"] == "completed")).await;
    assert_eq!(items(&hub, "orders").len(), 1, "one record");
}

async fn one_customer_whatever_the_phone_format(api: Api) {
    let l = live_on(api).await;
    for (i, phone) in ["+84 39 876 5432", "84398765432", "0398765432", "398765432", "01698765432"].iter().enumerate() {
        l.merchant("orders", order(88_300 + i as u64, "New", phone)).await;
    }
    let hub = l.hub_until(40, "five orders", |h| items(h, "orders").len() == 5).await;
    let customers = items(&hub, "customers");
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(customers[0]["phone"], "0398765432");
    assert!(items(&hub, "orders").iter().all(|o| o["customer_id"] == customers[0]["id"]));
}

async fn orders_without_a_phone_the_hub_can_store_sync_without_a_customer_link(api: Api) {
    // Issue 9 / R5: a walk-in phone (`12345`), a landline (11 digits, not the Hub's 0XXXXXXXXX)
    // and a nameless walk-in with a valid phone; the Hub simulator refuses every phone that is not
    // 0XXXXXXXXX, as the contract says, so a raw phone would lose the order.
    let l = live_on(api).await;
    l.merchant("orders", order(88_401, "Success", "12345")).await;
    l.merchant("orders", order(88_402, "Success", "+84 24 3812 3456")).await;
    let mut nameless = order(88_403, "Success", "0912 000 404");
    nameless["customerName"] = json!("");
    l.merchant("orders", nameless).await;
    let hub = l.hub_until(40, "three orders", |h| items(h, "orders").len() == 3).await;
    let orders = items(&hub, "orders");
    for code in ["88401", "88402"] {
        let o = orders.iter().find(|o| o["code"] == code).unwrap_or_else(|| panic!("order {code} missing: {orders:?}"));
        assert!(o["customer_id"].is_null() && o["customer"]["phone"].is_null(), "{o}");
        assert_eq!((o["status"].as_str(), o["total"].as_i64()), (Some("completed"), Some(495_000)));
    }
    let customers = items(&hub, "customers");
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(
        (customers[0]["phone"].as_str(), customers[0]["name"].as_str()),
        (Some("0912000404"), Some("0912000404"))
    );
    let (_, status) = l.app.status().await;
    assert_eq!(status["streams"]["orders"]["failed"].as_u64().unwrap_or(0), 0, "{status}");
}

async fn the_echo_of_a_hub_created_order_updates_it(api: Api) {
    let l = live_on(api).await;
    let env = stack_env();
    // v3's order/add takes only products Nhanh has: the Hub order is for a synced product.
    l.merchant(
        "products",
        json!({"idNhanh": 7301, "name": "Quà tặng", "code": "QUA", "price": "50000", "status": "Active"}),
    )
    .await;
    let hub = l.hub_until(30, "the product", |h| items(h, "products").len() == 1).await;
    let product_id = items(&hub, "products")[0]["id"].clone();
    l.app
        .post_json(
            &format!("{}/_sim/hook", stack().hub),
            json!({"url": stack().connector, "secret": env.get("HUB_WEBHOOK_SECRET").cloned().unwrap_or_default()}),
        )
        .await;
    let created = l.app.post_json(&format!("{}/_sim/accounts/{}/orders", stack().hub, l.app.account), json!({
        "code": "H-1", "status": "new", "customer": {"name": "Lan", "phone": "0912000333", "address": "Hà Nội"},
        "items": [{"product_id": product_id, "code": "QUA", "name": "Quà tặng", "quantity": 1, "price": 50000, "discount": 0}], "total": 50000, "note": "giao nhanh",
    })).await;
    let hub_id = created["record"]["id"].as_str().unwrap().to_owned();
    // Pushed to Nhanh once, with the Hub id as the order's id there (shopOrderId).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let nhanh_order = loop {
        let b = l.app.get_json(&format!("{}/_sim/businesses/{}", stack().nhanh, l.app.business_id)).await;
        let found: Vec<Value> = b["orders"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o["shopOrderId"] == json!(hub_id))
            .collect();
        if !found.is_empty() {
            assert_eq!(found.len(), 1);
            break found[0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "order never reached Nhanh");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Nhanh's orderAdd webhook (the echo) updates the same Hub order.
    let nhanh_id = nhanh_order["id"].as_str().unwrap().to_owned();
    let hub = l.hub_until(30, "the echo", |h| items(h, "orders").iter().any(|o| o["code"] == json!(nhanh_id))).await;
    let orders = items(&hub, "orders");
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["id"], json!(hub_id));
}

async fn hub_5xx_and_a_nhanh_rate_limit_delay_but_lose_nothing(api: Api) {
    let l = live_on(api).await;
    l.app.post_json(&format!("{}/_sim/faults", stack().hub), json!([
        {"status": 503, "account": l.app.account}, {"status": 502, "account": l.app.account}, {"status": 429, "retry_after": 2, "account": l.app.account},
    ])).await;
    // Two product reads per 4 s for this app.
    l.app
        .post_json(
            &format!("{}/_sim/limits", stack().nhanh),
            json!({"app_id": l.app.app_id, "max": 2, "window_secs": 4}),
        )
        .await;
    for id in 0..4u64 {
        l.merchant("products", json!({"idNhanh": 7400 + id, "name": format!("Sản phẩm {id}"), "price": "1000"})).await;
    }
    l.hub_until(60, "four products", |h| items(h, "products").len() == 4).await;
    let calls = l.app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, l.app.app_id)).await;
    assert_eq!(calls["while_locked"], 0, "no call while a URL was locked");
}

/// Issue 23: a record the Hub keeps refusing waits between its deliveries and, at its last one, is
/// given up as a dead letter of its account, with its reason, in the table (not the shared SQS
/// queue); once the cause is gone, **Thử lại** on the page brings it to the Hub. The refusal is a
/// 429 (a wait at each delivery): 5xx in a row would open a Hub outage instead, which parks
/// records rather than giving them up (`a_hub_outage_parks_records_…`).
#[tokio::test]
async fn a_record_given_up_is_a_dead_letter_of_its_account_and_thu_lai_applies_it() {
    let l = live().await;
    let faults: Vec<Value> =
        (0..200).map(|_| json!({"status": 429, "retry_after": 1, "account": l.app.account})).collect();
    l.app.post_json(&format!("{}/_sim/faults", stack().hub), Value::Array(faults)).await;
    l.merchant("products", json!({"idNhanh": 7501, "name": "Hộp", "price": "5000"})).await;
    // 5 deliveries (the test stack's MAX_RECEIVE_COUNT), each after the Retry-After, then given up.
    let status = l
        .app
        .status_until(90, "the product's dead letter", |s| {
            s["dead_letters"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["group_id"].as_str().is_some_and(|g| g.ends_with(":product:7501"))))
        })
        .await;
    let letter = status["dead_letters"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["group_id"].as_str().is_some_and(|g| g.ends_with(":product:7501"))))
        .cloned()
        .unwrap_or_default();
    assert!(letter["reason"].as_str().is_some_and(|r| r.contains("rate limit")), "{letter}");
    assert_eq!(letter["receive_count"], 5, "{letter}");
    assert!(items(&l.hub().await, "products").is_empty());
    l.app.post_json(&format!("{}/_sim/faults/clear", stack().hub), json!({"account": l.app.account})).await;
    let page = l.app.get(&l.app.page_url()).await;
    assert!(page.body.contains(&format!("data-message=\"{}\"", letter["message_id"].as_str().unwrap_or("?"))));
    let id = letter["message_id"].as_str().unwrap_or_default().to_owned();
    let csrf = crate::helpers::csrf_of(&page.body);
    let path = format!("/nhanhvn/connect/{}/dead-letters/retry", l.app.account);
    let pressed = l.app.post_form(&path, &[("csrf_token", &csrf), ("message_id", &id)]).await;
    assert_eq!(pressed.location.as_deref(), Some(format!("/nhanhvn/connect/{}?done=retry", l.app.account).as_str()));
    l.hub_until(60, "the product, after Thử lại", |h| items(h, "products").len() == 1).await;
    let again = l.app.post_form(&path, &[("csrf_token", &csrf), ("message_id", &id)]).await;
    assert!(again.location.is_some_and(|to| to.ends_with("done=gone")), "one press, one retry");
}

/// A body this release cannot decode names no account: the processor moves it to the SQS
/// dead-letter queue at once, and `replay-dead-letters` brings it back.
#[tokio::test]
async fn an_undecodable_body_goes_to_the_dead_letter_queue_and_the_replay_command_brings_it_back() {
    use shared::queue::WorkQueue;
    let env = stack_env();
    for (k, v) in [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")] {
        std::env::set_var(k, v);
    }
    let sdk = shared::lambda::aws_sdk_config_for(env.get("AWS_ENDPOINT_URL").map(String::as_str)).await;
    let work = shared::queue::sqs::SqsQueue::from_sdk_config(&sdk, env.get("QUEUE_URL").cloned().unwrap_or_default());
    let dlq = shared::queue::sqs::SqsQueue::from_sdk_config(&sdk, env.get("DLQ_URL").cloned().unwrap_or_default());
    let marker = format!("undecodable-{:x}", crate::helpers::random_u64());
    let body = format!(r#"{{"kind":"a_kind_of_a_newer_release","marker":"{marker}"}}"#);
    let message = shared::queue::QueueMessage { group_id: marker.clone(), dedup_id: marker.clone(), body };
    work.send(std::slice::from_ref(&message)).await.expect("queued");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while dlq.approximate_count().await.unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "the body never reached the dead-letter queue");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let printed = crate::helpers::replay_dead_letters().await;
    assert!(printed.contains("replayed"), "{printed}");
    assert!(!printed.contains("replayed 0 "), "the dead letter was there: {printed}");
}

on_both_versions!(
    products_and_orders_reach_the_hub_and_the_status_counts_them,
    a_deleted_product_becomes_inactive_and_a_deleted_order_is_flagged,
    duplicated_and_reordered_deliveries_end_in_one_record_with_the_final_state,
    one_customer_whatever_the_phone_format,
    orders_without_a_phone_the_hub_can_store_sync_without_a_customer_link,
    the_echo_of_a_hub_created_order_updates_it,
    hub_5xx_and_a_nhanh_rate_limit_delay_but_lose_nothing,
);

/// Issue 23, item 1: a flash sale's order webhooks wait in the business's backlog and are re-read
/// together. The 60 webhooks (12 customers) land while the queue's poller is held, so the one
/// drain finds them all: one `order/list` of 60 ids (not 60), one Hub customer per phone, every
/// order once, no call while locked, nothing dead-lettered.
#[tokio::test]
async fn a_flash_sale_is_read_in_batches_and_nothing_waits() {
    let l = live().await;
    // The account's first scheduled pass reads orders by window: it must be over before the
    // sale's orders exist, or it applies them itself (it did on a loaded CI machine, 15 s after
    // the connect).
    l.app.first_pass_past_orders().await;
    // The merchant's orders exist; their webhooks are posted below, all while the poller is held.
    l.app
        .post_json(
            &format!("{}/_sim/webhooks", stack().nhanh),
            json!({"app_id": l.app.app_id, "url": "http://127.0.0.1:9/off", "verify_token": l.token, "enabled": false}),
        )
        .await;
    for i in 0..60u64 {
        l.merchant("orders", order(89_000 + i, "New", &format!("09130000{:02}", i % 12))).await;
    }
    let before = l.app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, l.app.app_id)).await;
    let reads_before = order_reads(&before);
    crate::helpers::with_collector_paused(async {
        for i in 0..60u64 {
            assert_eq!(l.post_hook("orderAdd", json!({"orderId": 89_000 + i, "status": "New"})).await, 200);
        }
    })
    .await;
    let hub = l.hub_until(60, "the sale's 60 orders", |h| items(h, "orders").len() == 60).await;
    assert_eq!(items(&hub, "customers").len(), 12, "one customer per phone");
    let calls = l.app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, l.app.app_id)).await;
    assert_eq!(order_reads(&calls) - reads_before, 1, "60 changes, one read of 60 ids: {calls}");
    assert_eq!(calls["while_locked"], 0);
    // The drain counts its orders once it removed them from the backlog, just after their writes
    // (the account's first scheduled pass, when it runs meanwhile, counts the ones it applies too).
    let status = l
        .app
        .status_until(30, "60 orders counted", |s| s["streams"]["orders"]["applied"].as_u64().is_some_and(|n| n >= 60))
        .await;
    assert_eq!(status["dead_letters"], json!([]), "{status}");
    assert_eq!(status["waiting"]["orders"], 0, "{status}");
}

/// The `order/list` reads by ids (the drain's; the account's scheduled pass reads by window).
fn order_reads(calls: &Value) -> usize {
    calls["calls"]
        .as_array()
        .map_or(0, |l| l.iter().filter(|c| c["path"] == "/v3.0/order/list" && !c["ids"].is_null()).count())
}

/// Issue 23, item 3: the Hub answers 503 to every call of the account. A few failures in a row
/// open the outage; from then on each record is parked (not retried against the Hub, so none
/// spends its deliveries) and the page says so; once the Hub answers, the probe ends the outage
/// and everything applies, with no dead letter and nothing done by hand. Ignored in the suite: an
/// outage is the fleet's and would park the other tests' records; `scripts/test.sh` runs it on the
/// stack of the 2 000-product sync, after that test.
#[tokio::test]
#[ignore = "a Hub outage parks every account's records: run alone (scripts/test.sh does)"]
async fn a_hub_outage_parks_records_and_everything_applies_once_it_answers() {
    let l = live().await;
    let faults = format!("{}/_sim/faults/rate", stack().hub);
    l.app.post_json(&faults, json!({"percent": 100, "statuses": [503], "account": l.app.account})).await;
    for id in 0..6u64 {
        l.merchant("products", json!({"idNhanh": 7600 + id, "name": format!("Sản phẩm {id}"), "price": "1000"})).await;
    }
    for i in 0..3u64 {
        l.merchant("orders", order(89_600 + i, "New", "0913999000")).await;
    }
    // Six product changes and the orders' one drain (and the initial sync's page, when it met the
    // outage too): parked, with the outage on the status.
    let status = l
        .app
        .status_until(120, "seven records parked during the outage", |s| {
            s["hub_outage"].is_object() && s["waiting"]["parked"].as_u64().is_some_and(|n| n >= 7)
        })
        .await;
    assert_eq!(status["waiting"]["orders"], 3, "{status}");
    assert_eq!(status["dead_letters"], json!([]), "{status}");
    let page = l.app.get(&l.app.page_url()).await;
    assert!(page.body.contains("id=\"hub-outage\""), "the page says the Hub is out");
    l.app.post_json(&faults, json!({"percent": 0, "statuses": [503], "account": l.app.account})).await;
    let hub = l
        .hub_until(120, "every record once the Hub answers", |h| {
            items(h, "products").len() == 6 && items(h, "orders").len() == 3
        })
        .await;
    assert_eq!(items(&hub, "customers").len(), 1);
    let status =
        l.app.status_until(30, "the outage ended", |s| s["hub_outage"].is_null() && s["waiting"]["parked"] == 0).await;
    assert_eq!(status["dead_letters"], json!([]), "nothing given up: {status}");
}
