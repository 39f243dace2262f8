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
        let first = self.intents.put_intent(account, &create_scope(entity), nhanh_key, &wanted).await?;
        self.send_recorded_create(account, entity, nhanh_key, &wanted, &first, create).await
    }

    /// Sends a Hub create whose intent is recorded already (`first`: the body recorded first;
    /// `wanted`: this caller's): the first body goes, under the key's Idempotency-Key. Returns the
    /// id and whether the body sent was an earlier one.
    pub(super) async fn send_recorded_create<T: serde::de::DeserializeOwned, F, Fut>(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_key: &str,
        wanted: &str,
        first: &str,
        create: F,
    ) -> Result<(HubId, bool), Error>
    where
        F: Fn(T, String) -> Fut,
        Fut: std::future::Future<Output = Result<HubId, HubError>>,
    {
        let first_body: T = serde_json::from_str(first).map_err(|e| Error::Invalid(e.to_string()))?;
        let key = format!("{}:{}:{nhanh_key}", account.as_str(), entity.as_str());
        let id = create(first_body, key).await?;
        Ok((id, first != wanted))
    }
}

/// The scope of an entity's create intents (`create:product`, …).
pub(super) fn create_scope(entity: Entity) -> String {
    format!("{CREATE}:{}", entity.as_str())
}
