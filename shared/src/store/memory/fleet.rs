//! The in-memory fleet: the connections, in account order.

use super::*;
use crate::domain::ConnectionState;

#[async_trait]
impl FleetStore for MemoryStore {
    async fn connection_states(
        &self,
        after: Option<String>,
        max: usize,
    ) -> Result<(Vec<(AccountId, ConnectionState)>, Option<String>), StoreError> {
        self.with(|s| {
            let mut all: Vec<(AccountId, ConnectionState)> = s
                .connections
                .values()
                .filter(|c| after.as_deref().is_none_or(|a| c.account_id.as_str() > a))
                .map(|c| (c.account_id.clone(), c.state))
                .collect();
            all.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            let more = all.len() > max;
            all.truncate(max);
            let next = more.then(|| all.last().map(|(a, _)| a.as_str().to_owned())).flatten();
            Ok((all, next))
        })
    }
}
