//! The DynamoDB adapter against the stack's moto: conditions, transactions and TTL behave as the
//! in-memory fake does.

use crate::helpers::{random_u64, stack_env};
use shared::domain::{AccountId, HubId};
use shared::store::dynamo::DynamoStore;
use shared::store::{CursorStore, Entity, IdMapStore};
use time::{Duration, OffsetDateTime};

async fn store() -> DynamoStore {
    let env = stack_env();
    // SAFETY: set once per test process before any SDK client reads them; values are the same everywhere.
    for (k, v) in [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")] {
        std::env::set_var(k, v);
    }
    let sdk = shared::lambda::aws_sdk_config_for(env.get("AWS_ENDPOINT_URL").map(String::as_str)).await;
    DynamoStore::from_sdk_config(&sdk, env.get("TABLE_NAME").cloned().unwrap_or_default())
}

#[tokio::test]
async fn id_maps_cursors_and_idempotency_on_dynamodb() {
    let store = store().await;
    let account = AccountId::parse(&format!("s{}", random_u64() % 1_000_000)).unwrap();
    let hub = HubId::parse("h-42").unwrap();
    assert_eq!(store.hub_id(&account, Entity::Order, "77").await.unwrap(), None);
    store.link(&account, Entity::Order, "77", &hub).await.unwrap();
    assert_eq!(store.hub_id(&account, Entity::Order, "77").await.unwrap(), Some(hub.clone()));
    assert_eq!(store.nhanh_key(&account, Entity::Order, &hub).await.unwrap().as_deref(), Some("77"));
    assert_eq!(store.hub_id(&account, Entity::Product, "77").await.unwrap(), None, "entities are separate");

    let at = OffsetDateTime::from_unix_timestamp(1_795_850_000).unwrap();
    assert_eq!(store.cursor(&account, "orders").await.unwrap(), None);
    store.set_cursor(&account, "orders", at).await.unwrap();
    assert_eq!(store.cursor(&account, "orders").await.unwrap(), Some(at));
}

/// Issue 21: an order's snapshot is claimed by version in one conditional write: an older version
/// is refused and told the newer one, an equal or newer one takes the place; a snapshot written
/// before versions existed is older than any.
#[tokio::test]
async fn versioned_snapshots_on_dynamodb() {
    use shared::store::IntentStore;
    let store = store().await;
    let account = AccountId::parse(&format!("v{}", random_u64() % 1_000_000)).unwrap();
    let claim = |version: &'static str, body: &'static str| {
        let (store, account) = (&store, &account);
        async move { store.claim_snapshot(account, "snapshot:order", "31", version, body).await.unwrap() }
    };
    store.set_intent(&account, "snapshot:order", "31", "{\"old\":1}").await.unwrap();
    assert_eq!(claim("00000000010.1", "{\"v\":1}").await.body, "{\"v\":1}", "an unversioned snapshot is older");
    let kept = claim("00000000009.9", "{\"v\":0}").await;
    assert_eq!(
        (kept.version.as_str(), kept.body.as_str()),
        ("00000000010.1", "{\"v\":1}"),
        "an older version is refused"
    );
    assert_eq!(claim("00000000010.1", "{\"v\":2}").await.body, "{\"v\":2}", "an equal version takes the place");
    assert_eq!(claim("00000000011.0", "{\"v\":3}").await.version, "00000000011.0");
    let now = store.versioned_snapshot(&account, "snapshot:order", "31").await.unwrap().unwrap();
    assert_eq!((now.version.as_str(), now.body.as_str()), ("00000000011.0", "{\"v\":3}"));
    assert_eq!(store.intent(&account, "snapshot:order", "31").await.unwrap().as_deref(), Some("{\"v\":3}"));
}

/// The page path's batch calls: more keys than one BatchGetItem (100) or BatchWriteItem (25)
/// takes, repeated keys, and keys without a record.
#[tokio::test]
async fn batched_maps_snapshots_and_counters_on_dynamodb() {
    use shared::store::{IntentStore, StatsStore};
    let store = store().await;
    let account = AccountId::parse(&format!("b{}", random_u64() % 1_000_000)).unwrap();
    let mut pairs: Vec<(String, HubId)> =
        (1..=130).map(|i| (i.to_string(), HubId::parse(&format!("h{i}")).unwrap())).collect();
    pairs.push(("7".into(), HubId::parse("h7").unwrap()));
    store.link_all(&account, Entity::Product, &pairs).await.unwrap();
    let keys: Vec<String> = (1..=140).map(|i| i.to_string()).chain(["7".to_owned()]).collect();
    let found = store.hub_ids(&account, Entity::Product, &keys).await.unwrap();
    assert_eq!(found.len(), 130);
    assert_eq!(found["130"].as_str(), "h130");
    assert_eq!(
        store.nhanh_key(&account, Entity::Product, &HubId::parse("h99").unwrap()).await.unwrap().as_deref(),
        Some("99")
    );
    assert!(store.hub_ids(&account, Entity::Order, &keys).await.unwrap().is_empty(), "entities are separate");
    let hubs: Vec<HubId> = ["h1", "h130", "h999"].iter().map(|h| HubId::parse(h).unwrap()).collect();
    let back = store.nhanh_keys(&account, Entity::Product, &hubs).await.unwrap();
    assert_eq!((back.len(), back[&hubs[1]].as_str()), (2, "130"));

    let bodies: Vec<(String, String)> = (1..=60).map(|i| (i.to_string(), format!("{{\"n\":{i}}}"))).collect();
    store.set_intents(&account, "snapshot:product", &bodies).await.unwrap();
    let read = store.intents(&account, "snapshot:product", &["3".to_owned(), "61".to_owned()]).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read["3"], "{\"n\":3}");
    assert_eq!(store.intent(&account, "snapshot:product", "60").await.unwrap().as_deref(), Some("{\"n\":60}"));

    let now = OffsetDateTime::now_utc();
    store.add(&account, shared::domain::Stream::Products, shared::domain::Counter::Applied, 50, now).await.unwrap();
    store.count(&account, shared::domain::Stream::Products, shared::domain::Counter::Applied, now).await.unwrap();
    assert_eq!(store.stats(&account).await.unwrap().streams["products"].applied, 51);
}

/// The scheduled pass lists accounts through the sparse `connections` index: an account with more
/// items than one page (maps, snapshots) is listed once and the listing ends. (A filtered Scan
/// restarted from `(PK, CONN)` re-read the same page of such an account forever.)
#[tokio::test]
async fn connected_accounts_are_listed_once_however_many_items_an_account_has() {
    use shared::domain::ConnectionState;
    use shared::store::ConnectionStore;
    let store = store().await;
    let account = AccountId::parse(&format!("l{}", random_u64() % 1_000_000)).unwrap();
    let business = 700_000_000 + random_u64() % 100_000_000;
    let conn = shared::domain::Connection {
        account_id: account.clone(),
        state: ConnectionState::Active,
        app_id: shared::domain::AppId::new(1).unwrap(),
        business_id: shared::domain::BusinessId::new(business),
        api_version: shared::domain::ApiVersion::V3,
        secret_key_sealed: String::new(),
        access_token_sealed: None,
        verify_token_sealed: None,
        token_expires_at: None,
        depot_ids: vec![],
        permissions: vec![],
        connected_at: Some(OffsetDateTime::now_utc()),
        disconnected_at: None,
        disconnect_reason: None,
        data_kept_until: None,
        initial_sync: None,
        version: 0,
    };
    store.put_claiming(&conn, None).await.unwrap();
    let pairs: Vec<(String, HubId)> =
        (1..=600).map(|i| (i.to_string(), HubId::parse(&format!("h{i}")).unwrap())).collect();
    store.link_all(&account, Entity::Product, &pairs).await.unwrap();
    let (mut cursor, mut seen, mut pages) = (None, 0, 0);
    loop {
        let (accounts, next) = store.connected_accounts(cursor).await.unwrap();
        seen += accounts.iter().filter(|a| **a == account).count();
        pages += 1;
        assert!(pages < 100, "the listing does not end");
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, 1);
    // An App Id change (issue 21): the old app's route is removed in the claim's transaction, so
    // webhooks sent to the old app's URL no longer reach the account.
    let (old_app, new_app) = (shared::domain::AppId::new(1).unwrap(), shared::domain::AppId::new(2).unwrap());
    let biz = shared::domain::BusinessId::new(business).unwrap();
    let mut moved = store.get(&account).await.unwrap().unwrap();
    moved.app_id = new_app;
    let moved = store.put_claiming(&moved, Some(old_app)).await.unwrap();
    assert_eq!(store.route(old_app, biz).await.unwrap(), None, "the old app's route is gone");
    assert_eq!(store.route(new_app, biz).await.unwrap(), Some(moved));
    let mut gone = store.get(&account).await.unwrap().unwrap();
    gone.state = ConnectionState::Disconnected;
    store.put_releasing(&gone, gone.business_id.unwrap()).await.unwrap();
    let (accounts, _) = store.connected_accounts(None).await.unwrap();
    assert!(!accounts.contains(&account), "a disconnected account is not listed");
}

/// Nhanh rate-limit locks shared through DynamoDB: the later lock wins, an ended lock is no lock,
/// and locks are per (app, business, URL).
#[tokio::test]
async fn rate_limit_locks_on_dynamodb() {
    use shared::store::RateLockStore;
    let store = store().await;
    let business = random_u64() % 1_000_000_000;
    let now = OffsetDateTime::now_utc();
    let (later, sooner) = (now + Duration::seconds(30), now + Duration::seconds(10));
    assert_eq!(store.locked_until(1, business, "/api/product/search", now).await.unwrap(), None);
    store.lock(1, business, "/api/product/search", later).await.unwrap();
    store.lock(1, business, "/api/product/search", sooner).await.unwrap();
    let until = store.locked_until(1, business, "/api/product/search", now).await.unwrap().unwrap();
    assert_eq!(
        until.unix_timestamp_nanos() / 1_000_000,
        later.unix_timestamp_nanos() / 1_000_000,
        "the later lock wins"
    );
    assert_eq!(store.locked_until(1, business, "/api/order/index", now).await.unwrap(), None, "per URL");
    assert_eq!(store.locked_until(2, business, "/api/product/search", now).await.unwrap(), None, "per app");
    assert_eq!(
        store.locked_until(1, business, "/api/product/search", later + Duration::seconds(1)).await.unwrap(),
        None,
        "ended"
    );

    // The processor's read: the connection and the business's running locks, in one request.
    use shared::domain::{AppId, BusinessId, ConnectionState, NhanhBusiness};
    use shared::store::ConnectionStore;
    store.lock(1, business, "/v3.0/order/list", now - Duration::seconds(5)).await.unwrap();
    let account = AccountId::parse(&format!("locks{business}")).unwrap();
    let conn = shared::testing::connection(&account, 1, business, ConnectionState::Active, now);
    store.put(&conn).await.unwrap();
    let of = |app, business| NhanhBusiness {
        app_id: AppId::new(app).unwrap(),
        business_id: BusinessId::new(business).unwrap(),
    };
    let (read, locks) = store.get_with_rate_locks(&account, of(1, business), now).await.unwrap();
    assert_eq!(read.map(|c| c.account_id), Some(account.clone()));
    let locks = locks.expect("read with the connection");
    assert_eq!(locks.len(), 1, "the running lock only: {locks:?}");
    assert_eq!(
        (locks[0].0.as_str(), locks[0].1.unix_timestamp_nanos() / 1_000_000),
        ("/api/product/search", later.unix_timestamp_nanos() / 1_000_000)
    );
    let (read, locks) = store.get_with_rate_locks(&account, of(2, business), now).await.unwrap();
    assert!(read.is_some() && locks == Some(vec![]), "another app's business has no locks");
    let stranger = AccountId::parse(&format!("nobody{business}")).unwrap();
    assert!(store.get_with_rate_locks(&stranger, of(1, business), now).await.unwrap().0.is_none());
}

/// Issue 23: the order backlog on DynamoDB: one drain mark per business however many additions,
/// a removal that keeps a change recorded after the read, an end refused while more came, a mark
/// taken over once stale, and more waiting orders than one conditional removal holds.
#[tokio::test]
async fn order_backlog_on_dynamodb() {
    use shared::domain::{AppId, BusinessId, NhanhBusiness, NhanhId};
    use shared::store::{BacklogKey, OrderBacklog};
    let store = store().await;
    let account = AccountId::parse(&format!("b{}", random_u64() % 1_000_000)).unwrap();
    let business = NhanhBusiness { app_id: AppId::new(5).unwrap(), business_id: BusinessId::new(9).unwrap() };
    let key = BacklogKey { account, business };
    let ids = |r: std::ops::Range<u64>| r.map(|i| NhanhId::new(i).unwrap()).collect::<Vec<_>>();
    let t0 = OffsetDateTime::now_utc();
    let stale = t0 - Duration::minutes(30);
    assert!(store.add_orders(&key, &ids(1..3), t0, stale).await.unwrap(), "the first addition marks a drain");
    assert!(!store.add_orders(&key, &ids(2..4), t0 + Duration::milliseconds(5), stale).await.unwrap());
    let read = store.backlog(&key).await.unwrap();
    assert_eq!(read.orders.iter().map(|o| o.id.get()).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(read.seq, 2);
    // A change of order 3 recorded after the read stays; 1 and 2 go.
    let t1 = t0 + Duration::milliseconds(10);
    assert!(!store.add_orders(&key, &ids(3..4), t1, stale).await.unwrap());
    store.remove_orders(&key, &read.orders).await.unwrap();
    assert!(!store.end_drain(&key, read.seq).await.unwrap(), "an addition came after the read");
    let again = store.backlog(&key).await.unwrap();
    assert_eq!(again.orders.iter().map(|o| o.id.get()).collect::<Vec<_>>(), vec![3]);
    store.remove_orders(&key, &again.orders).await.unwrap();
    let empty = store.backlog(&key).await.unwrap();
    assert!(empty.orders.is_empty());
    assert!(store.end_drain(&key, empty.seq).await.unwrap());
    assert!(store.backlog(&key).await.unwrap().drain_since.is_none());
    // A mark older than the stale bound is taken over by the next addition.
    let t2 = t0 + Duration::seconds(1);
    assert!(store.add_orders(&key, &ids(10..130), t2, stale).await.unwrap());
    let later = t2 + Duration::hours(1);
    assert!(store.add_orders(&key, &ids(130..131), later, later - Duration::minutes(30)).await.unwrap());
    let many = store.backlog(&key).await.unwrap();
    assert_eq!(many.orders.len(), 121);
    store.remove_orders(&key, &many.orders).await.unwrap();
    assert!(store.backlog(&key).await.unwrap().orders.is_empty(), "removed in several conditional writes");
}

/// Issue 24: a member's erasure on DynamoDB: the phone's maps and create intent deleted, the
/// order snapshot rewritten without the person (version kept), another customer's left alone, a
/// tombstone kept; repeating it changes nothing more.
#[tokio::test]
async fn a_customer_erasure_on_dynamodb() {
    use serde_json::json;
    use shared::domain::Phone;
    use shared::store::{ErasureStore, IntentStore};
    let store = store().await;
    let account = AccountId::parse(&format!("e{}", random_u64() % 1_000_000)).unwrap();
    let (hub, other) = (HubId::parse("c-9").unwrap(), HubId::parse("c-1").unwrap());
    store.link(&account, Entity::Customer, "P0912345678", &hub).await.unwrap();
    store.link(&account, Entity::Customer, "P0987654321", &other).await.unwrap();
    let customer = json!({"name": "Lan", "phone": "0912345678", "email": "lan@x.vn", "address": "Hà Nội"});
    store.set_intent(&account, "create:customer", "P0912345678", &customer.to_string()).await.unwrap();
    let order = json!({"code": "7", "customer_id": "c-9", "customer": {"name": "Lan", "phone": "0912345678"}});
    let claimed =
        store.claim_snapshot(&account, "snapshot:order", "7", "00000000001.1", &order.to_string()).await.unwrap();
    let mine = json!({"code": "8", "customer_id": "c-1", "customer": {"name": "Hoa", "phone": "0987654321"}});
    store.set_intent(&account, "snapshot:order", "8", &mine.to_string()).await.unwrap();
    let phone = Phone::parse("0912345678").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let erased = store.erase_customer(&account, &hub, Some(&phone), now).await.unwrap();
    assert_eq!((erased.deleted, erased.redacted), (3, 1), "two maps and the create intent; one snapshot");
    assert_eq!(store.hub_id(&account, Entity::Customer, "P0912345678").await.unwrap(), None);
    assert_eq!(store.nhanh_key(&account, Entity::Customer, &hub).await.unwrap(), None);
    assert_eq!(store.hub_id(&account, Entity::Customer, "P0987654321").await.unwrap(), Some(other));
    assert_eq!(store.intent(&account, "create:customer", "P0912345678").await.unwrap(), None);
    let snapshot = store.versioned_snapshot(&account, "snapshot:order", "7").await.unwrap().unwrap();
    assert_eq!(snapshot.version, claimed.version, "the version stays");
    let body: serde_json::Value = serde_json::from_str(&snapshot.body).unwrap();
    assert_eq!(body["customer"], json!({"name": null, "phone": null}));
    assert!(!snapshot.body.contains("0912345678") && !snapshot.body.contains("Lan"));
    assert_eq!(store.intent(&account, "snapshot:order", "8").await.unwrap(), Some(mine.to_string()));
    assert!(store.is_erased(&account, &hub).await.unwrap());
    assert!(!store.is_erased(&account, &HubId::parse("c-1").unwrap()).await.unwrap());
    let again = store.erase_customer(&account, &hub, Some(&phone), now).await.unwrap();
    assert_eq!((again.deleted, again.redacted), (0, 0));
}
