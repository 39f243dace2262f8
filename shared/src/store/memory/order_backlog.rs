//! The in-memory order backlogs, with the table's conditions.

use super::*;
use crate::domain::NhanhId;
use std::collections::BTreeMap;

/// One business's backlog, as the table's item holds it.
#[derive(Default)]
pub(super) struct BacklogState {
    orders: BTreeMap<NhanhId, i64>,
    seq: u64,
    drain: Option<OffsetDateTime>,
}

fn stamp_of(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[async_trait]
impl OrderBacklog for MemoryStore {
    async fn add_orders(
        &self,
        key: &BacklogKey,
        ids: &[NhanhId],
        at: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let b = s.backlogs.entry(key.clone()).or_default();
            for id in ids {
                b.orders.insert(*id, stamp_of(at));
            }
            b.seq += 1;
            let queue = b.drain.is_none_or(|d| d < stale_before);
            if queue {
                b.drain = Some(at);
            }
            Ok(queue)
        })
    }

    async fn unmark_drain(&self, key: &BacklogKey, at: OffsetDateTime) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(b) = s.backlogs.get_mut(key) {
                if b.drain == Some(at) {
                    b.drain = None;
                }
            }
            Ok(())
        })
    }

    async fn backlog(&self, key: &BacklogKey) -> Result<Backlog, StoreError> {
        self.with(|s| {
            let Some(b) = s.backlogs.get(key) else { return Ok(Backlog::default()) };
            let mut orders: Vec<WaitingOrder> =
                b.orders.iter().map(|(id, stamp)| WaitingOrder { id: *id, stamp: *stamp }).collect();
            orders.sort_by_key(|o| (o.stamp, o.id));
            Ok(Backlog { orders, seq: b.seq, drain_since: b.drain })
        })
    }

    async fn remove_orders(&self, key: &BacklogKey, orders: &[WaitingOrder]) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(b) = s.backlogs.get_mut(key) {
                for o in orders {
                    if b.orders.get(&o.id) == Some(&o.stamp) {
                        b.orders.remove(&o.id);
                    }
                }
            }
            Ok(())
        })
    }

    async fn end_drain(&self, key: &BacklogKey, seq: u64) -> Result<bool, StoreError> {
        self.with(|s| {
            let Some(b) = s.backlogs.get_mut(key) else { return Ok(seq == 0) };
            if b.seq != seq {
                return Ok(false);
            }
            b.drain = None;
            Ok(true)
        })
    }
}
