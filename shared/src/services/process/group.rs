//! Nhanh's category tree → Hub product groups, parents first.

use super::outcome::{Failure, Outcome};
use super::Processor;
use crate::domain::Connection;
use crate::domain::Stream;
use crate::mapping;
use crate::nhanh::Category;
use crate::store::Entity;

impl Processor {
    pub(super) async fn sync_groups(&self, conn: &Connection, tree: &[Category]) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        for c in mapping::groups_in_order(tree) {
            let record = format!("product_group:{}", c.id);
            let parent = match c.parent_id {
                Some(p) => {
                    attempt!(
                        Stream::ProductGroups,
                        record,
                        self.maps.hub_id(account, Entity::ProductGroup, &p.to_string())
                    )
                }
                None => None,
            };
            let input = mapping::group_input(c, parent);
            let key = c.id.to_string();
            match attempt!(Stream::ProductGroups, record, self.maps.hub_id(account, Entity::ProductGroup, &key)) {
                Some(id) => {
                    attempt!(Stream::ProductGroups, record, self.hub.update_product_group(account, &id, &input))
                }
                None => {
                    let hub = self.hub.clone();
                    let acct = account.clone();
                    let (id, stale) = attempt!(
                        Stream::ProductGroups,
                        record,
                        self.create_once(
                            account,
                            Entity::ProductGroup,
                            &key,
                            &input,
                            |body: crate::hub::ProductGroupInput, k: String| {
                                let hub = hub.clone();
                                let acct = acct.clone();
                                async move { hub.create_product_group(&acct, &body, &k).await }
                            }
                        )
                    );
                    if stale {
                        attempt!(Stream::ProductGroups, record, self.hub.update_product_group(account, &id, &input));
                    }
                }
            }
        }
        Ok(Outcome::Applied(Stream::ProductGroups))
    }
}
