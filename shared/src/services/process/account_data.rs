//! The walk over a disconnected account's kept items (issue 24): after a disconnect it gives them
//! the account's expiry, after a reconnect it takes it back, a page at a time within the
//! invocation's budget, then in a continuation ([`WorkItem::AccountData`]).
//!
//! A walk that no longer matches the account's state stops: an expiry once the account connected
//! again (or disconnected anew, with another expiry walk of its own), a keep once it disconnected
//! again. Both walks of an account share a message group, so a reconnect's keep runs after the
//! expiry before it, and an expiry's continuation queued behind the keep finds the account
//! connected and stops.

use super::outcome::{err, Failure, Outcome};
use super::Processor;
use crate::domain::FailureKind;
use crate::domain::{AccountId, Origin, Stream, WorkItem};
use time::OffsetDateTime;

/// Items walked per store call.
const ITEMS_PER_PAGE: usize = 200;

impl Processor {
    /// Walks the account's kept items from `after` on, giving them `expires_at` (`None`: taking
    /// the expiry back), while the account is still as the walk expects.
    pub(super) async fn walk_account_data(
        &self,
        account: &AccountId,
        expires_at: Option<OffsetDateTime>,
        disconnected_at: Option<OffsetDateTime>,
        mut after: Option<String>,
    ) -> Result<Outcome, Failure> {
        let conn = self.connections.get(account).await.map_err(|e| err(Stream::Reconcile, e))?;
        let current = conn.as_ref().is_some_and(|c| match expires_at {
            Some(_) => !c.state.is_connected() && c.disconnected_at == disconnected_at,
            None => c.state.is_connected(),
        });
        if !current {
            tracing::info!(account_id = account.as_str(), "the kept data's walk is superseded by the account's state");
            return Ok(Outcome::Skipped);
        }
        let deadline = self.work_until(self.clock.now());
        let mut changed = 0;
        loop {
            let page = self
                .account_data
                .set_data_expiry(account, expires_at, after.clone(), ITEMS_PER_PAGE)
                .await
                .map_err(|e| err(Stream::Reconcile, e))?;
            changed += page.changed;
            after = page.next;
            let Some(next) = after.clone() else { break };
            if self.clock.now() >= deadline {
                let now = self.clock.now();
                let item = WorkItem::AccountData {
                    account_id: account.clone(),
                    expires_at,
                    disconnected_at,
                    after: Some(next),
                };
                let message = item.to_message(Origin::FollowUp(now)).map_err(|e| {
                    Failure::permanent(FailureKind::Other, Stream::Reconcile, "account_data", e.to_string())
                })?;
                self.queue.send(std::slice::from_ref(&message)).await.map_err(|e| err(Stream::Reconcile, e))?;
                tracing::info!(account_id = account.as_str(), changed, "the kept data's walk continues in a new item");
                return Ok(Outcome::Skipped);
            }
        }
        tracing::info!(
            account_id = account.as_str(),
            changed,
            expires_at = expires_at.map(|at| at.to_string()),
            "the kept data's expiry walked"
        );
        Ok(Outcome::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionState;
    use crate::store::{ConnectionStore, Entity, IdMapStore, IntentStore};
    use crate::testing::processor_fixture;

    fn walk(
        f: &crate::testing::ProcessorFixture,
        expires_at: Option<OffsetDateTime>,
        disconnected_at: Option<OffsetDateTime>,
    ) -> WorkItem {
        WorkItem::AccountData { account_id: f.account.clone(), expires_at, disconnected_at, after: None }
    }

    /// A disconnect's walk gives every kept item the expiry (across pages and continuations);
    /// a reconnect's walk takes it back; a walk of a state gone by changes nothing.
    #[tokio::test]
    async fn kept_items_expire_after_a_disconnect_and_are_kept_again_by_a_reconnect() {
        let mut f = processor_fixture().await;
        for i in 0..450 {
            let hub = crate::domain::HubId::parse(&format!("h{i}")).unwrap();
            f.store.link(&f.account, Entity::Product, &i.to_string(), &hub).await.unwrap();
        }
        f.store.set_intent(&f.account, "snapshot:order", "7", "{}").await.unwrap();
        let mut conn = f.store.get(&f.account).await.unwrap().unwrap();
        let disconnected_at = f.now;
        conn.state = ConnectionState::Disconnected;
        conn.disconnected_at = Some(disconnected_at);
        f.store.put(&conn).await.unwrap();
        let expires = f.now + time::Duration::days(30);
        // No budget: one page per invocation, the rest in continuations.
        f.processor.pass_budget = time::Duration::ZERO;
        let queue = std::sync::Arc::new(crate::queue::memory::MemoryQueue::default());
        f.processor.queue = queue.clone();
        let mut item = walk(&f, Some(expires), Some(disconnected_at));
        for _ in 0..10 {
            f.processor.apply(&item).await.unwrap();
            let Some(next) = queue.messages().pop() else { break };
            queue.clear();
            item = serde_json::from_str(&next.body).unwrap();
        }
        let expiry = f.store.data_expiry(&f.account);
        assert_eq!(expiry.len(), 901, "both directions of every map, and the snapshot");
        assert!(expiry.iter().all(|(_, at)| *at == expires));
        // An expiry walk of an earlier disconnect changes nothing.
        let stale = walk(&f, Some(expires + time::Duration::days(1)), Some(disconnected_at - time::Duration::days(1)));
        f.processor.apply(&stale).await.unwrap();
        assert!(f.store.data_expiry(&f.account).iter().all(|(_, at)| *at == expires));
        // A keep while still disconnected changes nothing; once connected, it takes the expiry back.
        f.processor.pass_budget = time::Duration::seconds(60);
        f.processor.apply(&walk(&f, None, None)).await.unwrap();
        assert_eq!(f.store.data_expiry(&f.account).len(), 901);
        let mut conn = f.store.get(&f.account).await.unwrap().unwrap();
        conn.state = ConnectionState::Active;
        f.store.put(&conn).await.unwrap();
        f.processor.apply(&walk(&f, None, None)).await.unwrap();
        assert!(f.store.data_expiry(&f.account).is_empty());
        // An expiry walk's continuation met after the reconnect stops.
        f.processor.apply(&walk(&f, Some(expires), Some(disconnected_at))).await.unwrap();
        assert!(f.store.data_expiry(&f.account).is_empty());
    }
}
