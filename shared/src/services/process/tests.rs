//! Unit tests of the processor over the in-memory fakes.
use super::*;
use crate::domain::{ApiVersion, NhanhId};
use crate::nhanh::WebhookKind;
use crate::nhanh::{Category, Order, Product};
use crate::nhanh::{OrderCustomer, OrderLine};
use crate::store::StatsStore;
use crate::testing::processor_fixture;
use serde_json::json;
use std::sync::atomic::Ordering;
use time::OffsetDateTime;

fn product(id: u64, name: &str, price: i64) -> Product {
    Product {
        id: NhanhId::new(id).unwrap(),
        parent_id: None,
        category_id: None,
        code: Some(format!("SP{id}")),
        barcode: None,
        name: name.into(),
        price: Some(price),
        status: Some(crate::nhanh::ProductStatus::Active),
        image: None,
        created_at: None,
    }
}

fn order(id: u64, status: &str, mobile: &str, created: OffsetDateTime) -> Order {
    Order {
        id: NhanhId::new(id).unwrap(),
        shop_order_id: None,
        status: crate::nhanh::OrderStatus::from_name(status),
        sale_channel: Some(1),
        customer: OrderCustomer {
            name: Some("Lan".into()),
            mobile: Some(mobile.into()),
            email: None,
            address: Some("Hà Nội".into()),
        },
        items: vec![OrderLine {
            product_id: NhanhId::new(5),
            code: Some("SP5".into()),
            name: Some("Áo".into()),
            quantity: 2.0,
            price: 100_000,
            discount: 0,
        }],
        money_discount: 0,
        money_used_points: 0,
        customer_ship_fee: 20_000,
        description: None,
        created_at: Some(created),
        updated_at: None,
    }
}

fn hook(account: &AccountId, now: OffsetDateTime, event: &str, data: impl serde::Serialize) -> BatchRecord {
    let item = WorkItem::NhanhWebhook {
        account_id: account.clone(),
        api_version: ApiVersion::V2,
        received_at: now,
        event: crate::testing::webhook_body(&json!({"event": event, "businessId": 10, "data": data})),
        record_id: None,
    };
    BatchRecord {
        message_id: format!("m-{event}-{}", serde_json::to_string(&data).unwrap()),
        group_id: "g".into(),
        body: serde_json::to_string(&item).unwrap(),
    }
}

#[tokio::test]
async fn product_add_update_delete_end_as_one_inactive_record() {
    let f = processor_fixture().await;
    f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 100_000));
    assert!(f
        .processor
        .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
        .await
        .is_empty());
    f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo thun", 120_000));
    // Duplicate and re-ordered deliveries: both re-read the current product.
    let batch = [
        hook(&f.account, f.now, "productUpdate", json!({"productId": 5})),
        hook(&f.account, f.now, "productAdd", json!({"productId": 5})),
    ];
    assert!(f.processor.process_batch(&batch).await.is_empty());
    let products = f.hub.all("products");
    assert_eq!(products.len(), 1);
    assert_eq!((products[0]["name"].as_str(), products[0]["price"].as_i64()), (Some("Áo thun"), Some(120_000)));
    f.nhanh.products.lock().unwrap().remove(&5);
    assert!(f.processor.process_batch(&[hook(&f.account, f.now, "productDelete", json!([5]))]).await.is_empty());
    assert_eq!(f.hub.all("products")[0]["status"], "inactive");
    assert_eq!(f.store.stats(&f.account).await.unwrap().streams["products"].applied, 4);
}

#[tokio::test]
async fn a_lost_create_answer_never_creates_twice() {
    let f = processor_fixture().await;
    f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 100_000));
    f.hub.lose_answers.store(1, Ordering::SeqCst);
    let first = f.processor.process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))]).await;
    assert_eq!(first.len(), 1, "retryable");
    f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo mới", 90_000));
    assert!(f
        .processor
        .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
        .await
        .is_empty());
    let products = f.hub.all("products");
    assert_eq!(products.len(), 1, "same Idempotency-Key and body → same record");
    assert_eq!(products[0]["name"], "Áo mới", "then brought to the final state");
}

#[tokio::test]
async fn orders_resolve_one_customer_across_phone_formats() {
    let f = processor_fixture().await;
    let later = f.now + time::Duration::minutes(1);
    for (i, phone) in ["+84 398 765 432", "84398765432", "0398765432", "398765432", "01698765432"].iter().enumerate() {
        f.nhanh.orders.lock().unwrap().insert(100 + i as u64, order(100 + i as u64, "New", phone, later));
        let failed =
            f.processor.process_batch(&[hook(&f.account, f.now, "orderAdd", json!({"orderId": 100 + i}))]).await;
        assert!(failed.is_empty());
    }
    let customers = f.hub.all("customers");
    assert_eq!(customers.len(), 1, "{customers:?}");
    assert_eq!(customers[0]["phone"], "0398765432");
    let orders = f.hub.all("orders");
    assert_eq!(orders.len(), 5);
    assert!(orders.iter().all(|o| o["customer_id"] == customers[0]["id"]));
    assert_eq!(orders[0]["total"], 220_000);
}

#[tokio::test]
async fn orders_before_connecting_are_dropped_and_missing_ones_fail_permanently() {
    let f = processor_fixture().await;
    f.nhanh.orders.lock().unwrap().insert(7, order(7, "New", "0912345678", f.now - time::Duration::days(1)));
    assert!(f
        .processor
        .process_batch(&[hook(&f.account, f.now, "orderUpdate", json!({"orderId": 7}))])
        .await
        .is_empty());
    assert!(f.processor.process_batch(&[hook(&f.account, f.now, "orderAdd", json!({"orderId": 8}))]).await.is_empty());
    assert!(f.hub.all("orders").is_empty());
    let stats = f.store.stats(&f.account).await.unwrap();
    assert_eq!((stats.streams["orders"].dropped, stats.streams["orders"].failed), (1, 1));
    let log = crate::store::FailureLog::recent_failures(f.store.as_ref(), &f.account, 10).await.unwrap();
    assert!(log[0].reason.contains("no longer"));
}

#[tokio::test]
async fn hub_order_pushed_then_echoed_updates_the_same_hub_order() {
    let f = processor_fixture().await;
    let created = WorkItem::HubEvent {
        account_id: f.account.clone(),
        received_at: f.now,
        event: crate::testing::hub_event(
            json!({"event": "order.created", "account_id": "acct", "data": {"id": "h-1", "customer": {"name": "Lan", "phone": "0912345678", "address": "HN"},
            "items": [{"product_id": null, "code": "X", "name": "Quà", "quantity": 1, "price": 50000, "discount": 0}], "total": 50000}}),
        ),
    };
    // The Hub order exists in the Hub already (the Hub created it).
    f.hub
        .records
        .lock()
        .unwrap()
        .entry("orders")
        .or_default()
        .insert("h-1".into(), json!({"id": "h-1", "origin": "hub"}));
    let rec =
        BatchRecord { message_id: "m1".into(), group_id: "g".into(), body: serde_json::to_string(&created).unwrap() };
    assert!(f.processor.process_batch(std::slice::from_ref(&rec)).await.is_empty());
    assert!(f.processor.process_batch(std::slice::from_ref(&rec)).await.is_empty(), "a duplicate event is skipped");
    let nhanh_orders: Vec<Order> = f.nhanh.orders.lock().unwrap().values().cloned().collect();
    assert_eq!(nhanh_orders.len(), 1);
    let echo_id = nhanh_orders[0].id.get();
    assert!(f
        .processor
        .process_batch(&[hook(&f.account, f.now, "orderAdd", json!({"orderId": echo_id}))])
        .await
        .is_empty());
    let orders = f.hub.all("orders");
    assert_eq!(orders.len(), 1, "the echo updated, not duplicated");
    assert_eq!(orders[0]["code"], echo_id.to_string());
}

#[tokio::test]
async fn a_failed_record_holds_back_the_rest_of_its_group_only() {
    let f = processor_fixture().await;
    f.nhanh.products.lock().unwrap().insert(6, product(6, "Mũ", 1));
    // Nhanh's order listing is locked: the order's group fails, the product's does not.
    *f.nhanh.orders_locked_until.lock().unwrap() = Some(f.now + time::Duration::seconds(20));
    let mut a1 = hook(&f.account, f.now, "orderUpdate", json!({"orderId": 9}));
    a1.group_id = "acct:order:9".into();
    let mut a2 = hook(&f.account, f.now, "orderDelete", json!({"orderId": [9]}));
    a2.group_id = "acct:order:9".into();
    let mut b = hook(&f.account, f.now, "productAdd", json!({"productId": 6}));
    b.group_id = "acct:product:6".into();
    let failed = f.processor.process_batch(&[a1.clone(), b, a2.clone()]).await;
    let ids: Vec<&str> = failed.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids, [a1.message_id.as_str(), a2.message_id.as_str()], "the order's group, in order");
    assert_eq!(failed[0].not_before, Some(f.now + time::Duration::seconds(20)), "retried at the unlock");
    assert_eq!(failed[1].not_before, None, "held back, not failed itself");
    assert_eq!(f.hub.all("products").len(), 1, "the other group was applied");
}

#[tokio::test]
async fn hub_customers_are_pushed_unless_they_came_from_nhanh() {
    let f = processor_fixture().await;
    let item = |origin: &str, id: &str, phone: &str| {
        BatchRecord {
        message_id: id.into(), group_id: "g".into(),
        body: serde_json::to_string(&WorkItem::HubEvent { account_id: f.account.clone(), received_at: f.now,
            event: crate::testing::hub_event(json!({"event": "customer.created", "data": {"id": id, "name": "Lan", "phone": phone, "origin": origin}})) }).unwrap(),
    }
    };
    assert!(f
        .processor
        .process_batch(&[item("hub", "c1", "+84912345678"), item("nhanh", "c2", "0987654321"), item("hub", "c3", "12")])
        .await
        .is_empty());
    let pushed = f.nhanh.customers.lock().unwrap().clone();
    assert_eq!(pushed.keys().collect::<Vec<_>>(), vec!["0912345678"]);
    assert_eq!(f.store.stats(&f.account).await.unwrap().streams["customers"].failed, 1, "invalid phone recorded");
}

#[tokio::test]
async fn the_category_tree_becomes_groups_parents_first_and_products_link_to_them() {
    let f = processor_fixture().await;
    let leaf = Category {
        id: NhanhId::new(2).unwrap(),
        parent_id: NhanhId::new(1),
        code: Some("AT".into()),
        name: "Áo thun".into(),
        children: vec![],
    };
    let root = Category {
        id: NhanhId::new(1).unwrap(),
        parent_id: None,
        code: Some("A".into()),
        name: "Áo".into(),
        children: vec![leaf],
    };
    let conn = f.store.get(&f.account).await.unwrap().unwrap();
    let tree = [root];
    f.processor.sync_groups(&conn, &tree).await.unwrap();
    let counted = f.store.stats(&f.account).await.unwrap().streams["product_groups"].applied;
    assert_eq!(counted, 2, "each group that reached the Hub is counted");
    f.processor.sync_groups(&conn, &tree).await.unwrap();
    let groups = f.hub.all("product_groups");
    assert_eq!(groups.len(), 2);
    let root_id = groups.iter().find(|g| g["name"] == "Áo").unwrap()["id"].clone();
    let leaf_group = groups.iter().find(|g| g["name"] == "Áo thun").unwrap();
    assert_eq!(leaf_group["parent_id"], root_id);
    let mut p = product(5, "Áo polo", 1);
    p.category_id = NhanhId::new(2);
    f.nhanh.products.lock().unwrap().insert(5, p);
    assert!(f
        .processor
        .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
        .await
        .is_empty());
    assert_eq!(f.hub.all("products")[0]["group_id"], leaf_group["id"]);
}

#[tokio::test]
async fn events_of_a_disconnected_account_are_dropped() {
    let f = processor_fixture().await;
    let mut conn = f.store.get(&f.account).await.unwrap().unwrap();
    conn.state = ConnectionState::Disconnected;
    f.store.put(&conn).await.unwrap();
    f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 1));
    assert!(f
        .processor
        .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
        .await
        .is_empty());
    assert!(f.hub.all("products").is_empty());
    assert_eq!(f.nhanh.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_processor_moves_last_event_at_to_when_intake_received_the_event() {
    let mut f = processor_fixture().await;
    // Connected at `now`; the event came a minute later and is applied three minutes after that.
    let received = f.now + time::Duration::minutes(1);
    let applied = f.now + time::Duration::minutes(4);
    f.processor.clock = std::sync::Arc::new(crate::clock::FixedClock(applied));
    let change = |id: u64| order_change(&f.account, id, received, None);
    // Waiting for a retry: the event's time alone, so the page can tell events wait unapplied.
    *f.nhanh.orders_locked_until.lock().unwrap() = Some(applied + time::Duration::seconds(20));
    assert_eq!(f.processor.process_batch(&[change(41)]).await.len(), 1);
    let orders = f.store.stats(&f.account).await.unwrap().streams["orders"].clone();
    assert_eq!((orders.last_event_at, orders.last_applied_at, orders.applied), (Some(received), None, 0));
    // Applied: the counter, the applied time and the event's time.
    *f.nhanh.orders_locked_until.lock().unwrap() = None;
    f.nhanh.orders.lock().unwrap().insert(41, order(41, "New", "0912345678", received));
    assert!(f.processor.process_batch(&[change(41)]).await.is_empty());
    let orders = f.store.stats(&f.account).await.unwrap().streams["orders"].clone();
    assert_eq!((orders.last_event_at, orders.last_applied_at, orders.applied), (Some(received), Some(applied), 1));
}

#[tokio::test]
async fn a_change_received_for_the_connections_business_primes_the_gate_with_its_locks() {
    use crate::domain::{AppId, BusinessId, NhanhBusiness};
    use crate::store::RateLockStore;
    let f = processor_fixture().await;
    let until = f.now + time::Duration::seconds(30);
    f.store.lock(1, 10, "/v3.0/order/list", until).await.unwrap();
    f.store.lock(1, 10, "/v3.0/product/list", f.now - time::Duration::seconds(1)).await.unwrap();
    f.nhanh.orders.lock().unwrap().insert(51, order(51, "New", "0912345678", f.now));
    let change = |id: u64, app: u64, business: u64| {
        let business =
            NhanhBusiness { app_id: AppId::new(app).unwrap(), business_id: BusinessId::new(business).unwrap() };
        order_change(&f.account, id, f.now, Some(business))
    };
    assert!(f.processor.process_batch(&[change(51, 1, 10)]).await.is_empty(), "applied");
    let primed = f.nhanh.primed.lock().unwrap().clone();
    assert_eq!(primed.len(), 1);
    assert_eq!(primed[0].1, vec![("/v3.0/order/list".to_owned(), until)], "the running lock only");
    // Received for a business or an app the connection no longer holds (issue 21: an App Id
    // change left the old app's route): dropped and counted, nothing read with today's token.
    let calls = f.nhanh.calls.load(Ordering::SeqCst);
    f.nhanh.orders.lock().unwrap().insert(52, order(52, "New", "0912345678", f.now));
    assert!(f.processor.process_batch(&[change(51, 1, 99), change(52, 2, 10)]).await.is_empty());
    assert_eq!(f.nhanh.primed.lock().unwrap().len(), 1, "not primed");
    assert_eq!(f.nhanh.calls.load(Ordering::SeqCst), calls, "not re-read");
    assert_eq!(f.hub.all("orders").len(), 1, "only the first order");
    assert_eq!(f.store.stats(&f.account).await.unwrap().streams["webhooks"].dropped, 2);
}

/// The order's state in Nhanh now, changed at `updated` (Nhanh's whole-second stamp).
/// An `orderUpdate` of order `id` as its queue record (message `m{id}`, group `g{id}`).
fn order_change(
    account: &AccountId,
    id: u64,
    received_at: OffsetDateTime,
    business: Option<NhanhBusiness>,
) -> BatchRecord {
    let item = WorkItem::NhanhChange {
        account_id: account.clone(),
        api_version: ApiVersion::V3,
        received_at,
        event: "orderUpdate".into(),
        change: WebhookKind::OrderChanged,
        record_id: NhanhId::new(id).unwrap(),
        business,
    };
    BatchRecord {
        message_id: format!("m{id}"),
        group_id: format!("g{id}"),
        body: serde_json::to_string(&item).unwrap(),
    }
}

fn set_order(f: &crate::testing::ProcessorFixture, status: &str, updated: OffsetDateTime) {
    let mut o = order(31, status, "0912345678", f.now);
    o.updated_at = Some(updated);
    f.nhanh.orders.lock().unwrap().insert(31, o);
}

fn hub_status(f: &crate::testing::ProcessorFixture) -> Vec<String> {
    f.hub.all("orders").iter().filter_map(|o| o["status"].as_str().map(str::to_owned)).collect()
}

/// Issue 21: a read of an older state whose Hub write lands after a newer state's write (a slow
/// request, a redelivery after a visibility timeout, a pass beside a webhook) must not leave the
/// Hub at the older state. The older write is held in the fake Hub until the newer one is done.
#[tokio::test]
async fn an_older_state_written_after_a_newer_one_never_stays_in_the_hub() {
    let f = processor_fixture().await;
    let conn = f.store.get(&f.account).await.unwrap().unwrap();
    let creds = f.processor.credentials(&conn).await.unwrap();
    let id = NhanhId::new(31).unwrap();
    set_order(&f, "New", f.now);
    f.processor.sync_order(&conn, &creds, id).await.unwrap();
    // A reads "Shipping"; its Hub write is slow.
    set_order(&f, "Shipping", f.now + time::Duration::seconds(5));
    f.hub.hold_order_updates.store(1, Ordering::SeqCst);
    let older = f.processor.sync_order(&conn, &creds, id);
    let newer = async {
        while f.hub.held_order_updates.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Meanwhile the order is delivered; B reads and writes "Success" at once.
        set_order(&f, "Success", f.now + time::Duration::seconds(9));
        let applied = f.processor.sync_order(&conn, &creds, id).await;
        assert_eq!(hub_status(&f), ["completed"]);
        f.hub.release_order_writes();
        applied
    };
    let (older, newer) = tokio::join!(older, newer);
    assert_eq!((older.unwrap(), newer.unwrap()), (Outcome::Applied(Stream::Orders), Outcome::Applied(Stream::Orders)));
    assert_eq!(hub_status(&f), ["completed"], "the newer state is sent again after the older write");
}

/// The other order of arrival: the older read comes after the newer state is in the Hub, and is
/// not sent at all; a deletion is final whatever read comes after it.
#[tokio::test]
async fn an_older_state_read_after_a_newer_one_is_applied_is_not_sent_and_a_deletion_stays() {
    let f = processor_fixture().await;
    let conn = f.store.get(&f.account).await.unwrap().unwrap();
    let id = NhanhId::new(31).unwrap();
    set_order(&f, "Success", f.now + time::Duration::seconds(9));
    let newer = f.nhanh.orders.lock().unwrap()[&31].clone();
    f.processor.apply_order(&conn, newer, f.now + time::Duration::seconds(10)).await.unwrap();
    let mut older = order(31, "Shipping", "0912345678", f.now);
    older.updated_at = Some(f.now + time::Duration::seconds(5));
    let (before, writes) = (f.hub.all("orders"), f.hub.order_writes.load(Ordering::SeqCst));
    let outcome = f.processor.apply_order(&conn, older.clone(), f.now + time::Duration::seconds(11)).await.unwrap();
    assert_eq!(outcome, Outcome::Skipped);
    assert_eq!(f.hub.order_writes.load(Ordering::SeqCst), writes, "no order write");
    assert_eq!(f.hub.all("orders"), before);
    assert_eq!(hub_status(&f), ["completed"]);
    // Same update second, read later: the later read wins.
    let mut same_second = older.clone();
    same_second.updated_at = Some(f.now + time::Duration::seconds(9));
    f.processor.apply_order(&conn, same_second.clone(), f.now + time::Duration::seconds(12)).await.unwrap();
    assert_eq!(hub_status(&f), ["shipping"]);
    f.processor.delete_order(&conn, id).await.unwrap();
    let late = f.processor.apply_order(&conn, same_second, f.now + time::Duration::seconds(60)).await.unwrap();
    assert_eq!(late, Outcome::Skipped);
    assert_eq!(f.hub.all("orders")[0]["deleted"], json!(true), "a read after the deletion does not undo it");
}

#[test]
fn state_versions_order_by_update_stamp_then_read_time_and_never_panic() {
    let t = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
    let v = super::order::state_version;
    assert!(v(Some(t(100)), t(500)) < v(Some(t(101)), t(200)));
    assert!(v(Some(t(100)), t(200)) < v(Some(t(100)), t(201)));
    assert!(v(None, t(200)) < v(None, t(201)));
    assert!(
        v(Some(OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT)), t(0)).as_str()
            <= super::order::DELETED_VERSION
    );
    assert!(v(Some(OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT)), t(0)) < v(None, t(1)));
    assert_eq!(v(None, t(0)).len(), super::order::DELETED_VERSION.len());
}

/// Issue 21: every record keeps to the invocation's deadline. A record whose Hub write hangs is
/// cut short at the deadline (less the margin) and reported failed, its group's later record is
/// held back, and another group's record is applied; nothing waits for Lambda to end the batch.
#[tokio::test]
async fn a_record_that_outlasts_the_invocation_is_cut_short_and_retried_not_the_batch() {
    let f = processor_fixture().await;
    set_order(&f, "New", f.now);
    f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 100_000));
    let change = |id: u64, group: &str, event: &str, data: &str| {
        let mut r = hook(&f.account, f.now, event, crate::testing::json_of(data));
        r.message_id = format!("m{id}-{event}");
        r.group_id = group.into();
        r
    };
    let created = change(1, "acct:order:31", "orderAdd", r#"{"orderId":31}"#);
    assert!(f.processor.process_batch(&[created]).await.is_empty(), "the order exists in the Hub");
    // The next write of the order hangs (held in the fake Hub, never released).
    f.hub.hold_order_updates.store(1, Ordering::SeqCst);
    let batch = [
        change(2, "acct:order:31", "orderUpdate", r#"{"orderId":31}"#),
        change(3, "acct:order:31", "orderUpdate", r#"{"orderId":31,"x":1}"#),
        change(4, "acct:product:5", "productAdd", r#"{"productId":5}"#),
    ];
    // The held write never lands, so the cut comes at the deadline however fast the machine is;
    // 2 s leave the other group's in-memory record ample time on a slow one.
    let deadline = f.now + DEADLINE_MARGIN + time::Duration::seconds(2);
    let failed = within_deadline(Some(deadline), f.processor.process_batch(&batch)).await;
    let reasons: Vec<(&str, &str)> = failed.iter().map(|r| (r.message_id.as_str(), r.reason.as_str())).collect();
    assert_eq!(
        reasons,
        [("m2-orderUpdate", super::deadline::DEADLINE_REACHED), ("m3-orderUpdate", super::outcome::HELD_BACK)]
    );
    assert_eq!(f.hub.all("products").len(), 1, "the other group was applied");
    // With no time left at all, nothing starts.
    let deadline = f.now + DEADLINE_MARGIN;
    let late = within_deadline(Some(deadline), async {
        f.processor.process_batch(&[change(5, "acct:product:5", "productUpdate", r#"{"productId":5}"#)]).await
    });
    assert_eq!(late.await.len(), 1);
}

/// Issue 25: a failure keeps its kind from where it was met (the typed error, or the rule that
/// refused the record), so the page never reads it out of the text.
#[tokio::test]
async fn a_failed_record_is_kept_with_the_kind_of_its_failure() {
    use crate::domain::FailureKind;
    use crate::store::FailureLog;
    let f = processor_fixture().await;
    set_order(&f, "New", f.now);
    f.hub.refuse_order_writes.store(1, Ordering::SeqCst);
    let batch = [order_change(&f.account, 31, f.now, None), order_change(&f.account, 32, f.now, None)];
    assert!(f.processor.process_batch(&batch).await.is_empty(), "both kept on the error log and acknowledged");
    let mut kinds: Vec<(String, FailureKind)> =
        f.store.recent_failures(&f.account, 10).await.unwrap().into_iter().map(|r| (r.record, r.kind)).collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(kinds, [("31".into(), FailureKind::HubRefused), ("32".into(), FailureKind::GoneFromNhanh)]);
}
