//! Nhanh's category tree → Hub product groups, parents first.

use super::outcome::{Failure, OfRecord, Outcome};
use super::Processor;
use crate::domain::Stream;
use crate::domain::{Connection, Counter};
use crate::mapping;
use crate::nhanh::Category;
use crate::store::Entity;

impl Processor {
    /// Creates or updates every group of the tree, parents first, and counts each one applied on
    /// the status (one counter write), so `product_groups.applied` is what reached the Hub.
    pub(super) async fn sync_groups(&self, conn: &Connection, tree: &[Category]) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let groups = mapping::groups_in_order(tree);
        for c in &groups {
            let record = format!("product_group:{}", c.id);
            let parent = match c.parent_id {
                Some(p) => self
                    .maps
                    .hub_id(account, Entity::ProductGroup, &p.to_string())
                    .await
                    .of_record(Stream::ProductGroups, &record)?,
                None => None,
            };
            let input = mapping::group_input(c, parent);
            let key = c.id.to_string();
            match self
                .maps
                .hub_id(account, Entity::ProductGroup, &key)
                .await
                .of_record(Stream::ProductGroups, &record)?
            {
                Some(id) => self
                    .hub
                    .update_product_group(account, &id, &input)
                    .await
                    .of_record(Stream::ProductGroups, &record)?,
                None => {
                    let hub = self.hub.clone();
                    let acct = account.clone();
                    let (id, stale) = self
                        .create_once(
                            account,
                            Entity::ProductGroup,
                            &key,
                            &input,
                            |body: crate::hub::ProductGroupInput, k: String| {
                                let hub = hub.clone();
                                let acct = acct.clone();
                                async move { hub.create_product_group(&acct, &body, &k).await }
                            },
                        )
                        .await
                        .of_record(Stream::ProductGroups, &record)?;
                    if stale {
                        self.hub
                            .update_product_group(account, &id, &input)
                            .await
                            .of_record(Stream::ProductGroups, &record)?;
                    }
                }
            }
        }
        let applied = u64::try_from(groups.len()).unwrap_or(u64::MAX);
        if applied == 0 {
            return Ok(Outcome::Skipped);
        }
        super::settle::records(account, Stream::ProductGroups, "applied", groups.len());
        if let Err(e) =
            self.stats.add(account, Stream::ProductGroups, Counter::Applied, applied, self.clock.now()).await
        {
            tracing::warn!(error = %e, "product group counter not updated");
        }
        Ok(Outcome::Skipped)
    }
}
