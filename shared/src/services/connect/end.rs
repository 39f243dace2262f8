//! The end of a connected period: the admin's disconnect and Nhanh's `appUninstalled` (R15).

use super::ConnectError;
use crate::clock::Clock;
use crate::domain::{AccountId, Connection, ConnectionState, Origin, WorkItem};
use crate::queue::WorkQueue;
use crate::store::ConnectionStore;

/// How long a disconnected account's id maps, snapshots and intents are kept by default.
pub const DEFAULT_DATA_RETENTION: time::Duration = time::Duration::days(30);

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
    retention: time::Duration,
) -> Result<Connection, ConnectError> {
    let ended = crate::retry::on_conflict(|| async {
        // Not connected (or no business): nothing to end, and nothing to retry.
        let Some((conn, business)) = connections
            .get(account)
            .await?
            .filter(|c| c.state.is_connected())
            .and_then(|c| c.business_id.map(|b| (c, b)))
        else {
            return Ok(None);
        };
        let mut next = conn.clone();
        next.state = ConnectionState::Disconnected;
        next.disconnected_at = Some(clock.now());
        next.disconnect_reason = reason.map(str::to_owned);
        next.access_token_sealed = None;
        next.secret_key_sealed = String::new();
        next.data_kept_until = next.disconnected_at.map(|at| at + retention);
        connections.put_releasing(&next, business).await.map(|stored| Some((stored, business)))
    })
    .await?;
    let (stored, business) = ended.ok_or(ConnectError::NotConnected)?;
    tracing::info!(
        account_id = account.as_str(),
        business_id = business.get(),
        reason = reason.unwrap_or("admin"),
        "disconnected"
    );
    Ok(stored)
}

/// Queues the walk that gives the ended connection's kept items their expiry (issue 24). A failed
/// send is logged: the data then stays until the account connects again or is removed by hand
/// (the connection still says until when it was meant to be kept).
pub async fn queue_data_expiry(queue: &dyn WorkQueue, conn: &Connection) {
    queue_data_walk(queue, conn, conn.data_kept_until, conn.disconnected_at).await;
}

/// Queues the walk that takes the expiry back from a reconnected account's kept items.
pub async fn queue_data_keep(queue: &dyn WorkQueue, conn: &Connection, now: time::OffsetDateTime) {
    queue_data_walk(queue, conn, None, Some(now)).await;
}

async fn queue_data_walk(
    queue: &dyn WorkQueue,
    conn: &Connection,
    expires_at: Option<time::OffsetDateTime>,
    at: Option<time::OffsetDateTime>,
) {
    let account = &conn.account_id;
    let item = WorkItem::AccountData {
        account_id: account.clone(),
        expires_at,
        disconnected_at: expires_at.and(conn.disconnected_at),
        after: None,
    };
    let sent = match item.to_message(Origin::FollowUp(at.unwrap_or(time::OffsetDateTime::UNIX_EPOCH))) {
        Ok(message) => queue.send(std::slice::from_ref(&message)).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        tracing::error!(
            account_id = account.as_str(),
            error = e.as_str(),
            "the kept data's expiry walk was not queued"
        );
    }
}

/// The `disconnect_reason` of a connection ended by Nhanh's `appUninstalled` (R15).
pub const APP_UNINSTALLED: &str = "app_uninstalled";
