//! Changes Nhanh announced one record at a time: each re-read from Nhanh (products, orders) or
//! applied from the last snapshot (deletions), so stale or re-ordered webhooks end in the current
//! state.

use super::outcome::{Failure, Outcome};
use super::Processor;
use crate::domain::FailureKind;
use crate::domain::{ApiVersion, Connection, NhanhId, Stream};
use crate::nhanh::{Credentials, WebhookBody, WebhookKind};

impl Processor {
    /// Applies one change Nhanh announced, by re-reading the record (stale or re-ordered
    /// webhooks end in the current state).
    pub(super) async fn nhanh_change(
        &self,
        conn: &Connection,
        creds: &Credentials,
        change: WebhookKind,
        id: NhanhId,
    ) -> Result<Outcome, Failure> {
        match change {
            WebhookKind::ProductChanged => self.sync_product(conn, creds, id).await,
            WebhookKind::ProductDeleted => self.deactivate_product(conn, id).await,
            WebhookKind::OrderChanged => self.sync_order(conn, creds, id).await,
            WebhookKind::OrderDeleted => self.delete_order(conn, id).await,
            WebhookKind::WebhooksEnabled
            | WebhookKind::AppUninstalled
            | WebhookKind::StockChanged
            | WebhookKind::NotSynced => Ok(Outcome::Skipped),
        }
    }

    /// A webhook queued with its raw body before [`WorkItem::NhanhChange`] existed.
    pub(super) async fn legacy_nhanh_event(
        &self,
        conn: &Connection,
        creds: &Credentials,
        version: ApiVersion,
        event: &WebhookBody,
        record_id: Option<NhanhId>,
    ) -> Result<Outcome, Failure> {
        let hook = event
            .decode(version, None)
            .map_err(|e| Failure::permanent(FailureKind::Other, Stream::Webhooks, "event:malformed", e.0))?;
        let ids: Vec<NhanhId> = match record_id {
            Some(id) => vec![id],
            None => hook.record_ids.clone(),
        };
        let mut outcome = Outcome::Skipped;
        for id in ids {
            outcome = self.nhanh_change(conn, creds, hook.kind, id).await?;
        }
        Ok(outcome)
    }
}
