//! The Nhanh Open API v2.0 adapter: form-data requests to `{NHANH_API_URL}/api/{module}/{action}`,
//! lenient decoding, `code: 0` mapped to typed errors, and `ERR_429` locks honoured.

pub mod decode;
pub mod lenient;
pub mod webhook;

use super::rate_lock::RateLocks;
use super::timefmt;
use super::*;
use crate::clock::Clock;
use crate::domain::ApiVersion;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Path of the v2 token exchange.
pub const TOKEN_PATH: &str = "/api/oauth/access_token";

/// The v2 client. One per process; it keeps the rate-limit locks of every business it calls for.
pub struct NhanhV2Client {
    http: reqwest::Client,
    base_url: String,
    locks: RateLocks,
    /// One call at a time per (app, business, URL): a call never races the `ERR_429` of another,
    /// so no request leaves while that URL is locked.
    gates: std::sync::Mutex<std::collections::HashMap<super::rate_lock::LockKey, Arc<tokio::sync::Mutex<()>>>>,
    clock: Arc<dyn Clock>,
    /// A lock ending within this wait is waited out in place (no call is made meanwhile);
    /// a longer one is returned as [`NhanhError::RateLimited`] so the work item is retried later.
    max_lock_wait: time::Duration,
    /// Locks shared with other instances (checked before every call when set).
    shared_locks: Option<Arc<dyn crate::store::RateLockStore>>,
}

impl NhanhV2Client {
    /// A client for `base_url` (e.g. `https://pos.open.nhanh.vn`).
    pub fn new(http: reqwest::Client, base_url: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            locks: RateLocks::default(),
            gates: Default::default(),
            clock,
            max_lock_wait: time::Duration::seconds(10),
            shared_locks: None,
        }
    }

    /// Shares rate-limit locks with every other instance through `store`: an `ERR_429` met here
    /// is recorded there, and a lock recorded there is honoured here. Without it, locks hold for
    /// this process only.
    pub fn with_shared_locks(mut self, store: Arc<dyn crate::store::RateLockStore>) -> Self {
        self.shared_locks = Some(store);
        self
    }

    /// When the URL of `key` unlocks, from this process's locks and then the shared ones.
    async fn locked_until(&self, key: &super::rate_lock::LockKey) -> Result<Option<OffsetDateTime>, NhanhError> {
        let now = self.clock.now();
        if let Some(until) = self.locks.locked_until(key, now) {
            return Ok(Some(until));
        }
        let Some(shared) = &self.shared_locks else { return Ok(None) };
        let (app, business, path) = key;
        let until = shared
            .locked_until(*app, *business, path, now)
            .await
            .map_err(|e| NhanhError::Unavailable(format!("rate-limit locks: {e}")))?;
        if let Some(until) = until {
            self.locks.lock(key.clone(), until);
        }
        Ok(until)
    }

    /// Records a lock here and, when shared, for every instance.
    async fn record_lock(&self, key: &super::rate_lock::LockKey, until: OffsetDateTime) {
        self.locks.lock(key.clone(), until);
        if let Some(shared) = &self.shared_locks {
            let (app, business, path) = key;
            if let Err(e) = shared.lock(*app, *business, path, until).await {
                tracing::warn!(path = path.as_str(), error = %e, "rate-limit lock not shared");
            }
        }
    }

    /// Sets how long a call may wait for a rate-limit lock to end (0 = never wait).
    pub fn with_max_lock_wait(mut self, wait: time::Duration) -> Self {
        self.max_lock_wait = wait;
        self
    }

    /// Builds the default HTTP client (short timeouts: Lambda answers must stay fast).
    pub fn default_http() -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder().timeout(Duration::from_secs(20)).connect_timeout(Duration::from_secs(5)).build()
    }

    /// Posts one API call and returns the envelope's `data`.
    async fn call(&self, creds: &Credentials, path: &str, data: String) -> Result<Value, NhanhError> {
        let key = (creds.app_id.get(), creds.business_id.get(), path.to_owned());
        let gate = match self.gates.lock() {
            Ok(mut gates) => gates.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        let _one_at_a_time = gate.lock().await;
        // A call Nhanh refused with ERR_429 was not carried out, so it is safe to make again once
        // the lock ends; a lock ending within `max_lock_wait` is waited out in place.
        for _ in 0..MAX_LOCKED_ATTEMPTS {
            if let Some(unlocked_at) = self.locked_until(&key).await? {
                let wait = unlocked_at - self.clock.now();
                if wait > self.max_lock_wait {
                    return Err(NhanhError::RateLimited { path: path.to_owned(), unlocked_at });
                }
                // Nhanh's unlockedAt has whole seconds: wait a little past it.
                let pause = wait + time::Duration::milliseconds(50);
                tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(pause.whole_milliseconds()).unwrap_or(0))).await;
            }
            match self.call_once(creds, path, &data).await {
                Err(NhanhError::RateLimited { unlocked_at, .. }) => {
                    let unlocked_at = unlocked_at.max(self.clock.now() + time::Duration::seconds(1));
                    self.record_lock(&key, unlocked_at).await;
                }
                other => return other,
            }
        }
        let unlocked_at = self.locks.locked_until(&key, self.clock.now()).unwrap_or_else(|| self.clock.now());
        Err(NhanhError::RateLimited { path: path.to_owned(), unlocked_at })
    }

    async fn call_once(&self, creds: &Credentials, path: &str, data: &str) -> Result<Value, NhanhError> {
        let form = reqwest::multipart::Form::new()
            .text("version", "2.0")
            .text("appId", creds.app_id.to_string())
            .text("businessId", creds.business_id.to_string())
            .text("accessToken", creds.access_token.expose().to_owned())
            .text("data", data.to_owned());
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .multipart(form)
            .send()
            .await
            .map_err(|e| NhanhError::Unavailable(transport_reason(&e)))?;
        let body = read_json(response).await?;
        decode::envelope(&body, path)
    }
}

/// How many times one call meets an ERR_429 before it is handed back as [`NhanhError::RateLimited`].
const MAX_LOCKED_ATTEMPTS: usize = 3;

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

async fn read_json(response: reqwest::Response) -> Result<Value, NhanhError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| NhanhError::Unavailable(transport_reason(&e)))?;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(NhanhError::Unavailable(format!("HTTP {status}")));
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        if status.is_success() {
            NhanhError::Malformed(format!("HTTP {status} with a body that is not JSON"))
        } else {
            NhanhError::Rejected { code: None, message: format!("HTTP {status}") }
        }
    })
}

fn page_fields(page: u32, per_page: u32, max: u32) -> (u32, u32) {
    (page.max(1), per_page.clamp(1, max))
}

#[async_trait]
impl NhanhApi for NhanhV2Client {
    async fn exchange_code(&self, app_id: AppId, secret_key: &SecretString, access_code: &str)
        -> Result<TokenGrant, NhanhError> {
        let form = [
            ("version", "2.0"),
            ("appId", &app_id.to_string()),
            ("accessCode", access_code),
            ("secretKey", secret_key.expose()),
        ];
        let response = self
            .http
            .post(format!("{}{TOKEN_PATH}", self.base_url))
            .form(&form)
            .send()
            .await
            .map_err(|e| NhanhError::Unavailable(transport_reason(&e)))?;
        let body = read_json(response).await?;
        decode::token_grant(&body, self.clock.now(), ApiVersion::V2)
    }

    async fn products(&self, creds: &Credentials, q: &ProductQuery) -> Result<Page<Product>, NhanhError> {
        let (page, icpp) = page_fields(q.page, q.per_page, 50);
        let mut data = json!({"page": page, "icpp": icpp, "sort": {"id": "asc"}});
        if let Some(from) = q.updated_from {
            data["updatedDateTimeFrom"] = json!(timefmt::datetime(from));
        }
        if let Some(to) = q.updated_to {
            data["updatedDateTimeTo"] = json!(timefmt::datetime(to));
        }
        let body = self.call(creds, "/api/product/search", data.to_string()).await?;
        Ok(decode::page(&body, "products", page, decode::product))
    }

    /// v2 answers `code: 0` for a product it does not have (deleted): that reads as "gone".
    async fn product(&self, creds: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError> {
        match self.call(creds, "/api/product/detail", id.to_string()).await {
            Ok(body) => Ok(decode::product_detail(&body)),
            Err(NhanhError::Rejected { code: None, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn categories(&self, creds: &Credentials) -> Result<Vec<Category>, NhanhError> {
        let body = self.call(creds, "/api/product/category", "{}".into()).await?;
        Ok(decode::categories(&body))
    }

    async fn orders(&self, creds: &Credentials, q: &OrderQuery) -> Result<Page<Order>, NhanhError> {
        let (page, icpp) = page_fields(q.page, q.per_page, 100);
        let mut data = json!({"page": page, "icpp": icpp});
        match &q.filter {
            OrderFilter::Id(id) => data["id"] = json!(id.get()),
            OrderFilter::UpdatedBetween(from, to) => {
                data["updatedDateTimeFrom"] = json!(timefmt::datetime(*from));
                data["updatedDateTimeTo"] = json!(timefmt::datetime(*to));
            }
            OrderFilter::CreatedBetween(from, to) => {
                data["fromDate"] = json!(timefmt::date(*from));
                data["toDate"] = json!(timefmt::date(*to));
            }
            OrderFilter::CustomerMobile(mobile) => data["customerMobile"] = json!(mobile),
        }
        let body = self.call(creds, "/api/order/index", data.to_string()).await?;
        Ok(decode::page(&body, "orders", page, decode::order))
    }

    async fn add_order(&self, creds: &Credentials, order: &NewOrder) -> Result<AddedOrder, NhanhError> {
        let lines: Vec<Value> = order
            .items
            .iter()
            .map(|l| {
                let mut line = json!({"id": l.id, "name": l.name, "price": l.price, "quantity": l.quantity});
                if let Some(n) = l.nhanh_id {
                    line["idNhanh"] = json!(n.get());
                }
                if let Some(code) = &l.code {
                    line["code"] = json!(code);
                }
                line
            })
            .collect();
        let mut data = json!({
            "id": order.id,
            "customerName": order.customer_name,
            "customerMobile": order.customer_mobile,
            "productList": lines,
        });
        for (key, value) in [
            ("customerEmail", &order.customer_email),
            ("customerAddress", &order.customer_address),
            ("description", &order.description),
        ] {
            if let Some(v) = value {
                data[key] = json!(v);
            }
        }
        let body = self.call(creds, "/api/order/add", data.to_string()).await?;
        Ok(AddedOrder { nhanh_id: decode::added_order_id(&body, &order.id) })
    }

    async fn update_order(&self, creds: &Credentials, update: &OrderUpdate) -> Result<(), NhanhError> {
        let data = json!({"orderId": update.nhanh_id.get(), "status": update.status});
        self.call(creds, "/api/order/update", data.to_string()).await.map(|_| ())
    }

    async fn customers(&self, creds: &Credentials, q: &CustomerQuery) -> Result<Page<Customer>, NhanhError> {
        let (page, icpp) = page_fields(q.page, q.per_page, 50);
        let mut data = json!({"page": page, "icpp": icpp});
        if let Some(mobile) = &q.mobile {
            data["mobile"] = json!(mobile);
        }
        let body = self.call(creds, "/api/customer/search", data.to_string()).await?;
        Ok(decode::page(&body, "customers", page, decode::customer))
    }

    async fn upsert_customers(&self, creds: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError> {
        for chunk in customers.chunks(MAX_CUSTOMERS_PER_UPSERT) {
            let items: Vec<Value> = chunk
                .iter()
                .map(|c| {
                    let mut v = json!({"name": c.name, "mobile": c.mobile, "type": 1});
                    if let Some(e) = &c.email {
                        v["email"] = json!(e);
                    }
                    if let Some(a) = &c.address {
                        v["address"] = json!(a);
                    }
                    if let Some(g) = c.gender {
                        v["gender"] = json!(g);
                    }
                    if let Some(b) = &c.birthday {
                        v["birthday"] = json!(b);
                    }
                    v
                })
                .collect();
            self.call(creds, "/api/customer/add", Value::Array(items).to_string()).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn err_429_locks_only_that_url() {
        crate::telemetry::install_crypto_provider();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let unlock = OffsetDateTime::now_utc().unix_timestamp() + 60;
        let app = axum::Router::new()
            .route(
                "/api/order/index",
                post(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        axum::Json(json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds":60,"unlockedAt":unlock}}))
                    }
                }),
            )
            .route(
                "/api/product/search",
                post(|| async { axum::Json(json!({"code":1,"data":{"totalPages":1,"products":{"5":{"idNhanh":"5","name":"A","price":"1000"}}}})) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = NhanhV2Client::new(reqwest::Client::new(), &format!("http://{addr}"), Arc::new(SystemClock))
            .with_max_lock_wait(time::Duration::ZERO);
        let creds = Credentials {
            app_id: AppId::new(1).unwrap(),
            business_id: crate::domain::BusinessId::new(2).unwrap(),
            access_token: SecretString::new("t"),
        };
        let q = OrderQuery { page: 1, per_page: 10, filter: OrderFilter::Id(NhanhId::new(9).unwrap()) };
        for _ in 0..3 {
            match client.orders(&creds, &q).await {
                Err(NhanhError::RateLimited { unlocked_at, .. }) => assert_eq!(unlocked_at.unix_timestamp(), unlock),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no call to a locked URL");
        let page = client.products(&creds, &ProductQuery { page: 1, per_page: 50, ..Default::default() }).await.unwrap();
        assert_eq!(page.items[0].price, Some(1000), "other URLs still work");
    }

    #[tokio::test]
    async fn a_lock_met_by_one_instance_stops_the_others() {
        crate::telemetry::install_crypto_provider();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let unlock = OffsetDateTime::now_utc().unix_timestamp() + 60;
        let app = axum::Router::new().route(
            "/api/product/search",
            post(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    axum::Json(json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds":60,"unlockedAt":unlock}}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let shared: Arc<crate::store::memory::MemoryStore> = Arc::default();
        let instance = || {
            NhanhV2Client::new(reqwest::Client::new(), &format!("http://{addr}"), Arc::new(SystemClock))
                .with_max_lock_wait(time::Duration::ZERO)
                .with_shared_locks(shared.clone())
        };
        let (first, second) = (instance(), instance());
        let creds = |business| Credentials {
            app_id: AppId::new(1).unwrap(),
            business_id: crate::domain::BusinessId::new(business).unwrap(),
            access_token: SecretString::new("t"),
        };
        let q = ProductQuery { page: 1, per_page: 50, ..Default::default() };
        assert!(matches!(first.products(&creds(2), &q).await, Err(NhanhError::RateLimited { .. })));
        match second.products(&creds(2), &q).await {
            Err(NhanhError::RateLimited { unlocked_at, .. }) => assert_eq!(unlocked_at.unix_timestamp(), unlock),
            other => panic!("{other:?}"),
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the second instance made no call while locked");
        let _ = second.products(&creds(3), &q).await;
        assert_eq!(hits.load(Ordering::SeqCst), 2, "another business is not locked");
    }
}
