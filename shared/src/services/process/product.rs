//! Nhanh products → Hub products (R9): one product re-read and applied, a page applied with
//! batched store calls, and deactivation when Nhanh deletes one.

use super::outcome::{err, Failure, OfRecord, Outcome};
use super::{Processor, PRODUCT_SNAPSHOT};
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{AccountId, Connection, Counter, HubId, NhanhId};
use crate::hub::ProductInput;
use crate::mapping;
use crate::nhanh::{Credentials, Product};
use crate::store::Entity;
use crate::Error;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a page's Hub writes leave to record: the links of the products created and the bodies
/// sent (the last snapshots).
#[derive(Debug, Default)]
pub(super) struct PageRecords {
    /// Nhanh key → Hub id, of the products created.
    pub links: Vec<(String, HubId)>,
    /// Nhanh key → body sent.
    pub snapshots: Vec<(String, String)>,
}

/// Hub writes in flight at once while a page of products is applied. Decision: the Hub allows
/// about 50 requests/s per account (`loyalty-hub-api.md`) and the Hub client paces itself under
/// it; at the Hub's usual 50–100 ms per write (and our intent write before each create), 8 in
/// flight keep that pace full (4 reached about 20/s here), and a 429 still stops the page's
/// further writes.
pub(crate) const HUB_WRITES_IN_FLIGHT: usize = 8;

/// One product's Hub write: `Some(Ok(Some(id)))` created, `Some(Ok(None))` updated,
/// `Some(Err(_))` failed, `None` not sent (an earlier write of the page failed retryably).
type ProductWrite = Option<Result<Option<HubId>, Failure>>;

impl Processor {
    pub(super) async fn upsert_product(&self, conn: &Connection, p: &Product, deleted: bool) -> Result<HubId, Failure> {
        let account = &conn.account_id;
        let record = format!("product:{}", p.id);
        let group = match p.category_id {
            Some(c) => self
                .maps
                .hub_id(account, Entity::ProductGroup, &c.to_string())
                .await
                .of_record(Stream::Products, &record)?,
            None => None,
        };
        let parent = match p.parent_id {
            Some(parent) => self
                .maps
                .hub_id(account, Entity::Product, &parent.to_string())
                .await
                .of_record(Stream::Products, &record)?,
            None => None,
        };
        let input = mapping::product_input(p, group, parent, deleted);
        let key = p.id.to_string();
        let id = match self.maps.hub_id(account, Entity::Product, &key).await.of_record(Stream::Products, &record)? {
            Some(id) => {
                self.hub.update_product(account, &id, &input).await.of_record(Stream::Products, &record)?;
                id
            }
            None => {
                let id = self.create_product(account, &key, &input).await.of_record(Stream::Products, &record)?;
                self.maps.link(account, Entity::Product, &key, &id).await.of_record(Stream::Products, &record)?;
                id
            }
        };
        let body = serde_json::to_string(&input).unwrap_or_default();
        self.intents.set_intent(account, PRODUCT_SNAPSHOT, &key, &body).await.of_record(Stream::Products, &record)?;
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
        let found = self.nhanh.product(creds, id).await.of_record(Stream::Products, &record)?;
        let Some(product) = found.iter().find(|p| p.id == id) else {
            return self.deactivate_product(conn, id).await;
        };
        if let Some(parent_id) = product.parent_id {
            let mapped = self
                .maps
                .hub_id(&conn.account_id, Entity::Product, &parent_id.to_string())
                .await
                .of_record(Stream::Products, &record)?;
            if mapped.is_none() {
                let parents = self.nhanh.product(creds, parent_id).await.of_record(Stream::Products, &record)?;
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
        let Some(hub_id) =
            self.maps.hub_id(account, Entity::Product, &key).await.of_record(Stream::Products, &record)?
        else {
            return Ok(Outcome::Skipped);
        };
        let last = self.intents.intent(account, PRODUCT_SNAPSHOT, &key).await.of_record(Stream::Products, &record)?;
        let Some(mut input) = last.and_then(|b| serde_json::from_str::<ProductInput>(&b).ok()) else {
            return Err(Failure::permanent(
                FailureKind::NeverSynced,
                Stream::Products,
                record,
                "no last snapshot of the product to deactivate",
            ));
        };
        input.status = "inactive".into();
        self.hub.update_product(account, &hub_id, &input).await.of_record(Stream::Products, &record)?;
        let body = serde_json::to_string(&input).unwrap_or_default();
        self.intents.set_intent(account, PRODUCT_SNAPSHOT, &key, &body).await.of_record(Stream::Products, &record)?;
        Ok(Outcome::Applied(Stream::Products))
    }

    /// Applies a page of products: its Hub writes ([`Processor::write_products_page`]), then their
    /// records ([`Processor::record_products_page`]). A retryable failure starts no further
    /// write; what was applied before and beside it is still recorded, so the retry redoes less.
    pub(super) async fn apply_products(&self, conn: &Connection, products: Vec<Product>) -> Result<(), Failure> {
        let (records, outcome) = self.write_products_page(conn, products, &[]).await?;
        self.record_products_page(conn, records).await?;
        outcome
    }

    /// The Hub writes of a page of products, parents first, with batched store reads: one read of
    /// the page's maps and one of its last snapshots, a create intent only per new product. A
    /// product whose body equals its last snapshot is not sent again. Up to
    /// [`HUB_WRITES_IN_FLIGHT`] Hub writes run at once (parents, then their children, who need the
    /// parents' Hub ids). `unrecorded`: links made by an earlier page whose records are still
    /// being written (issue 23: the initial sync records a page while the next one writes), so a
    /// child whose parent was on that page finds it. Returns what to record, and the outcome of
    /// the writes (a retryable failure starts no further write).
    pub(super) async fn write_products_page(
        &self,
        conn: &Connection,
        mut products: Vec<Product>,
        unrecorded: &[(String, HubId)],
    ) -> Result<(PageRecords, Result<(), Failure>), Failure> {
        let account = &conn.account_id;
        products.sort_by_key(|p| p.parent_id.is_some());
        let own: Vec<String> = products.iter().map(|p| p.id.to_string()).collect();
        let mut wanted = own.clone();
        wanted.extend(products.iter().filter_map(|p| p.parent_id).map(|id| id.to_string()));
        let categories: Vec<String> = products.iter().filter_map(|p| p.category_id).map(|c| c.to_string()).collect();
        // The page's three reads at once (the Hub waits for none of them longer than needed).
        let groups = async {
            match categories.is_empty() {
                true => Ok(HashMap::new()),
                false => self.maps.hub_ids(account, Entity::ProductGroup, &categories).await,
            }
        };
        let (mut known, groups, last) = futures::future::try_join3(
            self.maps.hub_ids(account, Entity::Product, &wanted),
            groups,
            self.intents.intents(account, PRODUCT_SNAPSHOT, &own),
        )
        .await
        .map_err(|e| err(Stream::Products, e))?;
        for (key, id) in unrecorded {
            known.entry(key.clone()).or_insert_with(|| id.clone());
        }
        let (mut records, mut outcome) = (PageRecords::default(), Ok(()));
        let children_from = products.iter().position(|p| p.parent_id.is_some()).unwrap_or(products.len());
        let (parents, children) = products.split_at(children_from);
        for phase in [parents, children] {
            // Bodies are mapped once the phase before is linked: a child needs its parent's id.
            let mut writes = Vec::new();
            for p in phase {
                let key = p.id.to_string();
                let group = p.category_id.and_then(|c| groups.get(&c.to_string())).cloned();
                let parent = p.parent_id.and_then(|id| known.get(&id.to_string())).cloned();
                let input = mapping::product_input(p, group, parent, false);
                let body = serde_json::to_string(&input).unwrap_or_default();
                let hub_id = known.get(&key).cloned();
                if hub_id.is_some() && last.get(&key) == Some(&body) {
                    continue;
                }
                writes.push((key, body, input, hub_id));
            }
            for (key, body, result) in self.write_products(account, writes).await {
                match result {
                    Some(Ok(created)) => {
                        if let Some(id) = created {
                            known.insert(key.clone(), id.clone());
                            records.links.push((key.clone(), id));
                        }
                        records.snapshots.push((key, body));
                    }
                    // A permanent failure is logged; the first retryable one stops the sync.
                    Some(Err(failure)) => {
                        if let Err(retry) = self.go_on(conn, Err(failure)).await {
                            if outcome.is_ok() {
                                outcome = Err(retry);
                            }
                        }
                    }
                    None => {}
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        Ok((records, outcome))
    }

    /// Records what a page's Hub writes did: the new links and the snapshots sent at once (a
    /// snapshot without its link is harmless: a product with no Hub id is never skipped as
    /// unchanged, and its create resends the recorded intent), then the applied counter.
    pub(super) async fn record_products_page(&self, conn: &Connection, records: PageRecords) -> Result<(), Failure> {
        let account = &conn.account_id;
        let PageRecords { links, snapshots } = records;
        let link = async {
            match links.is_empty() {
                true => Ok(()),
                false => self.maps.link_all(account, Entity::Product, &links).await,
            }
        };
        let record = async {
            match snapshots.is_empty() {
                true => Ok(()),
                false => self.intents.set_intents(account, PRODUCT_SNAPSHOT, &snapshots).await,
            }
        };
        futures::future::try_join(link, record).await.map_err(|e| err(Stream::Products, e))?;
        if !snapshots.is_empty() {
            super::settle::records(account, Stream::Products, "applied", snapshots.len());
            let counted = self
                .stats
                .add(account, Stream::Products, Counter::Applied, snapshots.len() as u64, self.clock.now())
                .await;
            if let Err(e) = counted {
                tracing::warn!(account_id = account.as_str(), error = %e, "counter not updated");
            }
        }
        Ok(())
    }

    /// Sends the Hub writes of a page, [`HUB_WRITES_IN_FLIGHT`] at a time, in the given order:
    /// an update where the product has a Hub id, else a repeat-safe create (`Some(id)`). Once one
    /// fails retryably, no further write starts (`None`: not sent).
    async fn write_products(
        &self,
        account: &AccountId,
        writes: Vec<(String, String, ProductInput, Option<HubId>)>,
    ) -> Vec<(String, String, ProductWrite)> {
        let stopped = AtomicBool::new(false);
        let stopped = &stopped;
        futures::stream::iter(writes)
            .map(|(key, body, input, hub_id)| async move {
                if stopped.load(Ordering::Relaxed) {
                    return (key, body, None);
                }
                let sent = match hub_id {
                    Some(id) => self.hub.update_product(account, &id, &input).await.map(|()| None).map_err(Error::from),
                    None => self.create_product(account, &key, &input).await.map(Some),
                };
                let result = sent.map_err(|e| super::outcome::classify(Stream::Products, &format!("product:{key}"), e));
                if matches!(result, Err(Failure::Retry { .. })) {
                    stopped.store(true, Ordering::Relaxed);
                }
                (key, body, Some(result))
            })
            .buffered(HUB_WRITES_IN_FLIGHT)
            .collect()
            .await
    }
}
