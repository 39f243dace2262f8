//! The Nhanh port: version-neutral types, the [`NhanhApi`] trait and [`NhanhClient`], which picks
//! the adapter of each connection's API version ([`v2`] or [`v3`]). Nothing outside this module
//! names a version's wire shapes, paths or adapters (`make test` checks it).

pub mod envelope;
pub mod gate;
pub mod hook;
pub mod lenient;
pub mod model;
pub mod query;
pub mod rate_lock;
pub mod timefmt;
pub mod v2;
pub mod v3;
pub mod webhook_body;

use crate::clock::Clock;
use crate::domain::{ApiVersion, AppId, NhanhBusiness, NhanhId};
use crate::secrets::SecretString;
use crate::store::RateLockSnapshot;
use async_trait::async_trait;
pub use hook::*;
pub use model::*;
pub use query::*;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::OffsetDateTime;
pub use webhook_body::WebhookBody;

/// The API version every new connection uses (R15: Nhanh ended v2 on 2026-11-30).
pub const NEW_CONNECTION_VERSION: ApiVersion = ApiVersion::V3;

/// A failed Nhanh call, classified for retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum NhanhError {
    /// The network or Nhanh's server failed (timeouts, 5xx): retry later.
    #[error("Nhanh unavailable: {0}")]
    Unavailable(String),
    /// `ERR_429`: no call to this URL before `unlocked_at` (R9).
    #[error("Nhanh rate limit: {path} locked until {unlocked_at}")]
    RateLimited {
        /// The API path that is locked.
        path: String,
        /// When calls may resume.
        unlocked_at: OffsetDateTime,
    },
    /// The token (or its app, business or version) is not valid: the connection needs a new
    /// consent (R12).
    #[error("Nhanh rejected the access token")]
    InvalidAccessToken,
    /// `ERR_403`: the token lacks the permission for this call (R2).
    #[error("Nhanh denied permission for {path}")]
    Forbidden {
        /// The API path that was refused.
        path: String,
    },
    /// `order/add` refused an order id it already has (the first push went through).
    #[error("Nhanh already has this order: {0}")]
    Duplicate(String),
    /// Any other refusal (`code: 0`), with Nhanh's error code and messages.
    #[error("Nhanh refused the request ({}): {message}", code.as_deref().unwrap_or("no errorCode"))]
    Rejected {
        /// `errorCode`, when Nhanh sent one.
        code: Option<String>,
        /// Nhanh's messages joined into one line.
        message: String,
    },
    /// The answer did not have the documented shape.
    #[error("unexpected answer from Nhanh: {0}")]
    Malformed(String),
}

impl NhanhError {
    /// Whether a later attempt may succeed without anyone acting.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::RateLimited { .. })
    }
}

/// What the use cases plan by for one API version, known without a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionFacts {
    /// The longest window one order query may span.
    pub order_window: time::Duration,
    /// How many order ids one `order/list` call reads ([`OrderFilter::Ids`]).
    pub order_ids_per_read: usize,
    /// The longest span of days one retail-bill query may cover.
    pub bill_window: time::Duration,
    /// The webhook events the merchant ticks on open.nhanh.vn.
    pub webhook_events: &'static [&'static str],
}

/// The calls a connection makes with its credentials, whatever the API version: every adapter
/// answers them, and `creds.api_version` picks the adapter.
#[async_trait]
pub trait NhanhCalls: Send + Sync {
    /// Hands the adapter the shared rate-limit locks of `business` as read at `read_at` (with the
    /// connection, in one read), so its next calls need not read them again. Adapters without
    /// shared locks ignore it.
    fn prime_rate_locks(&self, business: NhanhBusiness, locks: RateLockSnapshot, read_at: OffsetDateTime) {
        let _ = (business, locks, read_at);
    }
    /// One page of products.
    async fn products(&self, creds: &Credentials, query: &ProductQuery) -> Result<Page<Product>, NhanhError>;
    /// A product and, for a parent, its variants; empty when Nhanh no longer has it.
    async fn product(&self, creds: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError>;
    /// The whole product category tree.
    async fn categories(&self, creds: &Credentials) -> Result<Vec<Category>, NhanhError>;
    /// One page of orders.
    async fn orders(&self, creds: &Credentials, query: &OrderQuery) -> Result<Page<Order>, NhanhError>;
    /// Pushes an order created in the Hub; [`NhanhError::Duplicate`] when Nhanh already has its id.
    async fn add_order(&self, creds: &Credentials, order: &NewOrder) -> Result<AddedOrder, NhanhError>;
    /// One page of customers.
    async fn customers(&self, creds: &Credentials, query: &CustomerQuery) -> Result<Page<Customer>, NhanhError>;
    /// Creates or updates customers by mobile (the adapter splits long lists).
    async fn upsert_customers(&self, creds: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError>;
    /// One page of retail bills (R14) of a span of days.
    async fn retail_bills(&self, creds: &Credentials, query: &BillQuery) -> Result<Page<Bill>, NhanhError>;
    /// One page of the ids of bills deleted in a window (empty where the version has no such list).
    async fn deleted_bills(&self, creds: &Credentials, query: &DeletedBillsQuery) -> Result<Page<NhanhId>, NhanhError>;
    /// The business's depots (v3 `business/depot`, v2 `store/depot`). Nhanh documents no call that
    /// names the business itself, so the connect confirmation names it by these (issue 22).
    async fn depots(&self, creds: &Credentials) -> Result<Vec<Depot>, NhanhError>;
}

/// The Nhanh port: the calls of [`NhanhCalls`], and what comes before a connection has
/// credentials (consent, the code exchange) and each version's facts, for the `version` given.
#[async_trait]
pub trait NhanhApi: NhanhCalls {
    /// Nhanh's consent page for `app_id`, coming back to `return_link`.
    fn consent_url(&self, version: ApiVersion, app_id: AppId, return_link: &str) -> String;
    /// What the use cases plan by for `version`.
    fn facts(&self, version: ApiVersion) -> VersionFacts;
    /// Exchanges a consent `access_code` for a token (the code is single-use, valid 10 minutes).
    async fn exchange_code(
        &self,
        version: ApiVersion,
        app_id: AppId,
        secret_key: &SecretString,
        access_code: &str,
    ) -> Result<TokenGrant, NhanhError>;
}

/// One API version's adapter: the calls, and the rest of the port for its own version only.
#[async_trait]
pub trait VersionAdapter: NhanhCalls {
    /// Nhanh's consent page of this version for `app_id`, coming back to `return_link`.
    fn consent_url(&self, app_id: AppId, return_link: &str) -> String;
    /// What the use cases plan by for this version.
    fn facts(&self) -> VersionFacts;
    /// Exchanges a consent `access_code` for a token of this version.
    async fn exchange_code(
        &self,
        app_id: AppId,
        secret_key: &SecretString,
        access_code: &str,
    ) -> Result<TokenGrant, NhanhError>;
}

/// The default HTTP client for Nhanh (short timeouts: Lambda answers must stay fast).
pub fn default_http() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(StdDuration::from_secs(20)).connect_timeout(StdDuration::from_secs(5)).build()
}

/// `{oauth_url}?version=…&appId=…&returnLink=…`.
fn consent_url(oauth_url: &str, version: &str, app_id: AppId, return_link: &str) -> String {
    let app = app_id.to_string();
    reqwest::Url::parse_with_params(
        oauth_url,
        &[("version", version), ("appId", app.as_str()), ("returnLink", return_link)],
    )
    .map(String::from)
    .unwrap_or_else(|_| format!("{oauth_url}?version={version}&appId={app}"))
}

/// Whether a refusal of `order/add` says the order id exists already. No code is documented for
/// it, so the flattened, lower-cased text is matched (nhanh-api-v3.md §3.5).
pub fn is_duplicate_message(message: &str) -> bool {
    let m = message.to_lowercase();
    ["apporderid", "trùng", "tồn tại", "duplicate", "already exist"].iter().any(|k| m.contains(k))
}

/// Every adapter of the process behind one port: each call goes to the adapter of the
/// connection's API version. Both share one [`gate::CallGate`], so rate-limit locks hold across
/// versions and, with a lock store, across instances.
pub struct NhanhClient {
    v2: v2::NhanhV2Client,
    v3: v3::NhanhV3Client,
    gate: Arc<gate::CallGate>,
}

impl NhanhClient {
    /// Clients for the API at `api_url` and the consent page at `oauth_url`.
    pub fn new(http: reqwest::Client, api_url: &str, oauth_url: &str, clock: Arc<dyn Clock>) -> Self {
        Self::with_gate(http, api_url, oauth_url, gate::CallGate::new(clock))
    }

    /// Clients whose calls go through `gate` (shared locks, lock waits).
    pub fn with_gate(http: reqwest::Client, api_url: &str, oauth_url: &str, gate: gate::CallGate) -> Self {
        let gate = Arc::new(gate);
        Self {
            v2: v2::NhanhV2Client::with_gate(http.clone(), api_url, oauth_url, gate.clone()),
            v3: v3::NhanhV3Client::with_gate(http, api_url, oauth_url, gate.clone()),
            gate,
        }
    }

    fn pick(&self, version: ApiVersion) -> &dyn VersionAdapter {
        match version {
            ApiVersion::V2 => &self.v2,
            ApiVersion::V3 => &self.v3,
        }
    }
}

#[async_trait]
impl NhanhApi for NhanhClient {
    fn consent_url(&self, version: ApiVersion, app_id: AppId, return_link: &str) -> String {
        self.pick(version).consent_url(app_id, return_link)
    }
    fn facts(&self, version: ApiVersion) -> VersionFacts {
        self.pick(version).facts()
    }
    async fn exchange_code(
        &self,
        version: ApiVersion,
        app_id: AppId,
        secret_key: &SecretString,
        access_code: &str,
    ) -> Result<TokenGrant, NhanhError> {
        self.pick(version).exchange_code(app_id, secret_key, access_code).await
    }
}

#[async_trait]
impl NhanhCalls for NhanhClient {
    fn prime_rate_locks(&self, business: NhanhBusiness, locks: RateLockSnapshot, read_at: OffsetDateTime) {
        self.gate.prime(business.app_id.get(), business.business_id.get(), locks, read_at);
    }
    async fn products(&self, creds: &Credentials, query: &ProductQuery) -> Result<Page<Product>, NhanhError> {
        self.pick(creds.api_version).products(creds, query).await
    }
    async fn product(&self, creds: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError> {
        self.pick(creds.api_version).product(creds, id).await
    }
    async fn categories(&self, creds: &Credentials) -> Result<Vec<Category>, NhanhError> {
        self.pick(creds.api_version).categories(creds).await
    }
    async fn orders(&self, creds: &Credentials, query: &OrderQuery) -> Result<Page<Order>, NhanhError> {
        self.pick(creds.api_version).orders(creds, query).await
    }
    async fn add_order(&self, creds: &Credentials, order: &NewOrder) -> Result<AddedOrder, NhanhError> {
        self.pick(creds.api_version).add_order(creds, order).await
    }
    async fn customers(&self, creds: &Credentials, query: &CustomerQuery) -> Result<Page<Customer>, NhanhError> {
        self.pick(creds.api_version).customers(creds, query).await
    }
    async fn upsert_customers(&self, creds: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError> {
        self.pick(creds.api_version).upsert_customers(creds, customers).await
    }
    async fn retail_bills(&self, creds: &Credentials, query: &BillQuery) -> Result<Page<Bill>, NhanhError> {
        self.pick(creds.api_version).retail_bills(creds, query).await
    }
    async fn deleted_bills(&self, creds: &Credentials, query: &DeletedBillsQuery) -> Result<Page<NhanhId>, NhanhError> {
        self.pick(creds.api_version).deleted_bills(creds, query).await
    }
    async fn depots(&self, creds: &Credentials) -> Result<Vec<Depot>, NhanhError> {
        self.pick(creds.api_version).depots(creds).await
    }
}

/// The page token of a v2 page number carried by a work item queued before page tokens existed
/// (only v2 connections existed then).
pub fn legacy_page_token(page: u32) -> Option<PageToken> {
    (page > 1).then(|| PageToken(page.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_names_its_own_facts() {
        crate::telemetry::install_crypto_provider();
        let client =
            NhanhClient::new(reqwest::Client::new(), "http://n", "http://o", Arc::new(crate::clock::SystemClock));
        let (v2, v3) = (client.facts(ApiVersion::V2), client.facts(ApiVersion::V3));
        assert!(!v2.webhook_events.contains(&"appUninstalled") && v3.webhook_events.contains(&"appUninstalled"));
        assert_eq!((v2.order_ids_per_read, v3.order_ids_per_read), (1, 100));
        assert_eq!((v2.bill_window.whole_days(), v3.bill_window.whole_days()), (10, 30));
        assert!(client.consent_url(ApiVersion::V2, AppId::new(7).unwrap(), "x").contains("version=2.0"));
    }
}
