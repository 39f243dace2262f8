//! The Nhanh Open API v3.0 adapter (nhanh-api-v3.md): `POST {NHANH_API_URL}/v3.0/{module}/{action}
//! ?appId=&businessId=` with a raw JSON body and the raw token in `Authorization` (no `Bearer `),
//! cursor paging (`paginator.next` echoed exactly; a short page may have a next one; no totals),
//! integer statuses mapped to the neutral ones, and the same `ERR_*` handling and rate-limit gate
//! as v2.
//!
//! Decisions where the doc leaves a [?]: the consent URL carries `version=3.0`; order windows are
//! at most 30 days (the doc's 31-day boundary may be inclusive); products are re-read with
//! `product/list {ids}` so one shape is parsed; `customer/add` is preceded by `customer/list
//! {mobile}` (v3 does not say it upserts), found customers are not added again; `order/add`
//! needs every line's Nhanh product id (v3 does not create products) and a refusal whose text
//! says the `appOrderId` exists is [`NhanhError::Duplicate`].

pub mod decode;
pub mod webhook;
mod wire;

use super::gate::{read_json, transport_reason, CallGate};
use super::*;
use serde_json::{json, Value};
use std::sync::Arc;

/// Path of the v3 token exchange.
pub const TOKEN_PATH: &str = "/v3.0/app/getaccesstoken";
/// The longest order query window the connector asks for (Nhanh's limit is 31 days).
pub const ORDER_WINDOW: time::Duration = time::Duration::days(30);
/// The longest span of days one `bill/retail` query covers (the same 31-day rule).
pub const BILL_WINDOW: time::Duration = time::Duration::days(30);
/// The webhook events a v3 app ticks (`appUninstalled` ends the connection, R15).
pub const WEBHOOK_EVENTS: &[&str] =
    &["orderAdd", "orderUpdate", "orderDelete", "productAdd", "productUpdate", "productDelete", "appUninstalled"];
/// Largest page v3 serves.
pub const MAX_PAGE: u32 = 100;
/// Most customers one `customer/add` takes.
pub const MAX_CUSTOMERS_PER_ADD: usize = 100;
/// The most ids one `filters.ids` takes (§3.4).
pub const MAX_IDS_PER_READ: usize = 100;

/// The v3 client.
pub struct NhanhV3Client {
    http: reqwest::Client,
    base_url: String,
    oauth_url: String,
    gate: Arc<CallGate>,
}

impl NhanhV3Client {
    /// A client sending its calls through `gate` (shared with the v2 client of the process).
    pub fn with_gate(http: reqwest::Client, base_url: &str, oauth_url: &str, gate: Arc<CallGate>) -> Self {
        Self { http, base_url: base_url.trim_end_matches('/').to_owned(), oauth_url: oauth_url.to_owned(), gate }
    }

    /// Posts one API call through the gate and returns the whole answer (for `paginator`).
    async fn call(&self, creds: &Credentials, path: &str, body: &Value) -> Result<Value, NhanhError> {
        let key = (creds.app_id.get(), creds.business_id.get(), path.to_owned());
        self.gate.call(key, || self.call_once(creds, path, body)).await
    }

    async fn call_once(&self, creds: &Credentials, path: &str, body: &Value) -> Result<Value, NhanhError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .query(&[("appId", creds.app_id.to_string()), ("businessId", creds.business_id.to_string())])
            .header("authorization", creds.access_token.expose())
            .json(body)
            .send()
            .await
            .map_err(|e| NhanhError::Unavailable(transport_reason(e)))?;
        let answer = read_json(response).await?;
        envelope::envelope(&answer, path)?;
        Ok(answer)
    }

    /// A list call with `filters` and a paginator of `size`, continuing after `token`.
    async fn list<T>(
        &self,
        creds: &Credentials,
        path: &str,
        filters: Value,
        size: u32,
        token: Option<&PageToken>,
        item: fn(&Value) -> Option<T>,
    ) -> Result<Page<T>, NhanhError> {
        let sent: Option<Value> =
            token.map(|t| serde_json::from_str(t.as_str()).unwrap_or_else(|_| Value::String(t.as_str().to_owned())));
        let mut paginator = json!({"size": size.clamp(1, MAX_PAGE), "sort": {"id": "asc"}});
        if let Some(next) = &sent {
            paginator["next"] = next.clone();
        }
        let answer = self.call(creds, path, &json!({"filters": filters, "paginator": paginator})).await?;
        Ok(decode::page(&answer, sent.as_ref(), item))
    }

    /// Every page of a list (bounded), for small lookups.
    async fn all<T>(
        &self,
        creds: &Credentials,
        path: &str,
        filters: Value,
        item: fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>, NhanhError> {
        let mut out = Vec::new();
        let mut token = None;
        for _ in 0..100 {
            let page = self.list(creds, path, filters.clone(), MAX_PAGE, token.as_ref(), item).await?;
            out.extend(page.items);
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(out)
    }
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

#[async_trait]
impl VersionAdapter for NhanhV3Client {
    fn consent_url(&self, app_id: AppId, return_link: &str) -> String {
        consent_url(&self.oauth_url, "3.0", app_id, return_link)
    }

    fn facts(&self) -> VersionFacts {
        VersionFacts {
            order_window: ORDER_WINDOW,
            order_ids_per_read: MAX_IDS_PER_READ,
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
        let response = self
            .http
            .post(format!("{}{TOKEN_PATH}", self.base_url))
            .query(&[("appId", app_id.to_string())])
            .json(&json!({"accessCode": access_code, "secretKey": secret_key.expose()}))
            .send()
            .await
            .map_err(|e| NhanhError::Unavailable(transport_reason(e)))?;
        let answer = read_json(response).await?;
        let data = envelope::envelope(&answer, TOKEN_PATH)?;
        decode::token_grant(&data, self.gate.clock().now())
    }
}

#[async_trait]
impl NhanhCalls for NhanhV3Client {
    async fn products(&self, creds: &Credentials, q: &ProductQuery) -> Result<Page<Product>, NhanhError> {
        let mut filters = json!({});
        if let Some(from) = q.updated_from {
            filters["updatedAtFrom"] = json!(unix(from));
        }
        if let Some(to) = q.updated_to {
            filters["updatedAtTo"] = json!(unix(to));
        }
        self.list(creds, "/v3.0/product/list", filters, q.per_page, q.after.as_ref(), decode::product).await
    }

    /// Re-read through `product/list {ids}` (one shape to parse); an id not returned is gone.
    async fn product(&self, creds: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError> {
        let page = self.list(creds, "/v3.0/product/list", json!({"ids": [id.get()]}), 1, None, decode::product).await?;
        Ok(page.items)
    }

    async fn categories(&self, creds: &Credentials) -> Result<Vec<Category>, NhanhError> {
        let items = self.all(creds, "/v3.0/product/category", json!({}), |v| Some(v.clone())).await?;
        Ok(decode::category_tree(&items))
    }

    async fn orders(&self, creds: &Credentials, q: &OrderQuery) -> Result<Page<Order>, NhanhError> {
        let filters = match &q.filter {
            // Ids lift the date window.
            OrderFilter::Ids(ids) => {
                if ids.len() > MAX_IDS_PER_READ {
                    let message = format!("at most {MAX_IDS_PER_READ} order ids per read");
                    return Err(NhanhError::Rejected { code: None, message });
                }
                json!({"ids": ids.iter().map(|id| id.get()).collect::<Vec<_>>()})
            }
            OrderFilter::UpdatedBetween(from, to) => json!({"updatedAtFrom": unix(*from), "updatedAtTo": unix(*to)}),
            OrderFilter::CreatedBetween(from, to) => json!({"createdAtFrom": unix(*from), "createdAtTo": unix(*to)}),
            // The customer's phone sits in shippingAddress; without dates Nhanh reads the last 31 days.
            OrderFilter::CustomerMobile(mobile) => json!({"shippingAddress": {"mobile": mobile}}),
        };
        self.list(creds, "/v3.0/order/list", filters, q.per_page, q.after.as_ref(), decode::order).await
    }

    async fn add_order(&self, creds: &Credentials, order: &NewOrder) -> Result<AddedOrder, NhanhError> {
        let mut lines = Vec::with_capacity(order.items.len());
        for l in &order.items {
            let Some(nhanh_id) = l.nhanh_id else {
                return Err(NhanhError::Rejected {
                    code: None,
                    message: format!(
                        "product {} is not in Nhanh (API v3 needs an existing product on every line)",
                        l.id
                    ),
                });
            };
            lines.push(json!({"id": nhanh_id.get(), "price": l.price, "quantity": l.quantity}));
        }
        let mut address = json!({"name": order.customer_name, "mobile": order.customer_mobile});
        if let Some(email) = &order.customer_email {
            address["email"] = json!(email);
        }
        if let Some(text) = &order.customer_address {
            address["address"] = json!(text);
        }
        let mut info = json!({"type": 1});
        if let Some(d) = &order.description {
            info["description"] = json!(d);
        }
        let body =
            json!({"info": info, "channel": {"appOrderId": order.id}, "shippingAddress": address, "products": lines});
        match self.call(creds, "/v3.0/order/add", &body).await {
            Ok(answer) => Ok(AddedOrder { nhanh_id: decode::added_order_id(&answer["data"]) }),
            Err(NhanhError::Rejected { message, .. }) if is_duplicate_message(&message) => {
                Err(NhanhError::Duplicate(message))
            }
            Err(e) => Err(e),
        }
    }

    async fn customers(&self, creds: &Credentials, q: &CustomerQuery) -> Result<Page<Customer>, NhanhError> {
        let filters = match &q.mobile {
            Some(mobile) => json!({"mobile": mobile}),
            None => json!({}),
        };
        self.list(creds, "/v3.0/customer/list", filters, q.per_page, q.after.as_ref(), decode::customer).await
    }

    /// Looks each mobile up first (v3 does not say `customer/add` upserts), then adds the rest as
    /// bare arrays of at most 100.
    async fn upsert_customers(&self, creds: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError> {
        let mut missing = Vec::new();
        for c in customers {
            let found =
                self.list(creds, "/v3.0/customer/list", json!({"mobile": c.mobile}), 1, None, decode::customer).await?;
            if !found.items.iter().any(|f| f.mobile.as_deref() == Some(c.mobile.as_str())) {
                missing.push(c);
            }
        }
        for chunk in missing.chunks(MAX_CUSTOMERS_PER_ADD) {
            let items: Vec<Value> = chunk.iter().map(|c| c.add_item()).collect();
            self.call(creds, "/v3.0/customer/add", &Value::Array(items)).await?;
        }
        Ok(())
    }

    async fn retail_bills(&self, creds: &Credentials, q: &BillQuery) -> Result<Page<Bill>, NhanhError> {
        let day = super::timefmt::day;
        let filters = json!({"fromDate": day(q.from), "toDate": day(q.to)});
        self.list(creds, "/v3.0/bill/retail", filters, q.per_page, q.after.as_ref(), decode::bill).await
    }

    /// `business/depot` with no filter: every depot (§3.11).
    async fn depots(&self, creds: &Credentials) -> Result<Vec<Depot>, NhanhError> {
        self.all(creds, "/v3.0/business/depot", json!({}), crate::nhanh::lenient::depot).await
    }

    async fn deleted_bills(&self, creds: &Credentials, q: &DeletedBillsQuery) -> Result<Page<NhanhId>, NhanhError> {
        let filters = json!({"createdAtFrom": unix(q.from), "createdAtTo": unix(q.to)});
        self.list(creds, "/v3.0/bill/deleted", filters, MAX_PAGE, q.after.as_ref(), |v| {
            crate::nhanh::lenient::int(&v["id"]).and_then(|n| u64::try_from(n).ok()).and_then(NhanhId::new)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use axum::extract::{Query, State};
    use axum::http::HeaderMap;
    use axum::routing::post;
    use std::collections::HashMap;
    use std::sync::Mutex;

    type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>, Option<String>, Value)>>>;

    /// A fake v3 host that records each request and answers product pages with a cursor.
    async fn host() -> (String, Seen) {
        let seen: Seen = Arc::default();
        let record = |path: &'static str| {
            move |State(seen): State<Seen>,
                  Query(q): Query<HashMap<String, String>>,
                  headers: HeaderMap,
                  body: axum::body::Bytes| async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let auth = headers.get("authorization").and_then(|h| h.to_str().ok()).map(str::to_owned);
                seen.lock().unwrap().push((path.to_owned(), q, auth, body.clone()));
                let answer = match path {
                    "product/list" => match body["paginator"]["next"].clone() {
                        Value::Null => {
                            json!({"code": 1, "paginator": {"next": {"id": "92220"}}, "data": [{"id": 1, "name": "A", "status": 2}]})
                        }
                        _ => json!({"code": 1, "data": [{"id": 2, "name": "B", "status": 3}]}),
                    },
                    "order/add" => match body["channel"]["appOrderId"].as_str() {
                        Some("dup") => {
                            json!({"code": 0, "errorCode": "ERR_INVALID_FORM_FIELDS", "messages": {"channel.appOrderId": "appOrderId đã tồn tại"}})
                        }
                        _ => json!({"code": 1, "data": {"id": 14903497}}),
                    },
                    "customer/list" => {
                        json!({"code": 1, "data": if body["filters"]["mobile"] == "0912000001" { json!([{"id": 1, "mobile": "0912000001"}]) } else { json!([]) }})
                    }
                    _ => {
                        json!({"code": 1, "data": {"accessToken": "t".repeat(128), "businessId": 9, "expiredAt": 1785603599, "depotIds": "All"}})
                    }
                };
                axum::Json(answer)
            }
        };
        let app = axum::Router::new()
            .route("/v3.0/product/list", post(record("product/list")))
            .route("/v3.0/order/add", post(record("order/add")))
            .route("/v3.0/customer/list", post(record("customer/list")))
            .route("/v3.0/customer/add", post(record("customer/add")))
            .route("/v3.0/app/getaccesstoken", post(record("getaccesstoken")))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn client(base: &str) -> NhanhV3Client {
        NhanhV3Client::with_gate(
            reqwest::Client::new(),
            base,
            "https://nhanh.vn/oauth",
            Arc::new(CallGate::new(Arc::new(SystemClock))),
        )
    }

    fn creds() -> Credentials {
        Credentials {
            app_id: AppId::new(7).unwrap(),
            business_id: crate::domain::BusinessId::new(9).unwrap(),
            access_token: SecretString::new("raw-token"),
            api_version: ApiVersion::V3,
        }
    }

    #[tokio::test]
    async fn calls_carry_ids_in_the_query_the_raw_token_and_echo_next_exactly() {
        crate::telemetry::install_crypto_provider();
        let (base, seen) = host().await;
        let c = client(&base);
        let first = c.products(&creds(), &ProductQuery { per_page: 50, ..Default::default() }).await.unwrap();
        let next = first.next.clone().expect("a next page");
        let second = c
            .products(&creds(), &ProductQuery { after: Some(next), per_page: 50, ..Default::default() })
            .await
            .unwrap();
        assert_eq!((second.items[0].status.clone(), second.next), (Some(ProductStatus::Inactive), None));
        let seen = seen.lock().unwrap();
        let (_, query, auth, body) = &seen[1];
        assert_eq!(
            (query["appId"].as_str(), query["businessId"].as_str(), auth.as_deref()),
            ("7", "9", Some("raw-token"))
        );
        assert_eq!(body["paginator"]["next"], json!({"id": "92220"}), "echoed as the same object");
        assert!(seen[0].3["paginator"].get("next").is_none(), "no next on the first page");
    }

    #[tokio::test]
    async fn order_add_uses_app_order_id_and_nhanh_product_ids_and_names_duplicates() {
        crate::telemetry::install_crypto_provider();
        let (base, seen) = host().await;
        let c = client(&base);
        let mut order = NewOrder {
            id: "hub-1".into(),
            customer_name: "Lan".into(),
            customer_mobile: "0912345678".into(),
            customer_email: None,
            customer_address: Some("Hà Nội".into()),
            description: None,
            items: vec![NewOrderLine {
                id: "p1".into(),
                nhanh_id: NhanhId::new(5),
                name: "Áo".into(),
                code: None,
                price: 1000,
                quantity: 2.0,
            }],
        };
        assert_eq!(c.add_order(&creds(), &order).await.unwrap().nhanh_id.map(NhanhId::get), Some(14903497));
        let body = seen.lock().unwrap()[0].3.clone();
        assert_eq!(
            (body["channel"]["appOrderId"].as_str(), body["products"][0]["id"].as_u64()),
            (Some("hub-1"), Some(5))
        );
        assert_eq!(body["shippingAddress"]["mobile"], "0912345678");
        order.id = "dup".into();
        assert!(matches!(c.add_order(&creds(), &order).await, Err(NhanhError::Duplicate(_))));
        order.items[0].nhanh_id = None;
        assert!(
            matches!(c.add_order(&creds(), &order).await, Err(NhanhError::Rejected { .. })),
            "no line without a Nhanh product"
        );
    }

    #[tokio::test]
    async fn customers_are_looked_up_before_they_are_added_and_the_token_exchange_reads_data() {
        crate::telemetry::install_crypto_provider();
        let (base, seen) = host().await;
        let c = client(&base);
        let customer = |mobile: &str| NewCustomer {
            name: "Lan".into(),
            mobile: mobile.into(),
            email: None,
            address: None,
            gender: Some(2),
            birthday: None,
        };
        c.upsert_customers(&creds(), &[customer("0912000001"), customer("0912000002")]).await.unwrap();
        let grant = c.exchange_code(AppId::new(7).unwrap(), &SecretString::new("s"), "code").await.unwrap();
        assert_eq!((grant.business_id.get(), grant.depot_ids.len()), (9, 0));
        let seen = seen.lock().unwrap();
        let added: Vec<&Value> = seen.iter().filter(|s| s.0 == "customer/add").map(|s| &s.3).collect();
        assert_eq!(added.len(), 1);
        assert_eq!(
            added[0],
            &json!([{"name": "Lan", "mobile": "0912000002", "type": 1, "gender": 2}]),
            "a bare array of the missing one"
        );
        let exchange = seen.iter().find(|s| s.0 == "getaccesstoken").unwrap();
        assert_eq!(
            (exchange.1.get("appId").map(String::as_str), exchange.3["accessCode"].as_str(), exchange.2.as_deref()),
            (Some("7"), Some("code"), None)
        );
        assert!(c
            .consent_url(AppId::new(7).unwrap(), "https://c/cb")
            .contains("version=3.0&appId=7&returnLink=https%3A%2F%2Fc%2Fcb"));
    }
}
