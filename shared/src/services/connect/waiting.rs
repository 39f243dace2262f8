//! What of an account waits, for its status and page (issue 23, item 6): the order changes in its
//! backlog, the Nhanh rate locks running, the Hub outage and the records parked during it. Each
//! read is best effort: the status still answers when one fails.

use super::ConnectService;
use crate::domain::{Connection, NhanhBusiness};
use crate::services::status::{HubOutageView, RateLockView, Status};
use crate::store::BacklogKey;
use time::OffsetDateTime;

impl ConnectService {
    /// Fills `status.waiting`, `rate_locks` and `hub_outage`.
    pub(super) async fn add_waiting(&self, conn: &Connection, status: &mut Status, now: OffsetDateTime) {
        let account = &conn.account_id;
        let warn = |what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(account_id = account.as_str(), error = %e, "{what} not read");
        };
        if let Some(business_id) = conn.business_id {
            let business = NhanhBusiness { app_id: conn.app_id, business_id };
            let key = BacklogKey { account: account.clone(), business };
            match self.backlog.backlog(&key).await {
                Ok(backlog) => status.waiting.orders = backlog.orders.len(),
                Err(e) => warn("order backlog", &e),
            }
            match self.connections.get_with_rate_locks(account, business, now).await {
                Ok((_, Some(locks))) => {
                    status.rate_locks = locks.into_iter().map(|(path, until)| RateLockView { path, until }).collect();
                }
                Ok((_, None)) => {}
                Err(e) => warn("rate locks", &e),
            }
        }
        match self.outages.hub_outage().await {
            Ok(Some(outage)) => status.hub_outage = Some(HubOutageView { since: outage.since }),
            Ok(None) => {}
            Err(e) => warn("Hub outage", &e),
        }
        match self.outages.parked_count(account).await {
            Ok(parked) => status.waiting.parked = parked,
            Err(e) => warn("parked records", &e),
        }
    }
}
