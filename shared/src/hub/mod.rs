//! The Loyalty Hub port ([`HubApi`]), its records, and the reqwest adapter ([`client::HubClient`]).

pub mod client;
pub mod event;
pub mod model;

use crate::domain::{AccountId, HubId};
use crate::secrets::SecretString;
use async_trait::async_trait;
pub use event::{HubEvent, HubEventBody, HubEventError, HubEventRecord};
pub use model::*;
use time::OffsetDateTime;

/// A failed Hub call, classified for retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// 429: no call for this account before `until` (R9).
    #[error("Hub rate limit until {until}")]
    RateLimited {
        /// When calls may resume (from `Retry-After`).
        until: OffsetDateTime,
    },
    /// Network failure, timeout or 5xx: retry later.
    #[error("Hub unavailable: {0}")]
    Unavailable(String),
    /// The service token was refused (401): a configuration problem.
    #[error("Hub refused the service token")]
    Unauthorized,
    /// Any other 4xx, with the Hub's code and message (e.g. 422 validation_failed, 409 phone_taken).
    #[error("Hub refused the request ({status} {code}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: String,
        /// `error.message`, with `error.fields` appended.
        message: String,
    },
    /// The answer did not have the documented shape.
    #[error("unexpected answer from the Hub: {0}")]
    Malformed(String),
}

impl HubError {
    /// Whether a later attempt may succeed without anyone acting.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable(_))
    }
    /// Whether the Hub answered with this HTTP status.
    pub fn has_status(&self, wanted: u16) -> bool {
        matches!(self, Self::Rejected { status, .. } if *status == wanted)
    }
}

/// The Hub contract (loyalty-hub-api.md). Creates take an `Idempotency-Key`.
#[async_trait]
pub trait HubApi: Send + Sync {
    /// Who holds a Hub user session token; `None` when the Hub does not accept it (401).
    async fn current_session(&self, session_token: &SecretString) -> Result<Option<HubSession>, HubError>;
    /// Creates a product group.
    async fn create_product_group(
        &self,
        account: &AccountId,
        group: &ProductGroupInput,
        idempotency_key: &str,
    ) -> Result<HubId, HubError>;
    /// Replaces a product group.
    async fn update_product_group(
        &self,
        account: &AccountId,
        id: &HubId,
        group: &ProductGroupInput,
    ) -> Result<(), HubError>;
    /// Creates a product.
    async fn create_product(
        &self,
        account: &AccountId,
        product: &ProductInput,
        idempotency_key: &str,
    ) -> Result<HubId, HubError>;
    /// Replaces a product.
    async fn update_product(&self, account: &AccountId, id: &HubId, product: &ProductInput) -> Result<(), HubError>;
    /// The customer owning a normalised phone, if any.
    async fn find_customer_by_phone(&self, account: &AccountId, phone: &str) -> Result<Option<HubCustomer>, HubError>;
    /// Customers created in the Hub itself since `created_from`.
    async fn hub_customers(
        &self,
        account: &AccountId,
        created_from: OffsetDateTime,
        page: u32,
        limit: u32,
    ) -> Result<ListPage<HubCustomer>, HubError>;
    /// Creates a customer.
    async fn create_customer(
        &self,
        account: &AccountId,
        customer: &CustomerInput,
        idempotency_key: &str,
    ) -> Result<HubCustomer, HubError>;
    /// Updates a customer (present fields overwrite, absent stay).
    async fn update_customer(&self, account: &AccountId, id: &HubId, customer: &CustomerInput) -> Result<(), HubError>;
    /// Creates an order from a full snapshot.
    async fn create_order(
        &self,
        account: &AccountId,
        order: &OrderSnapshot,
        idempotency_key: &str,
    ) -> Result<HubId, HubError>;
    /// Replaces an order with a full snapshot.
    async fn update_order(&self, account: &AccountId, id: &HubId, order: &OrderSnapshot) -> Result<(), HubError>;
    /// Orders created in the Hub itself since `created_from`.
    async fn hub_orders(
        &self,
        account: &AccountId,
        created_from: OffsetDateTime,
        page: u32,
        limit: u32,
    ) -> Result<ListPage<HubOrder>, HubError>;
}
