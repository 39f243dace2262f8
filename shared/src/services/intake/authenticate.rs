//! Which connection a Nhanh webhook belongs to, proved by its verify token (R13, issue 22).

use super::{IntakeError, IntakeService, MAX_PROBE_CANDIDATES};
use crate::domain::{AppId, Connection};
use crate::nhanh::{Webhook, WebhookBody, WebhookRoute};
use crate::Error;

impl IntakeService {
    /// The connection the webhook names (by app and business, or, for v3's `webhooksEnabled`
    /// probe that names no business, among the app's accounts) whose verify token it carries,
    /// and the webhook decoded by that connection's version. Anyone without a matching token gets
    /// the 401 an unknown route gets, so the answer tells nothing of which routes exist.
    pub(super) async fn authenticated(
        &self,
        app: AppId,
        route: &WebhookRoute,
        event: &WebhookBody,
        authorization: Option<&str>,
    ) -> Result<(Connection, Webhook), IntakeError> {
        // One read for a webhook naming its business: the route holds the connection.
        let candidates: Vec<Connection> = match route.business_id {
            Some(business) => self.connections.route(app, business).await.map_err(Error::from)?.into_iter().collect(),
            None => {
                let mut found = Vec::new();
                let accounts = self.connections.accounts_of_app(app).await.map_err(Error::from)?;
                for account in accounts.into_iter().take(MAX_PROBE_CANDIDATES) {
                    found.extend(self.connections.get(&account).await.map_err(Error::from)?);
                }
                found
            }
        };
        for conn in candidates.into_iter().take(MAX_PROBE_CANDIDATES) {
            if conn.app_id != app || (route.business_id.is_some() && conn.business_id != route.business_id) {
                continue;
            }
            let Some(sealed) = conn.verify_token_sealed.as_deref() else { continue };
            // The token first, read where the version carries it: a body that does not decode is
            // answered 400 only to a caller who proved the token (issue 22).
            let tokens = event.token_candidates(conn.api_version, authorization);
            let expected = self.verify_token(&conn.account_id, sealed).await?;
            // Every candidate is compared, without an early exit (R13).
            let matched = tokens.iter().fold(false, |any, t| expected.ct_eq(t.expose()) | any);
            if matched {
                let hook = event.decode(conn.api_version, authorization).map_err(|e| IntakeError::Malformed(e.0))?;
                return Ok((conn, hook));
            }
        }
        tracing::warn!(
            app_id = app.get(),
            business_id = route.business_id.map(|b| b.get()),
            event = route.event_name.as_str(),
            "webhook refused: unknown app, business or token"
        );
        Err(IntakeError::Unauthorized("unknown app, business or verify token"))
    }
}
