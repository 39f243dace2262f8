//! The Nhanh Open API v2.0 adapter: form-data requests to `{NHANH_API_URL}/api/{module}/{action}`,
//! lenient decoding, `code: 0` mapped to typed errors, and `ERR_429` locks honoured.

pub mod decode;
pub mod webhook;
mod wire;

use super::gate::{read_json, transport_reason, CallGate};
use super::timefmt;
use super::*;
use crate::domain::ApiVersion;
use serde_json::{json, Value};
use std::sync::Arc;

/// Path of the v2 token exchange.
pub const TOKEN_PATH: &str = "/api/oauth/access_token";
/// v2 allows at most 10 days per order query (nhanh-api-v2.md §3.4).
pub const ORDER_WINDOW: time::Duration = time::Duration::days(10);
/// Days per `bill/search` query: undocumented in v2, so the order window's 10 days are kept.
pub const BILL_WINDOW: time::Duration = time::Duration::days(10);
/// The webhook events a v2 app ticks (v2 sends no `appUninstalled`).
pub const WEBHOOK_EVENTS: &[&str] =
    &["orderAdd", "orderUpdate", "orderDelete", "productAdd", "productUpdate", "productDelete"];
/// Bills per page (v1 documented at most 20).
pub const BILLS_PER_PAGE: u32 = 20;

/// The v2 client. Its page tokens are page numbers (`"2"`), the next one given while a page
/// is not the last of `totalPages`.
pub struct NhanhV2Client {
    http: reqwest::Client,
    base_url: String,
    oauth_url: String,
    gate: Arc<CallGate>,
}

impl NhanhV2Client {
    /// A client sending its calls through `gate` (shared with the v3 client of the process).
    pub fn with_gate(http: reqwest::Client, base_url: &str, oauth_url: &str, gate: Arc<CallGate>) -> Self {
        Self { http, base_url: base_url.trim_end_matches('/').to_owned(), oauth_url: oauth_url.to_owned(), gate }
    }

    /// Builds the default HTTP client (short timeouts: Lambda answers must stay fast).
    pub fn default_http() -> Result<reqwest::Client, reqwest::Error> {
        super::default_http()
    }

    /// Posts one API call through the gate and returns the envelope's `data`.
    async fn call(&self, creds: &Credentials, path: &str, data: String) -> Result<Value, NhanhError> {
        let key = (creds.app_id.get(), creds.business_id.get(), path.to_owned());
        self.gate.call(key, || self.call_once(creds, path, &data)).await
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
            .map_err(|e| NhanhError::Unavailable(transport_reason(e)))?;
        let body = read_json(response).await?;
        decode::envelope(&body, path)
    }
}

/// The page number a v2 token stands for (absent or unreadable: the first page).
fn page_of(token: Option<&PageToken>) -> u32 {
    token.and_then(|t| t.as_str().parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1)
}

/// The token of the page after `page`, unless it was the last.
fn next_token<T>(page: u32, found: &Page<T>) -> Option<PageToken> {
    found.total_pages.filter(|total| page < *total).map(|_| PageToken((page + 1).to_string()))
}

fn page_fields(token: Option<&PageToken>, per_page: u32, max: u32) -> (u32, u32) {
    (page_of(token), per_page.clamp(1, max))
}

#[async_trait]
impl VersionAdapter for NhanhV2Client {
    fn consent_url(&self, app_id: AppId, return_link: &str) -> String {
        consent_url(&self.oauth_url, "2.0", app_id, return_link)
    }

    fn facts(&self) -> VersionFacts {
        VersionFacts {
            order_window: ORDER_WINDOW,
            order_ids_per_read: 1,
            bill_window: BILL_WINDOW,
            webhook_events: WEBHOOK_EVENTS,
        }
    }

    async fn exchange_code(
        &self,
        app_id: AppId,
        secret_key: &SecretString,
        access_code: &str,
    ) -> Result<TokenGrant, NhanhError> {
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
            .map_err(|e| NhanhError::Unavailable(transport_reason(e)))?;
        let body = read_json(response).await?;
        decode::token_grant(&body, self.gate.clock().now(), ApiVersion::V2)
    }
}

#[async_trait]
impl NhanhCalls for NhanhV2Client {
    async fn products(&self, creds: &Credentials, q: &ProductQuery) -> Result<Page<Product>, NhanhError> {
        let (page, icpp) = page_fields(q.after.as_ref(), q.per_page, 50);
        let mut data = json!({"page": page, "icpp": icpp, "sort": {"id": "asc"}});
        if let Some(from) = q.updated_from {
            data["updatedDateTimeFrom"] = json!(timefmt::datetime(from));
        }
        if let Some(to) = q.updated_to {
            data["updatedDateTimeTo"] = json!(timefmt::datetime(to));
        }
        let body = self.call(creds, "/api/product/search", data.to_string()).await?;
        let mut found = decode::page(&body, "products", decode::product);
        found.next = next_token(page, &found);
        Ok(found)
    }

    /// v2 answers `code: 0` for a product it does not have (deleted): that reads as "gone".
    async fn product(&self, creds: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError> {
        match self.call(creds, "/api/product/detail", id.to_string()).await {
            Ok(body) => Ok(decode::product_detail(&body)),
            Err(NhanhError::Rejected { code: None, .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `store/depot` (named only in v3's table of renamed endpoints): `data` read as a list or a
    /// map keyed by id, like every v2 collection. Only a consent asks, and consents are v3 (R15).
    async fn depots(&self, creds: &Credentials) -> Result<Vec<Depot>, NhanhError> {
        let body = self.call(creds, "/api/store/depot", "{}".into()).await?;
        Ok(crate::nhanh::lenient::collection(&body["data"])
            .into_iter()
            .filter_map(crate::nhanh::lenient::depot)
            .collect())
    }

    async fn categories(&self, creds: &Credentials) -> Result<Vec<Category>, NhanhError> {
        let body = self.call(creds, "/api/product/category", "{}".into()).await?;
        Ok(decode::categories(&body))
    }

    async fn orders(&self, creds: &Credentials, q: &OrderQuery) -> Result<Page<Order>, NhanhError> {
        if let OrderFilter::Ids(ids) = &q.filter {
            if ids.len() != 1 {
                // v2 filters one `id` per call: a list is read one id at a time.
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    let one = OrderQuery { after: None, per_page: 1, filter: OrderFilter::Ids(vec![*id]) };
                    found.extend(Box::pin(self.orders(creds, &one)).await?.items);
                }
                return Ok(Page { items: found, next: None, total_pages: None, truncated: false });
            }
        }
        let (page, icpp) = page_fields(q.after.as_ref(), q.per_page, 100);
        let mut data = json!({"page": page, "icpp": icpp});
        match &q.filter {
            OrderFilter::Ids(ids) => data["id"] = json!(ids.first().map(|id| id.get())),
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
        let mut found = decode::page(&body, "orders", decode::order);
        found.next = next_token(page, &found);
        Ok(found)
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
        match self.call(creds, "/api/order/add", data.to_string()).await {
            Ok(body) => Ok(AddedOrder { nhanh_id: decode::added_order_id(&body, &order.id) }),
            // v2 refuses a repeated `id`; the caller finds the first one.
            Err(NhanhError::Rejected { message, .. }) if is_duplicate_message(&message) => {
                Err(NhanhError::Duplicate(message))
            }
            Err(e) => Err(e),
        }
    }

    async fn customers(&self, creds: &Credentials, q: &CustomerQuery) -> Result<Page<Customer>, NhanhError> {
        let (page, icpp) = page_fields(q.after.as_ref(), q.per_page, 50);
        let mut data = json!({"page": page, "icpp": icpp});
        if let Some(mobile) = &q.mobile {
            data["mobile"] = json!(mobile);
        }
        let body = self.call(creds, "/api/customer/search", data.to_string()).await?;
        let mut found = decode::page(&body, "customers", decode::customer);
        found.next = next_token(page, &found);
        Ok(found)
    }

    async fn upsert_customers(&self, creds: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError> {
        for chunk in customers.chunks(MAX_CUSTOMERS_PER_UPSERT) {
            let items: Vec<Value> = chunk.iter().map(|c| c.add_item()).collect();
            self.call(creds, "/api/customer/add", Value::Array(items).to_string()).await?;
        }
        Ok(())
    }

    /// `bill/search` with `mode: 2` (retail) over the days asked.
    async fn retail_bills(&self, creds: &Credentials, q: &BillQuery) -> Result<Page<Bill>, NhanhError> {
        let (page, icpp) = page_fields(q.after.as_ref(), q.per_page, BILLS_PER_PAGE);
        let day = super::timefmt::day;
        let data = json!({"page": page, "icpp": icpp, "mode": 2, "fromDate": day(q.from), "toDate": day(q.to)});
        let body = self.call(creds, "/api/bill/search", data.to_string()).await?;
        let key = if body.get("bill").is_some() { "bill" } else { "bills" };
        let mut found = decode::page(&body, key, decode::bill);
        found.next = next_token(page, &found);
        Ok(found)
    }

    /// v2 has no list of deleted bills.
    async fn deleted_bills(&self, _creds: &Credentials, _q: &DeletedBillsQuery) -> Result<Page<NhanhId>, NhanhError> {
        Ok(Page { items: Vec::new(), next: None, total_pages: Some(0), truncated: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A client of the local server at `addr` whose calls go through `gate`.
    fn client_at(addr: std::net::SocketAddr, gate: CallGate) -> NhanhV2Client {
        let oauth = crate::config::DEFAULT_NHANH_OAUTH_URL;
        NhanhV2Client::with_gate(reqwest::Client::new(), &format!("http://{addr}"), oauth, Arc::new(gate))
    }

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
        let client = client_at(addr, CallGate::new(Arc::new(SystemClock)).with_max_lock_wait(time::Duration::ZERO));
        let creds = Credentials {
            app_id: AppId::new(1).unwrap(),
            business_id: crate::domain::BusinessId::new(2).unwrap(),
            access_token: SecretString::new("t"),
            api_version: ApiVersion::V2,
        };
        let q = OrderQuery { after: None, per_page: 10, filter: OrderFilter::Ids(vec![NhanhId::new(9).unwrap()]) };
        for _ in 0..3 {
            match client.orders(&creds, &q).await {
                Err(NhanhError::RateLimited { unlocked_at, .. }) => assert_eq!(unlocked_at.unix_timestamp(), unlock),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no call to a locked URL");
        let page = client.products(&creds, &ProductQuery { per_page: 50, ..Default::default() }).await.unwrap();
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
            let gate = CallGate::new(Arc::new(SystemClock)).with_max_lock_wait(time::Duration::ZERO);
            client_at(addr, gate.with_shared_locks(shared.clone()))
        };
        let (first, second) = (instance(), instance());
        let creds = |business| Credentials {
            app_id: AppId::new(1).unwrap(),
            business_id: crate::domain::BusinessId::new(business).unwrap(),
            access_token: SecretString::new("t"),
            api_version: ApiVersion::V2,
        };
        let q = ProductQuery { per_page: 50, ..Default::default() };
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
