//! Nhanh products → Hub products (R9): one product re-read and applied, a page applied with
//! batched store calls, and deactivation when Nhanh deletes one.

use super::outcome::{err, Failure, Outcome};
use super::{Processor, PRODUCT_SNAPSHOT};
use crate::domain::Stream;
use crate::domain::{AccountId, Connection, Counter, HubId, NhanhId};
use crate::hub::ProductInput;
use crate::mapping;
use crate::nhanh::{Credentials, Product};
use crate::store::Entity;
use crate::Error;
use std::collections::HashMap;

impl Processor {
    pub(super) async fn upsert_product(&self, conn: &Connection, p: &Product, deleted: bool) -> Result<HubId, Failure> {
        let account = &conn.account_id;
        let record = format!("product:{}", p.id);
        let group = match p.category_id {
            Some(c) => {
                attempt!(Stream::Products, record, self.maps.hub_id(account, Entity::ProductGroup, &c.to_string()))
            }
            None => None,
        };
        let parent = match p.parent_id {
            Some(parent) => {
                attempt!(Stream::Products, record, self.maps.hub_id(account, Entity::Product, &parent.to_string()))
            }
            None => None,
        };
        let input = mapping::product_input(p, group, parent, deleted);
        let key = p.id.to_string();
        let id = match attempt!(Stream::Products, record, self.maps.hub_id(account, Entity::Product, &key)) {
            Some(id) => {
                attempt!(Stream::Products, record, self.hub.update_product(account, &id, &input));
                id
            }
            None => {
                let id = attempt!(Stream::Products, record, self.create_product(account, &key, &input));
                attempt!(Stream::Products, record, self.maps.link(account, Entity::Product, &key, &id));
                id
            }
        };
        let body = serde_json::to_string(&input).unwrap_or_default();
        attempt!(Stream::Products, record, self.intents.set_intent(account, PRODUCT_SNAPSHOT, &key, &body));
        Ok(id)
    }

    /// Creates a new Hub product (repeat-safe); returns its id, the map is linked by the caller.
    pub(super) async fn create_product(
        &self,
        account: &AccountId,
        key: &str,
        input: &ProductInput,
    ) -> Result<HubId, Error> {
        let hub = self.hub.clone();
        let acct = account.clone();
        let (id, stale) = self
            .send_create(account, Entity::Product, key, input, |body: ProductInput, k: String| {
                let hub = hub.clone();
                let acct = acct.clone();
                async move { hub.create_product(&acct, &body, &k).await }
            })
            .await?;
        if stale {
            self.hub.update_product(account, &id, input).await?;
        }
        Ok(id)
    }

    pub(super) async fn sync_product(
        &self,
        conn: &Connection,
        creds: &Credentials,
        id: NhanhId,
    ) -> Result<Outcome, Failure> {
        let record = format!("product:{id}");
        let found = attempt!(Stream::Products, record, self.nhanh.product(creds, id));
        let Some(product) = found.iter().find(|p| p.id == id) else {
            return self.deactivate_product(conn, id).await;
        };
        if let Some(parent_id) = product.parent_id {
            let mapped = attempt!(
                Stream::Products,
                record,
                self.maps.hub_id(&conn.account_id, Entity::Product, &parent_id.to_string())
            );
            if mapped.is_none() {
                let parents = attempt!(Stream::Products, record, self.nhanh.product(creds, parent_id));
                if let Some(parent) = parents.iter().find(|p| p.id == parent_id) {
                    self.upsert_product(conn, parent, false).await?;
                }
            }
        }
        self.upsert_product(conn, product, false).await?;
        Ok(Outcome::Applied(Stream::Products))
    }

    pub(super) async fn deactivate_product(&self, conn: &Connection, id: NhanhId) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("product:{id}");
        let key = id.to_string();
        let Some(hub_id) = attempt!(Stream::Products, record, self.maps.hub_id(account, Entity::Product, &key)) else {
            return Ok(Outcome::Skipped);
        };
        let last = attempt!(Stream::Products, record, self.intents.intent(account, PRODUCT_SNAPSHOT, &key));
        let Some(mut input) = last.and_then(|b| serde_json::from_str::<ProductInput>(&b).ok()) else {
            return Err(Failure::permanent(Stream::Products, record, "no last snapshot of the product to deactivate"));
        };
        input.status = "inactive".into();
        attempt!(Stream::Products, record, self.hub.update_product(account, &hub_id, &input));
        let body = serde_json::to_string(&input).unwrap_or_default();
        attempt!(Stream::Products, record, self.intents.set_intent(account, PRODUCT_SNAPSHOT, &key, &body));
        Ok(Outcome::Applied(Stream::Products))
    }

    /// Applies a page of products, parents first, with batched store calls: one read of the
    /// page's maps and one of its last snapshots, a create intent only per new product, then one
    /// write of the new links, one of the snapshots and one counter update. A product whose body
    /// equals its last snapshot is not sent again. What was applied before a retryable failure is
    /// still recorded, so the retry redoes less.
    pub(super) async fn apply_products(&self, conn: &Connection, mut products: Vec<Product>) -> Result<(), Failure> {
        let account = &conn.account_id;
        products.sort_by_key(|p| p.parent_id.is_some());
        let own: Vec<String> = products.iter().map(|p| p.id.to_string()).collect();
        let mut wanted = own.clone();
        wanted.extend(products.iter().filter_map(|p| p.parent_id).map(|id| id.to_string()));
        let categories: Vec<String> = products.iter().filter_map(|p| p.category_id).map(|c| c.to_string()).collect();
        let mut known =
            self.maps.hub_ids(account, Entity::Product, &wanted).await.map_err(|e| err(Stream::Products, e))?;
        let groups = match categories.is_empty() {
            true => HashMap::new(),
            false => self
                .maps
                .hub_ids(account, Entity::ProductGroup, &categories)
                .await
                .map_err(|e| err(Stream::Products, e))?,
        };
        let last = self.intents.intents(account, PRODUCT_SNAPSHOT, &own).await.map_err(|e| err(Stream::Products, e))?;
        let (mut links, mut snapshots, mut outcome) = (Vec::new(), Vec::new(), Ok(()));
        for p in &products {
            let key = p.id.to_string();
            let group = p.category_id.and_then(|c| groups.get(&c.to_string())).cloned();
            let parent = p.parent_id.and_then(|id| known.get(&id.to_string())).cloned();
            let input = mapping::product_input(p, group, parent, false);
            let body = serde_json::to_string(&input).unwrap_or_default();
            let sent = match known.get(&key) {
                Some(_) if last.get(&key) == Some(&body) => continue,
                Some(id) => self.hub.update_product(account, id, &input).await.map(|()| None).map_err(Error::from),
                None => self.create_product(account, &key, &input).await.map(Some),
            };
            match sent {
                Ok(created) => {
                    if let Some(id) = created {
                        known.insert(key.clone(), id.clone());
                        links.push((key.clone(), id));
                    }
                    snapshots.push((key, body));
                }
                Err(e) => match super::outcome::classify(Stream::Products, &format!("product:{key}"), e) {
                    Failure::Permanent { stream, record, reason } => {
                        self.log_failure(conn, stream, &record, reason).await
                    }
                    retry => {
                        outcome = Err(retry);
                        break;
                    }
                },
            }
        }
        if !links.is_empty() {
            self.maps.link_all(account, Entity::Product, &links).await.map_err(|e| err(Stream::Products, e))?;
        }
        if !snapshots.is_empty() {
            self.intents
                .set_intents(account, PRODUCT_SNAPSHOT, &snapshots)
                .await
                .map_err(|e| err(Stream::Products, e))?;
            let counted = self
                .stats
                .add(account, Stream::Products, Counter::Applied, snapshots.len() as u64, self.clock.now())
                .await;
            if let Err(e) = counted {
                tracing::warn!(account_id = account.as_str(), error = %e, "counter not updated");
            }
        }
        outcome
    }
}
