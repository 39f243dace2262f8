//! Work items: what travels through the queue from intake (and, later, the sweep) to the processor.

use super::{AccountId, ApiVersion};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One unit of work, serialised as the queue message body (`kind` tags the variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkItem {
    /// A webhook from Nhanh, as received (minus the verify token, which is a secret).
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
    /// One page (50 products) of the initial sync (R10).
    InitialSyncPage {
        /// The account.
        account_id: AccountId,
        /// The page, 1-based.
        page: u32,
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
    /// Nhanh orders by `updatedDateTime`, in windows of at most 10 days.
    NhanhOrders,
    /// Nhanh products by `updatedDateTime`.
    NhanhProducts,
    /// Customers created in the Hub (`origin=hub`).
    HubCustomers,
    /// Orders created in the Hub (`origin=hub`).
    HubOrders,
}

impl PassStream {
    /// Every stream, in pass order.
    pub const ALL: [Self; 4] = [Self::NhanhOrders, Self::NhanhProducts, Self::HubCustomers, Self::HubOrders];

    /// The stream's cursor name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NhanhOrders => "nhanh_orders",
            Self::NhanhProducts => "nhanh_products",
            Self::HubCustomers => "hub_customers",
            Self::HubOrders => "hub_orders",
        }
    }
}

/// Where a scheduled pass stopped when its invocation's time ran out; the next work item of the
/// pass goes on from here with the same window, so pages do not shift under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassResume {
    /// The pass's window end, shared by all its streams.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// The stream to go on with (the ones before it are done).
    pub stream: PassStream,
    /// The start of the window being read in that stream.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// The next page to read, 1-based.
    pub page: u32,
}

impl WorkItem {
    /// The account the item belongs to.
    pub fn account_id(&self) -> &AccountId {
        match self {
            Self::NhanhWebhook { account_id, .. }
            | Self::HubEvent { account_id, .. }
            | Self::ProductGroups { account_id, .. }
            | Self::ReconcileAccount { account_id, .. }
            | Self::InitialSyncPage { account_id, .. } => account_id,
        }
    }
}
