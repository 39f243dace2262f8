//! The end of a connected period: the admin's disconnect and Nhanh's `appUninstalled` (R15).

use super::ConnectError;
use crate::clock::Clock;
use crate::domain::{AccountId, Connection, ConnectionState};
use crate::store::{ConnectionStore, StoreError};

/// Ends an account's connected period (the admin's disconnect, or `appUninstalled` with its
/// `reason`): state `disconnected`, `disconnected_at` set, the R1 claim released, the access token
/// and the sealed Secret Key forgotten (a reconnect asks for the Secret Key again; issue 22); the
/// verify token stays so late webhooks are recognised and dropped (R3). The
/// processor may update the connection meanwhile (the initial sync going `active`): a conflicting
/// write is read again and retried, so the disconnect is not refused.
pub async fn end_connection(
    connections: &dyn ConnectionStore,
    clock: &dyn Clock,
    account: &AccountId,
    reason: Option<&str>,
) -> Result<Connection, ConnectError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let conn =
            connections.get(account).await?.filter(|c| c.state.is_connected()).ok_or(ConnectError::NotConnected)?;
        let business = conn.business_id.ok_or(ConnectError::NotConnected)?;
        let mut next = conn.clone();
        next.state = ConnectionState::Disconnected;
        next.disconnected_at = Some(clock.now());
        next.disconnect_reason = reason.map(str::to_owned);
        next.access_token_sealed = None;
        next.secret_key_sealed = String::new();
        match connections.put_releasing(&next, business).await {
            Ok(stored) => {
                tracing::info!(
                    account_id = account.as_str(),
                    business_id = business.get(),
                    reason = reason.unwrap_or("admin"),
                    "disconnected"
                );
                return Ok(stored);
            }
            Err(StoreError::Conflict) if attempts < 5 => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The `disconnect_reason` of a connection ended by Nhanh's `appUninstalled` (R15).
pub const APP_UNINSTALLED: &str = "app_uninstalled";
