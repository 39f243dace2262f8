//! The schedule's tick (R11): pages the connected accounts and queues one `ReconcileAccount`
//! work item per account, so each account's pass runs in its own message group.

use crate::clock::Clock;
use crate::domain::WorkItem;
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
        let minute = tick.unix_timestamp() / 60;
        let mut cursor = None;
        let mut queued = 0;
        loop {
            let (accounts, next) = self.connections.connected_accounts(cursor).await?;
            let messages: Vec<QueueMessage> = accounts
                .iter()
                .map(|a| QueueMessage {
                    group_id: format!("{}:reconcile", a.as_str()),
                    dedup_id: format!("{}:reconcile:{minute}", a.as_str()),
                    body: serde_json::to_string(&WorkItem::ReconcileAccount {
                        account_id: a.clone(),
                        tick,
                        resume: None,
                    })
                    .unwrap_or_default(),
                })
                .collect();
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
