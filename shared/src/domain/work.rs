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
}

impl WorkItem {
    /// The account the item belongs to.
    pub fn account_id(&self) -> &AccountId {
        match self {
            Self::NhanhWebhook { account_id, .. } | Self::HubEvent { account_id, .. } => account_id,
        }
    }
}
