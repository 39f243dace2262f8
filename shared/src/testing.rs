//! Fixtures shared by unit tests and benchmarks: a connected account over in-memory adapters.

// Fixtures: a failure here is a broken test setup, so panicking is what is wanted.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::clock::FixedClock;
use crate::domain::{
    AccountId, ApiVersion, AppId, BusinessId, Connection, ConnectionState, InitialSync, InitialSyncState,
};
use crate::queue::memory::MemoryQueue;
use crate::secrets::local::LocalSecretBox;
use crate::secrets::{seal_context, SealedField};
use crate::secrets::{SecretBox, SecretString};
use crate::services::intake::IntakeService;
use crate::store::memory::MemoryStore;
use crate::store::ConnectionStore;
use std::sync::Arc;
use time::OffsetDateTime;

/// The key of the fixtures' local secret box.
pub const TEST_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The Hub webhook secret of the fixtures.
pub const HUB_SECRET: &str = "hub-secret";

/// In-memory adapters wired into an intake service.
pub struct IntakeFixture {
    /// The stores.
    pub store: Arc<MemoryStore>,
    /// The queue.
    pub queue: Arc<MemoryQueue>,
    /// The service under test.
    pub service: IntakeService,
    /// The secret box.
    pub secrets: Arc<LocalSecretBox>,
    /// The fixed now.
    pub now: OffsetDateTime,
}

/// Builds the fixture.
pub fn intake_fixture() -> IntakeFixture {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    #[allow(clippy::expect_used)]
    let secrets = Arc::new(LocalSecretBox::from_key_text(TEST_KEY_HEX).expect("valid key"));
    let now = OffsetDateTime::from_unix_timestamp(1_795_850_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let service = IntakeService::new(
        store.clone(),
        store.clone(),
        queue.clone(),
        secrets.clone(),
        Arc::new(FixedClock(now)),
        Arc::new(crate::secrets::managed::ManagedSecret::fixed("HUB_WEBHOOK_SECRET", SecretString::new(HUB_SECRET))),
        store.clone(),
    );
    IntakeFixture { store, queue, service, secrets, now }
}

/// A connection of `account` to (app, business) in `state`, connected at `now`, never stored
/// (version 0), with nothing sealed and its initial sync done.
#[allow(clippy::expect_used)]
pub fn connection(
    account: &AccountId,
    app: u64,
    business: u64,
    state: ConnectionState,
    now: OffsetDateTime,
) -> Connection {
    Connection {
        account_id: account.clone(),
        state,
        app_id: AppId::new(app).expect("app"),
        business_id: BusinessId::new(business),
        api_version: ApiVersion::V2,
        secret_key_sealed: String::new(),
        access_token_sealed: None,
        verify_token_sealed: None,
        token_expires_at: None,
        depot_ids: vec![],
        permissions: vec![],
        connected_at: Some(now),
        disconnected_at: None,
        disconnect_reason: None,
        data_kept_until: None,
        initial_sync: Some(InitialSync { state: InitialSyncState::Done, done: 0, total: Some(0) }),
        version: 0,
    }
}

impl IntakeFixture {
    /// Connects `account` to (app, business) with `verify_token`, in `state`.
    pub async fn connect(
        &self,
        account: &str,
        app: u64,
        business: u64,
        verify_token: &str,
        state: ConnectionState,
    ) -> AccountId {
        #[allow(clippy::expect_used)]
        let account_id = AccountId::parse(account).expect("valid account");
        let sealed = self
            .secrets
            .seal(&SecretString::new(verify_token), &seal_context(&account_id, SealedField::VerifyToken))
            .await
            .expect("seal");
        let mut conn = connection(&account_id, app, business, state, self.now);
        conn.verify_token_sealed = Some(sealed);
        self.store.put_claiming(&conn, None).await.expect("store");
        account_id
    }
}

/// In-memory Nhanh for processor tests and benchmarks.
pub mod fakes {
    use crate::domain::{ApiVersion, AppId, HubId, NhanhId};
    use crate::hub::*;
    use crate::nhanh::*;
    use crate::secrets::SecretString;
    use async_trait::async_trait;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use time::OffsetDateTime;

    /// Nhanh with products, orders, customers and retail bills in memory.
    #[derive(Default)]
    pub struct FakeNhanh {
        /// Retail bills by id.
        pub bills: Mutex<BTreeMap<u64, Bill>>,
        /// Ids of deleted bills.
        pub deleted_bills: Mutex<Vec<u64>>,
        /// Products by id.
        pub products: Mutex<BTreeMap<u64, Product>>,
        /// Orders by id.
        pub orders: Mutex<BTreeMap<u64, Order>>,
        /// Customers upserted, by mobile.
        pub customers: Mutex<BTreeMap<String, NewCustomer>>,
        /// `customer/add` refuses (for good) any call carrying this mobile.
        pub refused_mobile: Mutex<Option<String>>,
        /// The grant `exchange_code` answers (none: it refuses the code).
        pub grant: Mutex<Option<TokenGrant>>,
        /// The depots `depots` answers.
        pub depots: Mutex<Vec<Depot>>,
        /// When set, a bill listing ends after its first bill, cut short (the loop guard).
        pub bills_cut_short: std::sync::atomic::AtomicBool,
        /// When set, order listings answer `ERR_429` locked until this instant.
        pub orders_locked_until: Mutex<Option<OffsetDateTime>>,
        /// Calls made.
        pub calls: AtomicUsize,
        /// Rate-limit locks handed over by the processor: (business, locks).
        pub primed: Mutex<Vec<(crate::domain::NhanhBusiness, crate::store::RateLockSnapshot)>>,
        next: AtomicUsize,
    }

    #[async_trait]
    impl NhanhApi for FakeNhanh {
        fn consent_url(&self, version: ApiVersion, app_id: AppId, return_link: &str) -> String {
            format!("https://nhanh.example/oauth?version={}&appId={app_id}&returnLink={return_link}", version.as_str())
        }
        fn facts(&self, _: ApiVersion) -> crate::nhanh::VersionFacts {
            crate::nhanh::VersionFacts {
                order_window: time::Duration::days(10),
                order_ids_per_read: 100,
                bill_window: time::Duration::days(10),
                // The page lists what the adapter names; the real lists are tested in `nhanh`.
                webhook_events: &["orderAdd", "appUninstalled"],
            }
        }
        async fn exchange_code(
            &self,
            _: ApiVersion,
            _: AppId,
            _: &SecretString,
            _: &str,
        ) -> Result<TokenGrant, NhanhError> {
            self.grant
                .lock()
                .ok()
                .and_then(|g| g.clone())
                .ok_or_else(|| NhanhError::Rejected { code: None, message: "access code refused".into() })
        }
    }

    #[async_trait]
    impl crate::nhanh::NhanhCalls for FakeNhanh {
        fn prime_rate_locks(
            &self,
            business: crate::domain::NhanhBusiness,
            locks: crate::store::RateLockSnapshot,
            _read_at: OffsetDateTime,
        ) {
            self.primed.lock().unwrap_or_else(|e| e.into_inner()).push((business, locks));
        }
        async fn depots(&self, _: &Credentials) -> Result<Vec<Depot>, NhanhError> {
            Ok(self.depots.lock().unwrap_or_else(|e| e.into_inner()).clone())
        }
        async fn products(&self, _: &Credentials, q: &ProductQuery) -> Result<Page<Product>, NhanhError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let all: Vec<Product> = self.products.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
            // Pages of `per_page`; the token is the offset of the next page.
            let per_page = q.per_page.max(1) as usize;
            let start = q.after.as_ref().and_then(|t| t.as_str().parse::<usize>().ok()).unwrap_or(0);
            let next = (start + per_page < all.len()).then(|| PageToken((start + per_page).to_string()));
            let items = all.into_iter().skip(start).take(per_page).collect();
            Ok(Page { items, next, total_pages: None, truncated: false })
        }
        async fn product(&self, _: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.products.lock().map(|m| m.get(&id.get()).cloned().into_iter().collect()).unwrap_or_default())
        }
        async fn categories(&self, _: &Credentials) -> Result<Vec<Category>, NhanhError> {
            Ok(vec![])
        }
        async fn orders(&self, _: &Credentials, q: &OrderQuery) -> Result<Page<Order>, NhanhError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(unlocked_at) = self.orders_locked_until.lock().ok().and_then(|l| *l) {
                return Err(NhanhError::RateLimited { path: "/v3.0/order/list".into(), unlocked_at });
            }
            let all = self.orders.lock().map(|m| m.values().cloned().collect::<Vec<_>>()).unwrap_or_default();
            let found: Vec<Order> = match &q.filter {
                OrderFilter::Ids(ids) => all.into_iter().filter(|o| ids.contains(&o.id)).collect(),
                OrderFilter::CustomerMobile(m) => {
                    all.into_iter().filter(|o| o.customer.mobile.as_deref() == Some(m)).collect()
                }
                _ => all,
            };
            // Pages of `per_page` orders; the token is the offset of the next page.
            let per_page = q.per_page.max(1) as usize;
            let start = q.after.as_ref().and_then(|t| t.as_str().parse::<usize>().ok()).unwrap_or(0);
            let next = (start + per_page < found.len()).then(|| PageToken((start + per_page).to_string()));
            let items = found.into_iter().skip(start).take(per_page).collect();
            Ok(Page { items, next, total_pages: None, truncated: false })
        }
        async fn add_order(&self, _: &Credentials, order: &NewOrder) -> Result<AddedOrder, NhanhError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut orders = self.orders.lock().map_err(|_| NhanhError::Unavailable("lock".into()))?;
            if orders.values().any(|o| o.shop_order_id.as_deref() == Some(order.id.as_str())) {
                return Err(NhanhError::Duplicate("id already exists".into()));
            }
            let id = 900_000 + self.next.fetch_add(1, Ordering::SeqCst) as u64;
            let nid = NhanhId::new(id).ok_or_else(|| NhanhError::Malformed("id".into()))?;
            orders.insert(
                id,
                Order {
                    id: nid,
                    shop_order_id: Some(order.id.clone()),
                    status: crate::nhanh::OrderStatus::New,
                    sale_channel: Some(10),
                    customer: OrderCustomer {
                        name: Some(order.customer_name.clone()),
                        mobile: Some(order.customer_mobile.clone()),
                        email: None,
                        address: order.customer_address.clone(),
                    },
                    items: order
                        .items
                        .iter()
                        .map(|l| OrderLine {
                            product_id: l.nhanh_id,
                            code: l.code.clone(),
                            name: Some(l.name.clone()),
                            quantity: l.quantity,
                            price: l.price,
                            discount: 0,
                        })
                        .collect(),
                    money_discount: 0,
                    money_used_points: 0,
                    customer_ship_fee: 0,
                    description: order.description.clone(),
                    created_at: Some(OffsetDateTime::now_utc()),
                    updated_at: None,
                },
            );
            Ok(AddedOrder { nhanh_id: Some(nid) })
        }
        async fn customers(&self, _: &Credentials, _: &CustomerQuery) -> Result<Page<Customer>, NhanhError> {
            Ok(Page { items: vec![], next: None, total_pages: None, truncated: false })
        }
        async fn retail_bills(&self, _: &Credentials, q: &BillQuery) -> Result<Page<Bill>, NhanhError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let all: Vec<Bill> = self.bills.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
            let per_page = q.per_page.max(1) as usize;
            let start = q.after.as_ref().and_then(|t| t.as_str().parse::<usize>().ok()).unwrap_or(0);
            let next = (start + per_page < all.len()).then(|| PageToken((start + per_page).to_string()));
            if self.bills_cut_short.load(Ordering::SeqCst) {
                return Ok(Page {
                    items: all.into_iter().take(1).collect(),
                    next: None,
                    total_pages: None,
                    truncated: true,
                });
            }
            Ok(Page {
                items: all.into_iter().skip(start).take(per_page).collect(),
                next,
                total_pages: None,
                truncated: false,
            })
        }
        async fn deleted_bills(&self, _: &Credentials, _: &DeletedBillsQuery) -> Result<Page<NhanhId>, NhanhError> {
            let ids = self
                .deleted_bills
                .lock()
                .map(|d| d.iter().filter_map(|i| NhanhId::new(*i)).collect())
                .unwrap_or_default();
            Ok(Page { items: ids, next: None, total_pages: None, truncated: false })
        }
        async fn upsert_customers(&self, _: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let refused = self.refused_mobile.lock().map_err(|_| NhanhError::Unavailable("lock".into()))?.clone();
            if customers.iter().any(|c| Some(&c.mobile) == refused.as_ref()) {
                return Err(NhanhError::Rejected {
                    code: Some("ERR_INVALID_FORM_FIELDS".into()),
                    message: "mobile refused".into(),
                });
            }
            let mut all = self.customers.lock().map_err(|_| NhanhError::Unavailable("lock".into()))?;
            for c in customers {
                all.insert(c.mobile.clone(), c.clone());
            }
            Ok(())
        }
    }

    /// The Hub in memory, with Idempotency-Key replay and phone uniqueness.
    #[derive(Default)]
    pub struct FakeHub {
        /// Records by kind, then id, as JSON.
        pub records: Mutex<HashMap<&'static str, BTreeMap<String, serde_json::Value>>>,
        keys: Mutex<HashMap<String, (String, String)>>,
        /// When > 0, the next creates commit but answer 503 (a lost answer).
        pub lose_answers: AtomicUsize,
        /// Calls made.
        pub calls: AtomicUsize,
        /// When > 0, a product create or update made once this many calls were made answers 429
        /// (nothing written).
        pub rate_limited_after: AtomicUsize,
        /// When > 0, the 429s of `rate_limited_after` end after this many (a limit per second).
        pub rate_limited_answers: AtomicUsize,
        /// Product writes under way now, and the most seen at once.
        pub in_flight: AtomicUsize,
        /// The most product writes seen under way at once.
        pub most_in_flight: AtomicUsize,
        next: AtomicUsize,
        /// When > 0, that many order updates wait, once called, until [`FakeHub::release_order_writes`]
        /// before they land (a slow request, to force an interleaving).
        pub hold_order_updates: AtomicUsize,
        /// Order updates waiting now.
        pub held_order_updates: AtomicUsize,
        /// When set, the `origin=hub` listings always answer `has_more` (a broken Hub).
        pub endless_listings: std::sync::atomic::AtomicBool,
        /// Pages of `origin=hub` listings read.
        pub listing_pages: AtomicUsize,
        /// Order writes (creates and updates) called.
        pub order_writes: AtomicUsize,
        /// When > 0, that many next order writes are refused for good (422), as for a body the Hub
        /// rejects.
        pub refuse_order_writes: AtomicUsize,
        released: std::sync::atomic::AtomicBool,
        release: tokio::sync::Notify,
        /// Admin sessions by token.
        pub sessions: Mutex<HashMap<String, HubSession>>,
        /// When set, every resource call answers 503 (an outage), and counts in `down_calls`.
        pub down: std::sync::atomic::AtomicBool,
        /// Calls answered 503 while `down`.
        pub down_calls: AtomicUsize,
    }

    impl FakeHub {
        fn fail_if_down(&self) -> Result<(), HubError> {
            if self.down.load(Ordering::SeqCst) {
                self.down_calls.fetch_add(1, Ordering::SeqCst);
                return Err(HubError::Unavailable("503 (simulated outage)".into()));
            }
            Ok(())
        }

        /// Records of one kind.
        pub fn all(&self, kind: &'static str) -> Vec<serde_json::Value> {
            self.records
                .lock()
                .map(|r| r.get(kind).map(|m| m.values().cloned().collect()).unwrap_or_default())
                .unwrap_or_default()
        }

        fn create(&self, kind: &'static str, body: serde_json::Value, key: &str) -> Result<HubId, HubError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let text = body.to_string();
            if let Some((seen, id)) = self.keys.lock().ok().and_then(|k| k.get(key).cloned()) {
                return if seen == text {
                    HubId::parse(&id).map_err(|e| HubError::Malformed(e.to_string()))
                } else {
                    Err(HubError::Rejected {
                        status: 409,
                        code: "idempotency_key_reused".into(),
                        message: "reused".into(),
                    })
                };
            }
            let mut records = self.records.lock().map_err(|_| HubError::Unavailable("lock".into()))?;
            let table = records.entry(kind).or_default();
            if kind == "customers" && table.values().any(|c| c["phone"] == body["phone"]) {
                return Err(HubError::Rejected { status: 409, code: "phone_taken".into(), message: "taken".into() });
            }
            let id = format!("{}", 1 + self.next.fetch_add(1, Ordering::SeqCst));
            let mut stored = body;
            stored["id"] = serde_json::json!(id);
            table.insert(id.clone(), stored);
            if let Ok(mut k) = self.keys.lock() {
                k.insert(key.to_owned(), (text, id.clone()));
            }
            if self.lose_answers.load(Ordering::SeqCst) > 0 {
                self.lose_answers.fetch_sub(1, Ordering::SeqCst);
                return Err(HubError::Unavailable("answer lost".into()));
            }
            HubId::parse(&id).map_err(|e| HubError::Malformed(e.to_string()))
        }

        /// A product write: counted in flight across one yield (so concurrent writes overlap),
        /// refused with 429 once `rate_limited_after` calls were made.
        async fn product_write<T>(&self, write: impl FnOnce() -> Result<T, HubError>) -> Result<T, HubError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let limit = self.rate_limited_after.load(Ordering::SeqCst);
            if limit > 0 && self.calls.load(Ordering::SeqCst) >= limit {
                self.calls.fetch_add(1, Ordering::SeqCst);
                // The Hub's limit is per second: after `rate_limited_answers` 429s it lets calls in.
                if self.rate_limited_answers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    == Ok(1)
                {
                    self.rate_limited_after.store(0, Ordering::SeqCst);
                }
                return Err(HubError::RateLimited { until: OffsetDateTime::UNIX_EPOCH });
            }
            write()
        }

        fn refuse_if_asked(&self) -> Result<(), HubError> {
            if self.refuse_order_writes.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return Err(HubError::Rejected {
                    status: 422,
                    code: "validation_failed".into(),
                    message: "refused".into(),
                });
            }
            Ok(())
        }

        /// Lets every held order update land (and the later ones pass).
        pub fn release_order_writes(&self) {
            self.released.store(true, Ordering::SeqCst);
            self.release.notify_waiters();
        }

        /// Waits while this order update is one of those to hold.
        async fn maybe_hold(&self) {
            let hold = self.hold_order_updates.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if hold.is_err() {
                return;
            }
            self.held_order_updates.fetch_add(1, Ordering::SeqCst);
            loop {
                let released = self.release.notified();
                if self.released.load(Ordering::SeqCst) {
                    break;
                }
                released.await;
            }
            self.held_order_updates.fetch_sub(1, Ordering::SeqCst);
        }

        fn update(&self, kind: &'static str, id: &HubId, body: serde_json::Value) -> Result<(), HubError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut records = self.records.lock().map_err(|_| HubError::Unavailable("lock".into()))?;
            let Some(rec) = records.entry(kind).or_default().get_mut(id.as_str()) else {
                return Err(HubError::Rejected {
                    status: 404,
                    code: "not_found".into(),
                    message: "no such record".into(),
                });
            };
            if let (Some(target), Some(changes)) = (rec.as_object_mut(), body.as_object()) {
                for (k, v) in changes {
                    target.insert(k.clone(), v.clone());
                }
            }
            Ok(())
        }
    }

    fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap_or_default()
    }

    #[async_trait]
    impl HubApi for FakeHub {
        async fn current_session(&self, token: &SecretString) -> Result<Option<HubSession>, HubError> {
            Ok(self.sessions.lock().ok().and_then(|s| s.get(token.expose()).cloned()))
        }
        async fn create_product_group(
            &self,
            _: &crate::domain::AccountId,
            g: &ProductGroupInput,
            key: &str,
        ) -> Result<HubId, HubError> {
            self.fail_if_down()?;
            self.create("product_groups", json(g), key)
        }
        async fn update_product_group(
            &self,
            _: &crate::domain::AccountId,
            id: &HubId,
            g: &ProductGroupInput,
        ) -> Result<(), HubError> {
            self.fail_if_down()?;
            self.update("product_groups", id, json(g))
        }
        async fn create_product(
            &self,
            _: &crate::domain::AccountId,
            p: &ProductInput,
            key: &str,
        ) -> Result<HubId, HubError> {
            self.fail_if_down()?;
            self.product_write(|| self.create("products", json(p), key)).await
        }
        async fn update_product(
            &self,
            _: &crate::domain::AccountId,
            id: &HubId,
            p: &ProductInput,
        ) -> Result<(), HubError> {
            self.fail_if_down()?;
            self.product_write(|| self.update("products", id, json(p))).await
        }
        async fn find_customer_by_phone(
            &self,
            _: &crate::domain::AccountId,
            phone: &str,
        ) -> Result<Option<HubCustomer>, HubError> {
            self.fail_if_down()?;
            self.calls.fetch_add(1, Ordering::SeqCst);
            let found = self.all("customers").into_iter().find(|c| c["phone"].as_str() == Some(phone));
            Ok(found.and_then(|c| serde_json::from_value(c).ok()))
        }
        async fn hub_customers(
            &self,
            _: &crate::domain::AccountId,
            _: OffsetDateTime,
            _: u32,
            _: u32,
        ) -> Result<ListPage<HubCustomer>, HubError> {
            self.fail_if_down()?;
            self.listing_pages.fetch_add(1, Ordering::SeqCst);
            Ok(ListPage { items: vec![], has_more: self.endless_listings.load(Ordering::SeqCst) })
        }
        async fn create_customer(
            &self,
            _: &crate::domain::AccountId,
            c: &CustomerInput,
            key: &str,
        ) -> Result<HubCustomer, HubError> {
            self.fail_if_down()?;
            let id = self.create("customers", json(c), key)?;
            Ok(HubCustomer {
                id,
                name: c.name.clone(),
                phone: c.phone.clone(),
                email: c.email.clone(),
                gender: None,
                birthday: None,
                address: c.address.clone(),
                origin: Some("nhanh".into()),
                created_at: None,
            })
        }
        async fn update_customer(
            &self,
            _: &crate::domain::AccountId,
            id: &HubId,
            c: &CustomerInput,
        ) -> Result<(), HubError> {
            self.fail_if_down()?;
            self.update("customers", id, json(c))
        }
        async fn create_order(
            &self,
            _: &crate::domain::AccountId,
            o: &OrderSnapshot,
            key: &str,
        ) -> Result<HubId, HubError> {
            self.fail_if_down()?;
            self.order_writes.fetch_add(1, Ordering::SeqCst);
            self.refuse_if_asked()?;
            self.create("orders", json(o), key)
        }
        async fn update_order(
            &self,
            _: &crate::domain::AccountId,
            id: &HubId,
            o: &OrderSnapshot,
        ) -> Result<(), HubError> {
            self.fail_if_down()?;
            self.order_writes.fetch_add(1, Ordering::SeqCst);
            self.refuse_if_asked()?;
            self.maybe_hold().await;
            self.update("orders", id, json(o))
        }
        async fn hub_orders(
            &self,
            _: &crate::domain::AccountId,
            _: OffsetDateTime,
            _: u32,
            _: u32,
        ) -> Result<ListPage<HubOrder>, HubError> {
            self.fail_if_down()?;
            self.listing_pages.fetch_add(1, Ordering::SeqCst);
            Ok(ListPage { items: vec![], has_more: self.endless_listings.load(Ordering::SeqCst) })
        }
    }
}

/// In-memory adapters wired into a processor, with one connected account (`acct`, app 1, business 10).
pub struct ProcessorFixture {
    /// The stores.
    pub store: Arc<MemoryStore>,
    /// Nhanh.
    pub nhanh: Arc<fakes::FakeNhanh>,
    /// The Hub.
    pub hub: Arc<fakes::FakeHub>,
    /// The processor under test.
    pub processor: crate::services::process::Processor,
    /// The connected account.
    pub account: AccountId,
    /// The fixed now (also `connected_at`).
    pub now: OffsetDateTime,
}

/// Builds the processor fixture.
pub async fn processor_fixture() -> ProcessorFixture {
    let intake = intake_fixture();
    let account = intake.connect("acct", 1, 10, "tok", ConnectionState::Active).await;
    #[allow(clippy::expect_used)]
    {
        let mut conn = intake.store.get(&account).await.expect("get").expect("connection");
        conn.access_token_sealed = Some(
            intake
                .secrets
                .seal(&SecretString::new("access"), &seal_context(&account, SealedField::AccessToken))
                .await
                .expect("seal"),
        );
        intake.store.put(&conn).await.expect("put");
    }
    let nhanh = Arc::new(fakes::FakeNhanh::default());
    let hub = Arc::new(fakes::FakeHub::default());
    let processor = crate::services::process::Processor {
        connections: intake.store.clone(),
        maps: intake.store.clone(),
        intents: intake.store.clone(),
        stats: intake.store.clone(),
        failures: intake.store.clone(),
        cursors: intake.store.clone(),
        queue: Arc::new(MemoryQueue::default()),
        nhanh: nhanh.clone(),
        hub: hub.clone(),
        secrets: intake.secrets.clone(),
        clock: Arc::new(FixedClock(intake.now)),
        tokens: Default::default(),
        customers: Default::default(),
        account_data: intake.store.clone(),
        erasure: intake.store.clone(),
        pass_budget: crate::services::process::DEFAULT_PASS_BUDGET,
        retry: crate::services::process::RetryRule { max_receive_count: 5, ..Default::default() },
        dead_letters: intake.store.clone(),
        backlog: intake.store.clone(),
        outage: crate::services::process::OutageGuard::new(intake.store.clone()),
    };
    ProcessorFixture { store: intake.store, nhanh, hub, processor, account, now: intake.now }
}

/// A Secrets Manager stand-in: one secret whose versions move by stage on each
/// [`RotatingSecretSource::rotate`]; counts its reads.
#[derive(Default)]
pub struct RotatingSecretSource {
    values: std::sync::Mutex<std::collections::HashMap<crate::secrets::managed::Stage, String>>,
    /// Reads answered.
    pub reads: std::sync::atomic::AtomicUsize,
}

impl RotatingSecretSource {
    /// A rotation: `new` becomes current, the current one previous.
    pub fn rotate(&self, new: &str) {
        use crate::secrets::managed::Stage;
        let mut v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = v.insert(Stage::Current, new.to_owned()) {
            v.insert(Stage::Previous, old);
        }
    }
}

#[async_trait::async_trait]
impl crate::secrets::managed::SecretSource for RotatingSecretSource {
    async fn read(
        &self,
        _id: &str,
        stage: crate::secrets::managed::Stage,
    ) -> Result<Option<SecretString>, crate::secrets::SecretError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.values.lock().unwrap_or_else(|e| e.into_inner()).get(&stage).map(SecretString::new))
    }
}

/// A Hub event from its JSON body, read as intake reads it; `occurred_at` defaults to a fixed time.
pub fn hub_event(mut body: serde_json::Value) -> crate::hub::HubEvent {
    if body.get("occurred_at").is_none() {
        body["occurred_at"] = serde_json::Value::from("2026-12-01T00:00:00Z");
    }
    let read = crate::hub::HubEventBody::parse(body.to_string().as_bytes()).expect("a Hub event body");
    read.into_event().expect("a Hub event").expect("an event the connector handles")
}

/// A Nhanh webhook body from its JSON.
pub fn webhook_body(body: &serde_json::Value) -> crate::nhanh::WebhookBody {
    crate::nhanh::WebhookBody::parse(body.to_string().as_bytes()).expect("JSON")
}

/// JSON text read into a value (a test's stored body).
pub fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("JSON")
}
