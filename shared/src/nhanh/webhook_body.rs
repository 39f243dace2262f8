//! A Nhanh webhook body as received, decoded only by the adapter of the connection's version.

use super::hook::{route, Webhook, WebhookError, WebhookRoute};
use super::{lenient, v2, v3};
use crate::domain::ApiVersion;
use crate::secrets::SecretString;
use serde_json::Value;

/// A Nhanh webhook body as received: JSON, read once; what it means depends on the connection's
/// API version, so only that version's adapter decodes it ([`WebhookBody::decode`]). Read-only
/// items queued before [`crate::domain::WorkItem::NhanhChange`] existed carry one too.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct WebhookBody(Value);

impl WebhookBody {
    /// Reads the body as JSON.
    pub fn parse(body: &[u8]) -> Result<Self, WebhookError> {
        serde_json::from_slice(body).map(Self).map_err(|e| WebhookError(format!("body is not JSON: {e}")))
    }

    /// The event name and the business, read before the connection (and so the version) is known.
    /// The same in both versions; v3's `webhooksEnabled` probe has no business.
    pub fn route(&self) -> Result<WebhookRoute, WebhookError> {
        route(&self.0)
    }

    /// The verify token candidates the body and header carry, read without decoding the rest (the
    /// version's places: v3 the `Authorization` header, raw or `Bearer`, and the body; v2 the
    /// body), so a caller is authenticated before anything about its body is answered (issue 22).
    pub fn token_candidates(&self, version: ApiVersion, authorization: Option<&str>) -> Vec<SecretString> {
        match version {
            ApiVersion::V2 => {
                lenient::text(&self.0["webhooksVerifyToken"]).map(SecretString::new).into_iter().collect()
            }
            ApiVersion::V3 => v3::webhook::token_candidates(authorization, &self.0),
        }
    }

    /// Decodes the webhook with the adapter of the connection's version. `authorization` is the
    /// raw `Authorization` header (v3 sends the verify token there).
    pub fn decode(&self, version: ApiVersion, authorization: Option<&str>) -> Result<Webhook, WebhookError> {
        match version {
            ApiVersion::V2 => v2::webhook::parse(&self.0),
            ApiVersion::V3 => v3::webhook::parse(authorization, &self.0),
        }
    }

    /// What names the body's record in a queue group when no record id was read from it.
    pub fn data_text(&self) -> String {
        self.0["data"].to_string()
    }
}
