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
