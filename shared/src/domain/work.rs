//! Work items: what travels through the queue from intake (and, later, the sweep) to the processor.

use super::{AccountId, ApiVersion};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One unit of work, serialised as the queue message body (`kind` tags the variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkItem {
    /// A change Nhanh announced (a webhook), as version-neutral facts: what changed and which
    /// record. The processor re-reads the record from Nhanh, so no body travels (a bulk delete
    /// is one small message per record, far below SQS's limits).
    NhanhChange {
        /// The account it belongs to.
        account_id: AccountId,
        /// The API version of the connection that received it.
        api_version: ApiVersion,
        /// When intake accepted it.
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        /// Nhanh's event name, for the logs.
        event: String,
        /// What changed.
        change: crate::nhanh::WebhookKind,
        /// The record.
        record_id: super::NhanhId,
    },
    /// Read-only: a Nhanh webhook queued before [`WorkItem::NhanhChange`] existed, carrying the
    /// raw v2 body. Such messages are still read (decoded with the v2 adapter), so nothing queued
    /// before an upgrade is lost; nothing writes this variant any more.
    NhanhWebhook {
        /// The account it belongs to.
        account_id: AccountId,
        /// The API version of the connection that received it (the processor decodes with it).
        api_version: ApiVersion,
        /// When intake accepted it.
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        /// The event body.
        event: serde_json::Value,
        /// The record this message is about, when the event names several (bulk deletes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record_id: Option<super::NhanhId>,
    },
    /// An event from the Hub (`customer.created`, `order.created`).
    HubEvent {
        /// The account it belongs to.
        account_id: AccountId,
        /// When intake accepted it.
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        /// The event body.
        event: serde_json::Value,
    },
    /// The scheduled pass for one account (R11); also starts a due initial sync (R10).
    ReconcileAccount {
        /// The account.
        account_id: AccountId,
        /// The schedule tick that queued it.
        #[serde(with = "time::serde::rfc3339")]
        tick: OffsetDateTime,
        /// Where an earlier invocation of this pass stopped when its time ran out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<PassResume>,
    },
    /// One page (50 products) of the initial sync (R10); it queues the page after it.
    InitialSyncPage {
        /// The account.
        account_id: AccountId,
        /// Where the page starts (`None`: the first page), as the adapter's page token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<crate::nhanh::PageToken>,
        /// The page's number in the chain, 1-based (progress and the deduplication id).
        #[serde(default)]
        seq: u32,
        /// Read-only: the v2 page number of an item queued before page tokens existed.
        #[serde(default, skip_serializing)]
        page: Option<u32>,
    },
    /// Nhanh's whole product category tree, to create or update the Hub's groups (R10).
    ProductGroups {
        /// The account it belongs to.
        account_id: AccountId,
        /// The tree.
        tree: Vec<crate::nhanh::Category>,
    },
}

/// The streams of a scheduled pass, in the order it reads them (each has its own cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassStream {
    /// Nhanh orders by their update time, in windows of the adapter's order window.
    NhanhOrders,
    /// Nhanh products by their update time.
    NhanhProducts,
    /// Nhanh retail bills by day (R14).
    NhanhBills,
    /// Customers created in the Hub (`origin=hub`).
    HubCustomers,
    /// Orders created in the Hub (`origin=hub`).
    HubOrders,
}

impl PassStream {
    /// Every stream, in pass order.
    pub const ALL: [Self; 5] =
        [Self::NhanhOrders, Self::NhanhProducts, Self::NhanhBills, Self::HubCustomers, Self::HubOrders];

    /// The stream's cursor name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NhanhOrders => "nhanh_orders",
            Self::NhanhProducts => "nhanh_products",
            Self::NhanhBills => "nhanh_bills",
            Self::HubCustomers => "hub_customers",
            Self::HubOrders => "hub_orders",
        }
    }
}

/// Where a scheduled pass stopped when its invocation's time ran out; the next work item of the
/// pass goes on from here with the same window, so pages do not shift under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassResume {
    /// The pass's window end, shared by all its streams.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// The stream to go on with (the ones before it are done).
    pub stream: PassStream,
    /// The start of the window being read in that stream.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// Where to go on reading the stream (`None`: its first page): a Nhanh stream's page token,
    /// or a Hub listing's page number as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<crate::nhanh::PageToken>,
    /// Read-only: the 1-based page of a continuation queued before page tokens existed.
    #[serde(default, skip_serializing)]
    pub page: Option<u32>,
}

impl WorkItem {
    /// The account the item belongs to.
    pub fn account_id(&self) -> &AccountId {
        match self {
            Self::NhanhChange { account_id, .. }
            | Self::NhanhWebhook { account_id, .. }
            | Self::HubEvent { account_id, .. }
            | Self::ProductGroups { account_id, .. }
            | Self::ReconcileAccount { account_id, .. }
            | Self::InitialSyncPage { account_id, .. } => account_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_queued_in_the_old_forms_are_still_read() {
        let old_page = r#"{"kind":"initial_sync_page","account_id":"a1","page":3}"#;
        match serde_json::from_str::<WorkItem>(old_page).unwrap() {
            WorkItem::InitialSyncPage { after, seq, page, .. } => assert_eq!((after, seq, page), (None, 0, Some(3))),
            other => panic!("{other:?}"),
        }
        let old_resume = r#"{"kind":"reconcile_account","account_id":"a1","tick":"2026-12-01T00:00:00Z",
            "resume":{"until":"2026-12-01T00:00:00Z","stream":"nhanh_orders","from":"2026-11-30T00:00:00Z","page":2}}"#;
        match serde_json::from_str::<WorkItem>(old_resume).unwrap() {
            WorkItem::ReconcileAccount { resume: Some(r), .. } => assert_eq!((r.after, r.page), (None, Some(2))),
            other => panic!("{other:?}"),
        }
        let old_hook = r#"{"kind":"nhanh_webhook","account_id":"a1","api_version":"2.0","received_at":"2026-12-01T00:00:00Z","event":{"event":"orderAdd","businessId":1,"data":{"orderId":5}}}"#;
        assert!(matches!(serde_json::from_str::<WorkItem>(old_hook).unwrap(), WorkItem::NhanhWebhook { .. }));
        let legacy_field_not_written = WorkItem::InitialSyncPage {
            account_id: AccountId::parse("a1").unwrap(),
            after: None,
            seq: 1,
            page: Some(4),
        };
        assert!(!serde_json::to_string(&legacy_field_not_written).unwrap().contains("\"page\""));
    }
}
