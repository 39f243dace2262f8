//! Version-neutral Nhanh webhooks: what a webhook is about, as either adapter decodes it.

use super::lenient;
use crate::domain::{BusinessId, NhanhId, Stream};
use crate::secrets::SecretString;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// Nhanh switched webhooks on (connectivity test).
    WebhooksEnabled,
    /// An order was added or changed.
    OrderChanged,
    /// An order was deleted.
    OrderDeleted,
    /// A product was added or changed.
    ProductChanged,
    /// Products were deleted.
    ProductDeleted,
    /// The merchant removed the app (v3 `appUninstalled`): the connection ends (R15).
    AppUninstalled,
    /// Stock changed (`inventoryChange`): not synced (the Hub keeps no stock), counted under
    /// the products stream.
    StockChanged,
    /// An event the connector does not sync (bills, unknown names).
    NotSynced,
}

impl WebhookKind {
    /// Whether the connector syncs nothing for it (the event is counted as ignored).
    pub fn is_ignored(self) -> bool {
        matches!(self, Self::StockChanged | Self::NotSynced)
    }

    /// The entity name used in queue group ids and the stream name on the status.
    pub fn entity_and_stream(self) -> (&'static str, Stream) {
        match self {
            Self::OrderChanged | Self::OrderDeleted => ("order", Stream::Orders),
            Self::ProductChanged | Self::ProductDeleted => ("product", Stream::Products),
            Self::StockChanged => ("product", Stream::Products),
            Self::WebhooksEnabled | Self::AppUninstalled | Self::NotSynced => ("other", Stream::Webhooks),
        }
    }
}

/// A webhook, decoded by the adapter of the connection's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Nhanh's event name, as sent.
    pub event_name: String,
    /// What it is about.
    pub kind: WebhookKind,
    /// The business it comes from (v3's `webhooksEnabled` probe names none).
    pub business_id: Option<BusinessId>,
    /// Every place the verify token may have travelled (v2: the body; v3: the `Authorization`
    /// header as is, without `Bearer `, or the body). Compare each in constant time; never log.
    pub verify_tokens: Vec<SecretString>,
    /// The records it names (one per order/product event; several for a bulk delete).
    pub record_ids: Vec<NhanhId>,
    /// Something unexpected about the payload, for the logs (e.g. a v2 payload on a v3 connection).
    pub unexpected: Option<String>,
}

/// What intake reads before it knows the connection (and so the version): the event name and
/// the business, when the body names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRoute {
    /// Nhanh's event name.
    pub event_name: String,
    /// The business, absent on v3's `webhooksEnabled` probe.
    pub business_id: Option<BusinessId>,
}

/// Why a webhook body was refused (one line, safe to return to the sender).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(pub String);

/// Reads the event name and the business of a webhook body (both versions).
pub(crate) fn route(body: &Value) -> Result<WebhookRoute, WebhookError> {
    if !body.is_object() {
        return Err(WebhookError("body must be a JSON object".into()));
    }
    let event_name =
        body["event"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| WebhookError("missing field: event".into()))?;
    let business_id = match &body["businessId"] {
        Value::Null => None,
        raw => Some(
            lenient::int(raw)
                .and_then(|n| u64::try_from(n).ok())
                .and_then(BusinessId::new)
                .ok_or_else(|| WebhookError("invalid field: businessId".into()))?,
        ),
    };
    Ok(WebhookRoute { event_name: event_name.to_owned(), business_id })
}
