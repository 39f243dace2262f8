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
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CONNECTIONS_INDEX)
            .key_condition_expression("#list = :conn")
            .expression_attribute_names("#list", CONNECTIONS_INDEX_KEY)
            .expression_attribute_values(":conn", s(CONNECTION_SK))
            .limit(i32::try_from(max.clamp(1, 1000)).unwrap_or(1000));
        if let Some(account) = after.as_deref().and_then(|a| AccountId::parse(a).ok()) {
            request = request
                .exclusive_start_key(CONNECTIONS_INDEX_KEY, s(CONNECTION_SK))
                .exclusive_start_key("PK", s(account_pk(&account)))
                .exclusive_start_key("SK", s(CONNECTION_SK));
        }
        let out = request.send().await.map_err(unavailable)?;
        let states = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let account =
                    text_attr(i, "PK")?.strip_prefix(ACCOUNT_PREFIX).and_then(|a| AccountId::parse(a).ok())?;
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
