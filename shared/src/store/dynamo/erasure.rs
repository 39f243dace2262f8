//! A member's erasure in the table: the phone's id maps and create intent deleted, the order and
//! bill snapshots and intents that hold the person rewritten without them, dead letters that hold
//! them deleted, and one tombstone (`ERASED#{hub id}`: the Hub id and the phone's salted hash).

use super::codec::*;
use super::keys::*;
use super::*;
use crate::domain::Phone;
use crate::store::erasure::{phone_hash, redact, search_strings};
use crate::store::{Erased, ErasureStore};

/// Sort key prefix of the tombstones.
const ERASED_PREFIX: &str = "ERASED#";
/// The intents that may hold a customer: order and bill snapshots, and every create intent.
const PERSONAL_INTENTS: [&str; 3] = ["INT#snapshot:order#", "INT#snapshot:bill#", "INT#create:"];

#[async_trait]
impl ErasureStore for DynamoStore {
    async fn erase_customer(
        &self,
        account: &AccountId,
        hub_id: &HubId,
        phone: Option<&Phone>,
        at: OffsetDateTime,
    ) -> Result<Erased, StoreError> {
        let pk = account_pk(account);
        let mut erased = Erased::default();
        // The maps: by Hub id, and by the Nhanh key it names (`P{phone}`) while that still names
        // this customer; the create intent of that key.
        let by_hub = self.batch_get(&pk, &[map_by_hub_sk(Entity::Customer, hub_id)]).await?;
        let mut keys: Vec<String> = by_hub.values().filter_map(|i| text_attr(i, "target")).map(str::to_owned).collect();
        keys.extend(phone.map(|p| format!("P{}", p.as_str())));
        keys.sort();
        keys.dedup();
        let mut doomed = vec![map_by_hub_sk(Entity::Customer, hub_id)];
        let by_key =
            self.batch_get(&pk, &keys.iter().map(|k| map_by_nhanh_sk(Entity::Customer, k)).collect::<Vec<_>>()).await?;
        for (sk, item) in &by_key {
            if text_attr(item, "target") == Some(hub_id.as_str()) {
                doomed.push(sk.clone());
            }
        }
        doomed.extend(keys.iter().map(|k| intent_sk("create:customer", k)));
        for sk in doomed {
            erased.deleted += usize::from(self.delete_if_there(&pk, sk).await?);
        }
        // Bodies that hold the person: found by the Hub id or the phone as the snapshots write it.
        let needles = search_strings(hub_id, phone);
        for prefix in PERSONAL_INTENTS {
            for item in self.query_all(&pk, prefix, false).await? {
                let (Some(sk), Some(body)) = (text_attr(&item, "SK"), text_attr(&item, "body")) else { continue };
                if !needles.iter().any(|n| body.contains(n.as_str())) {
                    continue;
                }
                let Some(clean) = redact(body, hub_id, phone) else { continue };
                let rewrite = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("PK", s(&pk))
                    .key("SK", s(sk))
                    .update_expression("SET body = :clean")
                    .condition_expression("attribute_exists(SK)")
                    .expression_attribute_values(":clean", s(clean));
                erased.redacted += usize::from(conditional(rewrite.send().await)?);
            }
        }
        // Dead letters whose work item holds the person (they could not be applied anyway now).
        for item in self.query_all(&pk, DEAD_LETTER_PREFIX, false).await? {
            let (Some(sk), Some(data)) = (text_attr(&item, "SK"), text_attr(&item, "data")) else { continue };
            if needles.iter().any(|n| data.contains(n.as_str())) {
                erased.deleted += usize::from(self.delete_if_there(&pk, sk.to_owned()).await?);
            }
        }
        let mut tombstone = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(&pk))
            .item("SK", s(format!("{ERASED_PREFIX}{}", hub_id.as_str())))
            .item("at", n(at.unix_timestamp()));
        if let Some(phone) = phone {
            tombstone = tombstone.item("phone_hash", s(phone_hash(account, phone)));
        }
        tombstone.send().await.map_err(unavailable)?;
        Ok(erased)
    }

    async fn is_erased(&self, account: &AccountId, hub_id: &HubId) -> Result<bool, StoreError> {
        let sk = format!("{ERASED_PREFIX}{}", hub_id.as_str());
        Ok(!self.batch_get(&account_pk(account), &[sk]).await?.is_empty())
    }
}

impl DynamoStore {
    /// Deletes one item of `pk`; `false` when it was not there.
    async fn delete_if_there(&self, pk: &str, sk: String) -> Result<bool, StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .condition_expression("attribute_exists(SK)");
        conditional(delete.send().await)
    }
}
