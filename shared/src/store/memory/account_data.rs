//! The in-memory expiry of an account's kept data: the maps, intents and cursors of the account
//! stand for its items, named as the table names them (`MAP#…`, `INT#…`, `CUR#…`).

use super::*;

impl State {
    /// The sort keys of the account's kept items, in order.
    fn kept_items(&self, account: &AccountId) -> Vec<String> {
        let mut keys: Vec<String> = self
            .maps
            .keys()
            .filter(|(a, _, _)| a == account)
            .map(|(_, entity, key)| format!("MAP#{}#{key}", entity.as_str()))
            .chain(
                self.intents
                    .keys()
                    .filter(|(a, _, _)| a == account)
                    .map(|(_, scope, key)| format!("INT#{scope}#{key}")),
            )
            .chain(self.cursors.keys().filter(|(a, _)| a == account).map(|(_, stream)| format!("CUR#{stream}")))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

impl MemoryStore {
    /// The expiry each item of `account` carries (tests).
    pub fn data_expiry(&self, account: &AccountId) -> Vec<(String, OffsetDateTime)> {
        self.with(|s| {
            let mut found: Vec<(String, OffsetDateTime)> =
                s.data_expiry.iter().filter(|((a, _), _)| a == account).map(|((_, k), at)| (k.clone(), *at)).collect();
            found.sort();
            Ok(found)
        })
        .unwrap_or_default()
    }
}

#[async_trait]
impl AccountDataStore for MemoryStore {
    async fn set_data_expiry(
        &self,
        account: &AccountId,
        expires_at: Option<OffsetDateTime>,
        after: Option<String>,
        max: usize,
    ) -> Result<DataPage, StoreError> {
        self.with(|s| {
            let keys: Vec<String> =
                s.kept_items(account).into_iter().filter(|k| after.as_ref().is_none_or(|a| k > a)).collect();
            let page: Vec<String> = keys.iter().take(max.max(1)).cloned().collect();
            let next = (keys.len() > page.len()).then(|| page.last().cloned()).flatten();
            let mut changed = 0;
            for key in page {
                let slot = (account.clone(), key);
                let done = match expires_at {
                    Some(at) => s.data_expiry.insert(slot, at).is_none_or(|before| before != at),
                    None => s.data_expiry.remove(&slot).is_some(),
                };
                changed += usize::from(done);
            }
            Ok(DataPage { changed, next })
        })
    }
}
