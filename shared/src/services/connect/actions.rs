//! The merchant's actions on the connected page: re-queue a failed record (**Thử lại**) and run the
//! scheduled pass now (**Đồng bộ lại ngay**), both through the work queue the processor reads.

use super::{ConnectError, ConnectService};
use crate::domain::{AccountId, NhanhId, Origin, WorkItem};
use crate::nhanh::WebhookKind;
use crate::Error;

/// The shortest time between two passes the merchant starts by hand.
pub const PASS_NOW_INTERVAL: time::Duration = time::Duration::minutes(3);
/// The shortest time between two **Thử lại** of one order or product (each is a Nhanh re-read).
pub const RETRY_INTERVAL: time::Duration = time::Duration::minutes(1);
/// The cursor recording when the merchant last started a pass.
const PASS_NOW_CURSOR: &str = "pass_now";

/// What an action did, for the page's notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Queued; the processor applies it shortly.
    Queued,
    /// A pass was started by hand less than [`PASS_NOW_INTERVAL`] ago: not queued again.
    TooSoon,
}

impl ConnectService {
    /// Re-queues a record of the error log: an order or a product is read again from Nhanh and
    /// applied (as its webhook would), at most once per [`RETRY_INTERVAL`]; any other record (a
    /// bill, a group, a Hub record) is reached by a pass, queued as **Đồng bộ lại ngay** queues it
    /// (at most one per [`PASS_NOW_INTERVAL`]), so the button cannot be used to flood the queue
    /// or spend the merchant's Nhanh rate limit (issue 22).
    pub async fn retry_failure(
        &self,
        account: &AccountId,
        entity: &str,
        record: &str,
    ) -> Result<ActionOutcome, ConnectError> {
        let conn = self.connected(account).await?;
        let now = self.clock.now();
        let change = match entity {
            "order" => Some(WebhookKind::OrderChanged),
            "product" => Some(WebhookKind::ProductChanged),
            _ => None,
        };
        let (Some(change), Ok(record_id)) = (change, NhanhId::parse(record)) else {
            return self.pass_now(account).await;
        };
        let entity = if change == WebhookKind::OrderChanged { "order" } else { "product" };
        let cursor = format!("retry:{entity}:{record_id}");
        let last = self.cursors.cursor(account, &cursor).await?;
        if last.is_some_and(|l| now - l < RETRY_INTERVAL) {
            return Ok(ActionOutcome::TooSoon);
        }
        self.cursors.set_cursor(account, &cursor, now).await?;
        let item = WorkItem::NhanhChange {
            account_id: account.clone(),
            api_version: conn.api_version,
            received_at: now,
            event: "retry".into(),
            change,
            record_id,
            business: None,
        };
        self.queue_item(&item, Origin::FollowUp(now)).await?;
        tracing::info!(account_id = account.as_str(), entity, record, "failed record re-queued by the merchant");
        Ok(ActionOutcome::Queued)
    }

    /// Moves a dead letter of the account back to the work queue (`false`: it is no longer there).
    pub async fn retry_dead_letter(&self, account: &AccountId, message_id: &str) -> Result<bool, ConnectError> {
        self.connected(account).await?;
        let Some(dead_letters) = &self.dead_letters else { return Ok(false) };
        let moved = dead_letters.requeue(account, message_id).await.map_err(Error::Queue)?;
        tracing::info!(account_id = account.as_str(), message_id, moved, "dead letter re-queued by the merchant");
        Ok(moved)
    }

    /// Queues the scheduled pass now, at most once per [`PASS_NOW_INTERVAL`].
    pub async fn pass_now(&self, account: &AccountId) -> Result<ActionOutcome, ConnectError> {
        self.connected(account).await?;
        let now = self.clock.now();
        let last = self.cursors.cursor(account, PASS_NOW_CURSOR).await?;
        if last.is_some_and(|l| now - l < PASS_NOW_INTERVAL) {
            return Ok(ActionOutcome::TooSoon);
        }
        self.cursors.set_cursor(account, PASS_NOW_CURSOR, now).await?;
        let item = WorkItem::ReconcileAccount { account_id: account.clone(), tick: now, resume: None };
        self.queue_item(&item, Origin::FollowUp(now)).await?;
        tracing::info!(account_id = account.as_str(), "scheduled pass started by the merchant");
        Ok(ActionOutcome::Queued)
    }

    async fn connected(&self, account: &AccountId) -> Result<crate::domain::Connection, ConnectError> {
        self.connections.get(account).await?.filter(|c| c.state.is_connected()).ok_or(ConnectError::NotConnected)
    }

    /// Queues one work item, from `origin`.
    pub(super) async fn queue_item(&self, item: &WorkItem, origin: Origin<'_>) -> Result<(), ConnectError> {
        let queue =
            self.queue.as_ref().ok_or_else(|| ConnectError::Upstream(Error::Invalid("no work queue".into())))?;
        let message = item.to_message(origin).map_err(|e| Error::Invalid(e.to_string()))?;
        queue.send(std::slice::from_ref(&message)).await.map_err(Error::Queue)?;
        Ok(())
    }
}
