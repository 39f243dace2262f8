//! Id maps, pass cursors and create intents of an account.

use super::codec::*;
use super::keys::*;
use super::*;

#[async_trait]
impl IdMapStore for DynamoStore {
    async fn hub_id(&self, account: &AccountId, entity: Entity, nhanh_key: &str) -> Result<Option<HubId>, StoreError> {
        let item = self.get_item(account_pk(account), &map_by_nhanh_sk(entity, nhanh_key)).await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "target")).and_then(|h| HubId::parse(h).ok()))
    }

    async fn nhanh_key(&self, account: &AccountId, entity: Entity, hub: &HubId) -> Result<Option<String>, StoreError> {
        let item = self.get_item(account_pk(account), &map_by_hub_sk(entity, hub)).await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "target")).map(str::to_owned))
    }

    /// Two ordered puts instead of a transaction: the Hub → Nhanh entry first, then the
    /// Nhanh → Hub entry that readers check, so a reader never sees half a pair (a crash between
    /// leaves only an unused reverse entry, overwritten by the retry). Half the write cost of a
    /// transaction, and no whole-table copy in the local emulator.
    async fn link(&self, account: &AccountId, entity: Entity, nhanh_key: &str, hub: &HubId) -> Result<(), StoreError> {
        let pk = account_pk(account);
        for (sk, target) in
            [(map_by_hub_sk(entity, hub), nhanh_key), (map_by_nhanh_sk(entity, nhanh_key), hub.as_str())]
        {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("PK", s(pk.clone()))
                .item("SK", s(sk))
                .item("target", s(target))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn hub_ids(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_keys: &[String],
    ) -> Result<HashMap<String, HubId>, StoreError> {
        let prefix = map_by_nhanh_prefix(entity);
        let items = self.batch_get_under(&account_pk(account), &prefix, nhanh_keys.iter().cloned()).await?;
        Ok(items
            .into_iter()
            .filter_map(|(key, item)| Some((key, text_attr(&item, "target").and_then(|h| HubId::parse(h).ok())?)))
            .collect())
    }

    /// One BatchGetItem (up to 100 keys a call) across entities.
    async fn hub_ids_of(
        &self,
        account: &AccountId,
        keys: &[(Entity, String)],
    ) -> Result<HashMap<(Entity, String), HubId>, StoreError> {
        let sort_keys: Vec<String> = keys.iter().map(|(entity, key)| map_by_nhanh_sk(*entity, key)).collect();
        let items = self.batch_get(&account_pk(account), &sort_keys).await?;
        Ok(keys
            .iter()
            .zip(&sort_keys)
            .filter_map(|(wanted, sk)| {
                let id = items.get(sk).and_then(|item| text_attr(item, "target")).and_then(|h| HubId::parse(h).ok())?;
                Some((wanted.clone(), id))
            })
            .collect())
    }

    async fn nhanh_keys(
        &self,
        account: &AccountId,
        entity: Entity,
        hubs: &[HubId],
    ) -> Result<HashMap<HubId, String>, StoreError> {
        let prefix = map_by_hub_prefix(entity);
        let items =
            self.batch_get_under(&account_pk(account), &prefix, hubs.iter().map(|h| h.as_str().to_owned())).await?;
        Ok(items
            .into_iter()
            .filter_map(|(hub, item)| Some((HubId::parse(&hub).ok()?, text_attr(&item, "target")?.to_owned())))
            .collect())
    }

    /// Two batch writes in order: all Hub → Nhanh entries, then all Nhanh → Hub entries.
    async fn link_all(&self, account: &AccountId, entity: Entity, pairs: &[(String, HubId)]) -> Result<(), StoreError> {
        let pk = account_pk(account);
        let entry = |sk: String, target: &str| {
            HashMap::from([
                ("PK".to_owned(), s(pk.as_str())),
                ("SK".to_owned(), s(sk)),
                ("target".to_owned(), s(target)),
            ])
        };
        let reverse = pairs.iter().map(|(key, hub)| entry(map_by_hub_sk(entity, hub), key)).collect();
        self.batch_put(reverse).await?;
        let forward = pairs.iter().map(|(key, hub)| entry(map_by_nhanh_sk(entity, key), hub.as_str())).collect();
        self.batch_put(forward).await
    }
}

#[async_trait]
impl CursorStore for DynamoStore {
    async fn cursor(&self, account: &AccountId, stream: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let item = self.get_item(account_pk(account), &cursor_sk(stream)).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok()))
    }

    async fn set_cursor(&self, account: &AccountId, stream: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(cursor_sk(stream)))
            .item("at", n(at.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Whether a conditional `PutItem` was written (`false`: its condition refused it).
fn condition_held<O>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>>,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = e.into_service_error();
            if e.is_conditional_check_failed_exception() {
                Ok(false)
            } else {
                Err(unavailable(e))
            }
        }
    }
}

/// How long create intents are kept (the Hub remembers an Idempotency-Key for 24 h).
const INTENT_TTL_DAYS: i64 = 2;

#[async_trait]
impl IntentStore for DynamoStore {
    async fn intent(&self, account: &AccountId, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let item = self.get_item(account_pk(account), &intent_sk(scope, key)).await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "body")).map(str::to_owned))
    }

    async fn set_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(intent_sk(scope, key)))
            .item("body", s(body))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn intents(
        &self,
        account: &AccountId,
        scope: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let items = self.batch_get_under(&account_pk(account), &intent_prefix(scope), keys.iter().cloned()).await?;
        Ok(items.into_iter().filter_map(|(key, item)| Some((key, text_attr(&item, "body")?.to_owned()))).collect())
    }

    async fn set_intents(
        &self,
        account: &AccountId,
        scope: &str,
        entries: &[(String, String)],
    ) -> Result<(), StoreError> {
        let pk = account_pk(account);
        let items = entries
            .iter()
            .map(|(key, body)| {
                HashMap::from([
                    ("PK".to_owned(), s(pk.as_str())),
                    ("SK".to_owned(), s(intent_sk(scope, key))),
                    ("body".to_owned(), s(body.as_str())),
                ])
            })
            .collect();
        self.batch_put(items).await
    }

    /// One conditional put (`ver` absent or not greater than ours); the losing side reads the
    /// snapshot that kept its place.
    async fn claim_snapshot(
        &self,
        account: &AccountId,
        scope: &str,
        key: &str,
        version: &str,
        body: &str,
    ) -> Result<VersionedSnapshot, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(intent_sk(scope, key)))
            .item("body", s(body))
            .item("ver", s(version))
            .condition_expression("attribute_not_exists(#ver) OR #ver <= :v")
            .expression_attribute_names("#ver", "ver")
            .expression_attribute_values(":v", s(version))
            .send()
            .await;
        if condition_held(result)? {
            return Ok(VersionedSnapshot { version: version.to_owned(), body: body.to_owned() });
        }
        self.versioned_snapshot(account, scope, key).await?.ok_or(StoreError::Conflict)
    }

    async fn versioned_snapshot(
        &self,
        account: &AccountId,
        scope: &str,
        key: &str,
    ) -> Result<Option<VersionedSnapshot>, StoreError> {
        let item = self.get_item(account_pk(account), &intent_sk(scope, key)).await?;
        Ok(item.as_ref().and_then(|i| {
            Some(VersionedSnapshot {
                version: text_attr(i, "ver").unwrap_or_default().to_owned(),
                body: text_attr(i, "body")?.to_owned(),
            })
        }))
    }

    async fn put_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<String, StoreError> {
        let expires = OffsetDateTime::now_utc() + time::Duration::days(INTENT_TTL_DAYS);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(intent_sk(scope, key)))
            .item("body", s(body))
            .item(TTL_ATTRIBUTE, n(expires.unix_timestamp()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if condition_held(result)? {
            return Ok(body.to_owned());
        }
        self.intent(account, scope, key).await?.ok_or(StoreError::Conflict)
    }
}
