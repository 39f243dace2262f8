//! The fleet read from the sparse `connections` index (keys and `state` only).

use super::codec::*;
use super::keys::*;
use super::*;
use crate::domain::ConnectionState;
use crate::store::FleetStore;

#[async_trait]
impl FleetStore for DynamoStore {
    async fn connection_states(
        &self,
        after: Option<String>,
        max: usize,
    ) -> Result<(Vec<(AccountId, ConnectionState)>, Option<String>), StoreError> {
        let after_pk = after.as_deref().and_then(|a| AccountId::parse(a).ok()).map(|a| account_pk(&a));
        let limit = i32::try_from(max.clamp(1, 1000)).unwrap_or(1000);
        let out = self.connections_index(after_pk, limit).send().await.map_err(unavailable)?;
        let states = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let account = text_attr(i, "PK").and_then(super::connections::account_of_pk)?;
                let state = text_attr(i, "state").and_then(ConnectionState::parse)?;
                Some((account, state))
            })
            .collect();
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| text_attr(k, "PK"))
            .and_then(|pk| pk.strip_prefix(ACCOUNT_PREFIX))
            .map(str::to_owned);
        Ok((states, next))
    }
}
