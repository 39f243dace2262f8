//! Order changes go to the business's backlog, not one work item each (issue 23): two small writes
//! per webhook (the order, the mark), and one drain item queued while the backlog has none marked. The drain re-reads the
//! waiting orders together.

use super::{IntakeError, IntakeService, Outcome};
use crate::domain::{AccountId, NhanhBusiness, NhanhId, Origin, WorkItem};
use crate::store::BacklogKey;
use crate::Error;
use time::OffsetDateTime;

/// How old a drain mark may be before intake takes it as lost and queues a drain again. A drain
/// refreshes nothing while it waits for a retry (at most 15 minutes apart), so this is twice that;
/// a second drain queued beside a living one costs one empty read.
pub const DRAIN_MARK_STALE_AFTER: time::Duration = time::Duration::minutes(30);

impl IntakeService {
    /// Records changes of `ids` in the backlog of `business` and queues its drain when none is
    /// marked. `Ok(None)`: the backlog is unavailable; the caller queues the orders one by one
    /// instead, so a webhook is never refused for it.
    pub(super) async fn backlog_orders(
        &self,
        account: &AccountId,
        business: NhanhBusiness,
        ids: &[NhanhId],
        now: OffsetDateTime,
    ) -> Result<Option<Outcome>, IntakeError> {
        let key = BacklogKey { account: account.clone(), business };
        let queue_drain = match self.backlog.add_orders(&key, ids, now, now - DRAIN_MARK_STALE_AFTER).await {
            Ok(queue_drain) => queue_drain,
            Err(e) => {
                tracing::warn!(account_id = account.as_str(), error = %e, "order backlog unavailable: orders queued one by one");
                return Ok(None);
            }
        };
        if !queue_drain {
            return Ok(Some(Outcome::Queued(0)));
        }
        let drain = WorkItem::OrderDrain { account_id: account.clone(), business, queued_at: now };
        let message = drain.to_message(Origin::FollowUp(now)).map_err(|e| IntakeError::Malformed(e.to_string()))?;
        if let Err(e) = self.queue.send(std::slice::from_ref(&message)).await {
            // Nhanh retries the webhook (5xx): the orders are in the backlog already, and with the
            // mark cleared its retry queues the drain. Should the clearing fail too, the mark is
            // taken as lost after DRAIN_MARK_STALE_AFTER, and the scheduled pass reads the orders.
            if let Err(unmark) = self.backlog.unmark_drain(&key, now).await {
                tracing::error!(account_id = account.as_str(), error = %unmark, "drain mark not cleared after a failed send");
            }
            return Err(IntakeError::Unavailable(Error::Queue(e)));
        }
        Ok(Some(Outcome::Queued(1)))
    }
}
