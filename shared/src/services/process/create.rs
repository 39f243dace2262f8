//! Hub creates that are safe to repeat: the body is recorded before the call (an intent) and
//! the Idempotency-Key is `{account}:{entity}:{nhanh key}`, so a retry after a lost answer
//! resends the identical request and gets the same record.

use super::Processor;
use crate::domain::{AccountId, HubId};
use crate::hub::HubError;
use crate::store::Entity;
use crate::Error;

/// Scope of create intents.
const CREATE: &str = "create";

impl Processor {
    /// Creates a Hub record once, then links the map. Returns the id and whether the body sent was
    /// an earlier one (the caller then applies the current body).
    pub(super) async fn create_once<T: serde::Serialize + serde::de::DeserializeOwned, F, Fut>(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_key: &str,
        body: &T,
        create: F,
    ) -> Result<(HubId, bool), Error>
    where
        F: Fn(T, String) -> Fut,
        Fut: std::future::Future<Output = Result<HubId, HubError>>,
    {
        let (id, stale) = self.send_create(account, entity, nhanh_key, body, create).await?;
        self.maps.link(account, entity, nhanh_key, &id).await?;
        Ok((id, stale))
    }

    /// Sends a Hub create that is safe to repeat: the body is recorded first (the first recorded
    /// body wins, so a retry resends the identical request under the same Idempotency-Key).
    /// The caller links the map.
    pub(super) async fn send_create<T: serde::Serialize + serde::de::DeserializeOwned, F, Fut>(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_key: &str,
        body: &T,
        create: F,
    ) -> Result<(HubId, bool), Error>
    where
        F: Fn(T, String) -> Fut,
        Fut: std::future::Future<Output = Result<HubId, HubError>>,
    {
        let wanted = serde_json::to_string(body).map_err(|e| Error::Invalid(e.to_string()))?;
        let scope = format!("{CREATE}:{}", entity.as_str());
        let first = self.intents.put_intent(account, &scope, nhanh_key, &wanted).await?;
        let first_body: T = serde_json::from_str(&first).map_err(|e| Error::Invalid(e.to_string()))?;
        let key = format!("{}:{}:{nhanh_key}", account.as_str(), entity.as_str());
        let id = create(first_body, key).await?;
        Ok((id, first != wanted))
    }
}
