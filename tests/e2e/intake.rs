//! Intake end to end: real-shaped Nhanh webhooks and Hub events posted to the stack, and the FIFO
//! queue read back from moto (group id, dedup id, body); every refusal queues nothing.

use crate::helpers::{csrf_of, messages_of, sha256_hex, stack, with_collector_paused, Api, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

struct Connected {
    app: TestApp,
    token: String,
    api: Api,
}

async fn connected() -> Connected {
    connected_on(Api::V3).await
}

async fn connected_on(api: Api) -> Connected {
    let (app, token) = crate::helpers::connected_on(api, None).await;
    Connected { app, token, api }
}

impl Connected {
    fn envelope(&self, event: &str, data: Value) -> Value {
        json!({"event": event, "businessId": self.app.business_id, "webhooksVerifyToken": self.token, "data": data})
    }

    async fn post_raw(&self, app_id: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .app
            .http
            .post(format!("{}/nhanhvn/hook/{app_id}", stack().connector))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, body: &Value) -> (u16, Value) {
        self.post_raw(&self.app.app_id.to_string(), body.to_string().into_bytes()).await
    }

    /// An event as Nhanh sends it in the connection's version: v2 with the token in the body,
    /// v3 with v3 data (ids under `info`, id arrays for deletes) and the token in `Authorization`.
    fn event(&self, event: &str, v2: Value, v3: Value) -> Value {
        match self.api {
            Api::V2 => self.envelope(event, v2),
            Api::V3 => json!({"event": event, "businessId": self.app.business_id, "data": v3}),
        }
    }

    async fn post_event(&self, body: &Value) -> (u16, Value) {
        let mut request =
            self.app.http.post(format!("{}/nhanhvn/hook/{}", stack().connector, self.app.app_id)).json(body);
        if self.api == Api::V3 {
            request = request.header("authorization", &self.token);
        }
        let r = request.send().await.expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn order_add_data(id: u64) -> Value {
    json!({"orderId": id, "shopOrderId": "", "saleChannel": 1, "typeId": 1, "type": "Shipping", "moneyDiscount": 0,
        "moneyDeposit": 0, "moneyTransfer": 0, "usedPoints": 0, "moneyUsedPoints": 0, "shipFee": 30000, "codFee": 0,
        "customerShipFee": 30000, "calcTotalMoney": 280000, "description": "", "customerId": 77, "customerName": "Nguyễn Văn A",
        "customerMobile": "0912345678", "customerEmail": "", "customerAddress": "12 Lê Lợi", "shipToCityLocationId": 254,
        "customerCity": "Hà Nội", "status": "New", "statusDescription": "Mới", "depotId": 1, "createdDateTime": "2026-11-28 10:00:00",
        "products": [{"id": 5001, "quantity": 1, "price": 250000, "discount": 0, "weight": 300}]})
}

/// Every event, in the shapes of the connection's version, becomes one `nhanh_change` message
/// per record (facts, not the body: no token, no size limit); order changes wait in the
/// business's backlog behind one `order_drain` message (issue 23).
async fn every_event_type_lands_in_the_fifo_queue(api: Api) {
    let c = connected_on(api).await;
    let acct = c.app.account.clone();
    let v3_order = |id: u64, status: u64| {
        json!({"info": {"id": id, "status": status, "createdAt": 1_764_300_000}, "createdBy": {"id": 1, "name": "A"},
        "shippingAddress": {"id": "20184482", "name": "Nguyễn Văn A", "mobile": "0912345678"}, "products": [{"id": 5001, "quantity": 1, "price": 250000}]})
    };
    let mut queued_by_intake = 0;
    with_collector_paused(async {
        for event in [
            c.event("orderAdd", order_add_data(9001), v3_order(9001, 54)),
            c.event(
                "orderUpdate",
                json!({"orderId": 9001, "shopOrderId": "", "status": "Confirmed", "statusDescription": "Đã xác nhận"}),
                v3_order(9001, 56),
            ),
        ] {
            let (status, answer) = c.post_event(&event).await;
            assert_eq!((status, answer["outcome"].as_str()), (200, Some("queued")), "{answer}");
            queued_by_intake += answer["queued"].as_u64().unwrap_or(99);
        }
    })
    .await;
    // Intake's answers count what it queued: one drain for both changes. The drain itself may
    // continue in messages of its own (its 1 s budget on a loaded stack; CI met one), so the queue
    // holds at least the one drain, in the drain group, the first being intake's.
    assert_eq!(queued_by_intake, 1, "two order changes, one drain");
    let mut drains = messages_of(&acct, 1, Duration::from_millis(1500)).await;
    drains.sort_by_key(|m| m.batch);
    assert!(!drains.is_empty() && drains.iter().all(|m| m.group_id == format!("{acct}:order_drain")), "{drains:?}");
    let drain: Value = serde_json::from_str(&drains[0].body).unwrap();
    assert_eq!(drain["kind"], "order_drain");
    assert_eq!(drain["business"], json!({"app_id": c.app.app_id, "business_id": c.app.business_id}));
    assert!(!drains[0].body.contains(&c.token), "never the verify token in the queue");
    let events = vec![
        (c.event("orderDelete", json!({"orderId": 9002, "shopOrderId": ""}), json!([9002])), vec![(format!("{acct}:order:9002"), "order_deleted")]),
        (c.event("productAdd", json!({"productId": 5001, "shopProductId": "", "categoryId": 3, "parentId": null, "code": "SP1", "name": "Áo", "status": "Active", "inventory": {"remain": 1}}),
            json!({"id": 5001, "code": "SP1", "name": "Áo", "status": "2", "category": {"id": 3}})), vec![(format!("{acct}:product:5001"), "product_changed")]),
        (c.event("productUpdate", json!({"productId": 5001, "code": "SP1", "name": "Áo thun"}), json!({"id": "5001", "name": "Áo thun"})),
            vec![(format!("{acct}:product:5001"), "product_changed")]),
        (c.event("productDelete", json!([5003, 5004]), json!([5003, "5004"])),
            vec![(format!("{acct}:product:5003"), "product_deleted"), (format!("{acct}:product:5004"), "product_deleted")]),
    ];
    let mut expected = Vec::new();
    for (event, groups) in &events {
        let (status, answer) = c.post_event(event).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["outcome"], "queued");
        let raw = event.to_string();
        for (g, change) in groups {
            let id = g.rsplit(':').next().unwrap();
            expected.push((g.clone(), raw.clone(), *change, id.parse::<u64>().unwrap()));
        }
    }
    // The orders' drain may continue in a message of its own (its 1 s budget on a loaded stack).
    let got: Vec<_> = messages_of(&acct, expected.len(), Duration::from_millis(1500))
        .await
        .into_iter()
        .filter(|m| !m.group_id.ends_with(":order_drain"))
        .collect();
    assert_eq!(got.len(), expected.len(), "one message per record");
    // The deduplication id: the body, the record and the instant intake received it (issue 21).
    let dedup_of = |raw: &str, id: u64, body: &Value| {
        let at = body["received_at"].as_str().unwrap_or_default();
        let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();
        sha256_hex(format!("{raw}#{id}@{}", at.unix_timestamp_nanos()).as_bytes())
    };
    for (group, raw, change, id) in expected {
        let m = got
            .iter()
            .find(|m| {
                let body: Value = serde_json::from_str(&m.body).unwrap_or_default();
                m.group_id == group && m.dedup_id == dedup_of(&raw, id, &body)
            })
            .unwrap_or_else(|| panic!("no message with dedup id for {group}"));
        let body: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(
            (body["kind"].as_str(), body["change"].as_str(), body["record_id"].as_u64()),
            (Some("nhanh_change"), Some(change), Some(id)),
            "{body}"
        );
        assert_eq!(body["account_id"], json!(acct));
        assert_eq!(body["api_version"], api.name());
        assert!(body["received_at"].is_string());
        assert!(
            body.get("data").is_none() && !m.body.contains(&c.token),
            "no body and never the verify token in the queue"
        );
    }
    // Intake writes no counter (one read and one send per webhook): these messages were taken
    // off the queue above, so nothing moved `last_event_at` (the processor does, `process.rs`).
    let (_, status) = c.app.status().await;
    assert!(status["streams"]["orders"]["last_event_at"].is_null(), "{status}");
    assert!(status["webhooks"]["last_event_at"].is_null(), "{status}");
}

on_both_versions!(every_event_type_lands_in_the_fifo_queue);

/// Issue 21: a webhook names *that* a record changed, and two changes can come as the same bytes,
/// so a body seen again is queued again (one re-read more), never dropped as a duplicate: SQS's
/// 5-minute deduplication by body lost the later change. All go to the record's one group, in
/// order. (Orders wait in the backlog instead, where a change seen again moves the order's stamp:
/// `process::a_flash_sale_is_read_in_batches_and_nothing_waits`.)
#[tokio::test]
async fn a_body_received_again_is_queued_again_in_the_records_group() {
    let c = connected().await;
    let event = c.envelope("productUpdate", json!({"productId": 7001, "code": "SP1", "name": "Áo thun"}));
    with_collector_paused(async {
        for _ in 0..3 {
            assert_eq!(c.post(&event).await.0, 200);
        }
    })
    .await;
    let got = messages_of(&c.app.account, 3, Duration::from_millis(2000)).await;
    assert_eq!(got.len(), 3, "three receptions, three messages");
    assert!(got.iter().all(|m| m.group_id == format!("{}:product:7001", c.app.account)), "{got:?}");
}

#[tokio::test]
async fn refusals_answer_4xx_and_queue_nothing() {
    let c = connected().await;
    let app_id = c.app.app_id.to_string();
    let cases: Vec<(String, Vec<u8>, u16)> = vec![
        (app_id.clone(), b"{not json".to_vec(), 400),
        (app_id.clone(), json!({"businessId": c.app.business_id, "webhooksVerifyToken": c.token}).to_string().into_bytes(), 400),
        (app_id.clone(), json!({"event": "orderAdd", "webhooksVerifyToken": c.token, "data": {"orderId": 1}}).to_string().into_bytes(), 400),
        (app_id.clone(), c.envelope("orderAdd", json!({"status": "New"})).to_string().into_bytes(), 400),
        ("abc".into(), c.envelope("orderAdd", order_add_data(1)).to_string().into_bytes(), 400),
        ((c.app.app_id + 1).to_string(), c.envelope("orderAdd", order_add_data(1)).to_string().into_bytes(), 401),
        (app_id.clone(), json!({"event": "orderAdd", "businessId": c.app.business_id, "webhooksVerifyToken": "wrong-token", "data": {"orderId": 1}}).to_string().into_bytes(), 401),
        (app_id.clone(), json!({"event": "orderAdd", "businessId": 999_999_999, "webhooksVerifyToken": c.token, "data": {"orderId": 1}}).to_string().into_bytes(), 401),
        (app_id.clone(), vec![b' '; 256 * 1024 + 1], 413),
    ];
    for (app, body, want) in cases {
        let (status, answer) = c.post_raw(&app, body).await;
        assert_eq!(status, want, "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty() && !m.contains('\n')), "{answer}");
    }
    assert!(messages_of(&c.app.account, 0, Duration::from_millis(1500)).await.is_empty());
    let logs = c.app.logs();
    assert!(logs.contains("webhook refused"), "refusals are logged");
    assert!(!logs.contains("wrong-token"), "without the token");
}

#[tokio::test]
async fn a_token_of_account_a_cannot_enqueue_under_account_b() {
    let a = connected().await;
    let mut b = TestApp::new().await;
    // B connects another business through the same app id as A.
    b.register_app(a.app.app_id, &a.app.secret, b.business_id, &[]).await;
    b.app_id = a.app.app_id;
    b.secret = a.app.secret.clone();
    b.connect().await;
    let forged = json!({"event": "orderAdd", "businessId": b.business_id, "webhooksVerifyToken": a.token, "data": {"orderId": 1}});
    let (status, _) = a.post(&forged).await;
    assert_eq!(status, 401);
    assert!(messages_of(&b.account, 0, Duration::from_millis(1000)).await.is_empty());
}

#[tokio::test]
async fn inactive_connections_drop_and_count_enabled_and_ignored_events() {
    let c = connected().await;
    // webhooksEnabled sent by the Nhanh simulator itself once the merchant saves the webhook settings.
    c.app.post_json(&format!("{}/_sim/webhooks", stack().nhanh), json!({
        "app_id": c.app.app_id, "url": format!("{}/nhanhvn/hook/{}", stack().connector, c.app.app_id), "verify_token": c.token,
    })).await;
    let mut live = false;
    for _ in 0..50 {
        if c.app.status().await.1["webhooks"]["live"] == true {
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(live, "webhooksEnabled makes the status show webhooks as live");
    let (status, answer) = c.post(&c.envelope("inventoryChange", json!({"5001": {"id": 5001, "available": 3}}))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));

    // A merchant change through the simulator arrives as a real webhook and is queued.
    c.app
        .post_json(
            &format!("{}/_sim/businesses/{}/products", stack().nhanh, c.app.business_id),
            json!({"idNhanh": 6100, "name": "Mũ", "price": "90000"}),
        )
        .await;
    let got = messages_of(&c.app.account, 1, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].group_id, format!("{}:product:6100", c.app.account));

    let page = c.app.get(&c.app.page_url()).await;
    assert_eq!(
        c.app
            .post_form(
                &format!("/nhanhvn/connect/{}/disconnect", c.app.account),
                &[("csrf_token", &csrf_of(&page.body))]
            )
            .await
            .status,
        303
    );
    let (status, answer) = c.post(&c.envelope("orderAdd", order_add_data(4242))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("dropped")));
    // The disconnect itself queues the walk that gives the kept data its expiry (issue 24);
    // the dropped webhook queues nothing.
    let queued = messages_of(&c.app.account, 1, Duration::from_millis(1000)).await;
    let groups: Vec<&str> = queued.iter().map(|m| m.group_id.as_str()).collect();
    assert_eq!(groups, vec![format!("{}:data", c.app.account)], "only the data walk");
    let (_, s) = c.app.status().await;
    assert_eq!(s["streams"]["orders"]["dropped"], 1);
    assert_eq!(s["streams"]["products"]["ignored"], 1);
}

fn sign(body: &str) -> String {
    let secret = shared::secrets::SecretString::new(
        crate::helpers::stack_env().get("HUB_WEBHOOK_SECRET").cloned().unwrap_or_default(),
    );
    shared::services::intake::hub_signature(&secret, body.as_bytes())
}

#[tokio::test]
async fn hub_events_are_signed_and_queued() {
    let c = connected().await;
    let acct = c.app.account.clone();
    let url = format!("{}/hub/hook/{acct}", stack().connector);
    let customer = json!({"event": "customer.created", "account_id": acct, "occurred_at": crate::helpers::now_rfc3339(),
        "data": {"id": "c-1", "name": "Lan", "phone": "0912345678", "email": null, "gender": "female", "birthday": null, "address": "Hà Nội", "origin": "hub"}}).to_string();
    let order = json!({"event": "order.created", "account_id": acct, "occurred_at": crate::helpers::now_rfc3339(),
        "data": {"id": 8801, "code": "H8801", "status": "new", "customer": {"name": "Lan", "phone": "0912345678", "address": "Hà Nội"},
            "items": [{"product_id": null, "code": "SP1", "name": "Áo", "quantity": 1, "price": 250000, "discount": 0}], "total": 250000, "note": null}}).to_string();
    let post = |body: String, sig: Option<String>| {
        let mut req = c.app.http.post(&url).header("content-type", "application/json").body(body);
        if let Some(s) = sig {
            req = req.header("x-hub-signature", s);
        }
        req.send()
    };
    assert_eq!(post(customer.clone(), None).await.unwrap().status().as_u16(), 401);
    assert_eq!(post(customer.clone(), Some("sha256=deadbeef".into())).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        post(customer.clone(), Some(sign(&order))).await.unwrap().status().as_u16(),
        401,
        "signature of another body"
    );
    with_collector_paused(async {
        assert_eq!(post(customer.clone(), Some(sign(&customer))).await.unwrap().status().as_u16(), 200);
        assert_eq!(post(customer.clone(), Some(sign(&customer))).await.unwrap().status().as_u16(), 200);
    })
    .await;
    assert_eq!(post(order.clone(), Some(sign(&order))).await.unwrap().status().as_u16(), 200);
    let got = messages_of(&acct, 2, Duration::from_millis(1500)).await;
    assert_eq!(got.len(), 2, "the duplicated customer event collapses");
    let groups: Vec<&str> = got.iter().map(|m| m.group_id.as_str()).collect();
    assert!(
        groups.contains(&format!("{acct}:hub_customer:c-1").as_str())
            && groups.contains(&format!("{acct}:hub_order:8801").as_str()),
        "{groups:?}"
    );
    let body: Value =
        serde_json::from_str(&got.iter().find(|m| m.group_id.contains("hub_order")).unwrap().body).unwrap();
    assert_eq!(body["kind"], "hub_event");
    assert_eq!(body["event"]["data"]["code"], "H8801");
    assert_eq!(got.iter().find(|m| m.group_id.contains("hub_order")).unwrap().dedup_id, sha256_hex(order.as_bytes()));

    let page = c.app.get(&c.app.page_url()).await;
    c.app.post_form(&format!("/nhanhvn/connect/{acct}/disconnect"), &[("csrf_token", &csrf_of(&page.body))]).await;
    let late = json!({"event": "order.created", "account_id": acct, "occurred_at": crate::helpers::now_rfc3339(),
        "data": {"id": 8802}})
    .to_string();
    let r = post(late.clone(), Some(sign(&late))).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "dropped");
}
