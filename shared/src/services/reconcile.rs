//! The schedule's tick (R11): pages the connected accounts and queues one `ReconcileAccount`
//! work item per account, so each account's pass runs in its own message group.

use crate::clock::Clock;
use crate::domain::{Origin, WorkItem};
use crate::queue::{QueueMessage, WorkQueue};
use crate::store::ConnectionStore;
use crate::Error;
use std::sync::Arc;

/// Queues the scheduled passes.
pub struct Scheduler {
    /// Connections.
    pub connections: Arc<dyn ConnectionStore>,
    /// The work queue.
    pub queue: Arc<dyn WorkQueue>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl Scheduler {
    /// One tick: returns how many accounts were queued. Two ticks of the same minute collapse
    /// (deduplication id per account and minute).
    pub async fn tick(&self) -> Result<usize, Error> {
        let tick = self.clock.now();
        let mut cursor = None;
        let mut queued = 0;
        loop {
            let (accounts, next) = self.connections.connected_accounts(cursor).await?;
            let messages = accounts
                .iter()
                .map(|a| {
                    WorkItem::ReconcileAccount { account_id: a.clone(), tick, resume: None }
                        .to_message(Origin::Schedule)
                })
                .collect::<Result<Vec<QueueMessage>, _>>()
                .map_err(|e| Error::Invalid(e.to_string()))?;
            self.queue.send(&messages).await.map_err(Error::Queue)?;
            queued += messages.len();
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        tracing::info!(accounts = queued, "scheduled pass queued");
        Ok(queued)
    }
}
