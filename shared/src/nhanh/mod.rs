//! The Nhanh port: version-neutral types and the [`NhanhApi`] trait. The v2 adapter lives in
//! [`v2`]; a v3 adapter will sit beside it. Nothing outside this module sees a v2 wire shape.

pub mod model;
pub mod rate_lock;
pub mod timefmt;
pub mod v2;

use crate::domain::{AppId, NhanhId};
use crate::secrets::SecretString;
use async_trait::async_trait;
pub use model::*;
use time::OffsetDateTime;

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
    /// `ERR_INVALID_ACCESS_TOKEN`: the connection needs a new consent (R12).
    #[error("Nhanh rejected the access token")]
    InvalidAccessToken,
    /// `ERR_403`: the token lacks the permission for this call (R2).
    #[error("Nhanh denied permission for {path}")]
    Forbidden {
        /// The API path that was refused.
        path: String,
    },
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

/// The calls the connector needs from Nhanh, whatever the API version.
#[async_trait]
pub trait NhanhApi: Send + Sync {
    /// Exchanges a consent `access_code` for a token (the code is single-use, valid 10 minutes).
    async fn exchange_code(&self, app_id: AppId, secret_key: &SecretString, access_code: &str)
        -> Result<TokenGrant, NhanhError>;
    /// One page of products.
    async fn products(&self, creds: &Credentials, query: &ProductQuery) -> Result<Page<Product>, NhanhError>;
    /// A product and, for a parent, its variants; empty when Nhanh no longer has it.
    async fn product(&self, creds: &Credentials, id: NhanhId) -> Result<Vec<Product>, NhanhError>;
    /// The whole product category tree.
    async fn categories(&self, creds: &Credentials) -> Result<Vec<Category>, NhanhError>;
    /// One page of orders.
    async fn orders(&self, creds: &Credentials, query: &OrderQuery) -> Result<Page<Order>, NhanhError>;
    /// Pushes an order created in the Hub.
    async fn add_order(&self, creds: &Credentials, order: &NewOrder) -> Result<AddedOrder, NhanhError>;
    /// Changes an order's status.
    async fn update_order(&self, creds: &Credentials, update: &OrderUpdate) -> Result<(), NhanhError>;
    /// One page of customers.
    async fn customers(&self, creds: &Credentials, query: &CustomerQuery) -> Result<Page<Customer>, NhanhError>;
    /// Creates or updates customers by mobile (at most [`MAX_CUSTOMERS_PER_UPSERT`] per call).
    async fn upsert_customers(&self, creds: &Credentials, customers: &[NewCustomer]) -> Result<(), NhanhError>;
}
