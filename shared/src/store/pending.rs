//! Connect attempts waiting for Nhanh's redirect, and the exchange waiting for the admin's
//! confirmation (issue 22).

use super::StoreError;
use crate::domain::{AccountId, AppId, BusinessId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A connect attempt waiting for Nhanh's redirect (10 minutes, like the access code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingAttempt {
    /// The Hub account.
    pub account_id: AccountId,
    /// The app the admin entered.
    pub app_id: AppId,
    /// The Secret Key, sealed.
    pub secret_key_sealed: String,
    /// The Hub user who started it.
    pub user_id: String,
    /// When it stops being valid.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The access code's exchange, once the callback made it: waiting for the admin's confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangedGrant>,
}

/// A consent exchanged at the callback and shown to the admin, not yet claimed (issue 22): what the
/// confirmation stores as the connection. The access token is sealed under the attempt's account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangedGrant {
    /// The business the code was consented for.
    pub business_id: BusinessId,
    /// The version the token belongs to.
    pub api_version: crate::domain::ApiVersion,
    /// The access token, sealed (context: the account's access token).
    pub access_token_sealed: String,
    /// When the token expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Depots granted (empty: all).
    pub depot_ids: Vec<u64>,
    /// Permissions as Nhanh listed them.
    pub permissions: Vec<crate::nhanh::Permission>,
    /// The business's depots, read with the token: how the confirmation names the business.
    pub depots: Vec<crate::domain::Depot>,
}

/// Pending connect attempts, keyed by (account, app).
#[async_trait]
pub trait PendingStore: Send + Sync {
    /// Stores (or replaces) an attempt.
    async fn put_pending(&self, attempt: &PendingAttempt) -> Result<(), StoreError>;
    /// The attempt, unless absent or expired at `now`.
    async fn get_pending(
        &self,
        account: &AccountId,
        app: AppId,
        now: OffsetDateTime,
    ) -> Result<Option<PendingAttempt>, StoreError>;
    /// Removes the attempt.
    async fn delete_pending(&self, account: &AccountId, app: AppId) -> Result<(), StoreError>;
}
