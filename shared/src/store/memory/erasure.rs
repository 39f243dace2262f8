//! The in-memory erasure: the same rules over the maps, intents and dead letters.

use super::*;
use crate::domain::Phone;
use crate::store::erasure::{redact, search_strings};

#[async_trait]
impl ErasureStore for MemoryStore {
    async fn erase_customer(
        &self,
        account: &AccountId,
        hub_id: &HubId,
        phone: Option<&Phone>,
        _at: OffsetDateTime,
    ) -> Result<Erased, StoreError> {
        self.with(|s| {
            let mut erased = Erased::default();
            let by_hub = (account.clone(), Entity::Customer, format!("H#{}", hub_id.as_str()));
            let mut keys: Vec<String> = s.maps.remove(&by_hub).into_iter().collect();
            erased.deleted += keys.len();
            keys.extend(phone.map(|p| format!("P{}", p.as_str())));
            for key in &keys {
                let by_key = (account.clone(), Entity::Customer, format!("N#{key}"));
                if s.maps.get(&by_key).map(String::as_str) == Some(hub_id.as_str()) {
                    s.maps.remove(&by_key);
                    erased.deleted += 1;
                }
                erased.deleted +=
                    usize::from(s.intents.remove(&(account.clone(), "create:customer".into(), key.clone())).is_some());
            }
            for ((a, scope, _), body) in s.intents.iter_mut() {
                let holds = scope.starts_with("snapshot:order")
                    || scope.starts_with("snapshot:bill")
                    || scope.starts_with("create:");
                if a == account && holds {
                    if let Some(clean) = redact(body, hub_id, phone) {
                        *body = clean;
                        erased.redacted += 1;
                    }
                }
            }
            let needles = search_strings(hub_id, phone);
            let before = s.dead_letters.len();
            s.dead_letters
                .retain(|(a, _), letter| a != account || !needles.iter().any(|n| letter.body.contains(n.as_str())));
            erased.deleted += before - s.dead_letters.len();
            s.erased.insert((account.clone(), hub_id.clone()));
            Ok(erased)
        })
    }

    async fn is_erased(&self, account: &AccountId, hub_id: &HubId) -> Result<bool, StoreError> {
        self.with(|s| Ok(s.erased.contains(&(account.clone(), hub_id.clone()))))
    }
}
