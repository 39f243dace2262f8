//! The in-memory Hub outage and parked records.

use super::*;
use crate::store::{HubOutage, OutageStore, ParkedRecord};

#[async_trait]
impl OutageStore for MemoryStore {
    async fn hub_outage(&self) -> Result<Option<HubOutage>, StoreError> {
        self.with(|s| Ok(s.hub_outage.clone()))
    }

    async fn open_hub_outage(&self, outage: &HubOutage) -> Result<bool, StoreError> {
        self.with(|s| {
            if s.hub_outage.is_some() {
                return Ok(false);
            }
            s.hub_outage = Some(outage.clone());
            Ok(true)
        })
    }

    async fn probed(&self, since: OffsetDateTime, at: OffsetDateTime) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(o) = s.hub_outage.as_mut().filter(|o| o.since == since) {
                o.probed_at = Some(at);
            }
            Ok(())
        })
    }

    async fn close_hub_outage(&self, since: OffsetDateTime) -> Result<(), StoreError> {
        self.with(|s| {
            if s.hub_outage.as_ref().is_some_and(|o| o.since == since) {
                s.hub_outage = None;
            }
            Ok(())
        })
    }

    async fn park(&self, record: &ParkedRecord) -> Result<bool, StoreError> {
        self.with(|s| {
            if s.hub_outage.is_none() {
                return Ok(false);
            }
            s.parked.retain(|p| p.message_id != record.message_id);
            s.parked.push(record.clone());
            Ok(true)
        })
    }

    async fn parked(&self, max: usize) -> Result<Vec<ParkedRecord>, StoreError> {
        self.with(|s| {
            let mut all = s.parked.clone();
            all.sort_by(|a, b| (a.account.as_str(), a.parked_at).cmp(&(b.account.as_str(), b.parked_at)));
            all.truncate(max);
            Ok(all)
        })
    }

    async fn parked_count(&self, account: &AccountId) -> Result<usize, StoreError> {
        self.with(|s| Ok(s.parked.iter().filter(|p| &p.account == account).count()))
    }

    async fn unpark(&self, records: &[ParkedRecord]) -> Result<(), StoreError> {
        self.with(|s| {
            s.parked.retain(|p| !records.iter().any(|r| r.message_id == p.message_id));
            Ok(())
        })
    }
}
