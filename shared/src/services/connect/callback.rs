//! The OAuth callback in two steps (issue 22). The **exchange** turns the access code into a token
//! and shows the admin the business it was consented for; the **confirmation**, a CSRF-checked
//! POST by the admin who started the attempt, claims it (R1) and stores the connection. A Nhanh app
//! can be consented by any business, so a callback URL opened by the admin must not bind a business
//! they did not see.
//!
//! Nhanh keeps one live v3 token per app and business: an exchange leaves the previous token 15
//! minutes. When the business of an exchange is held by another account through the same app, that
//! account (the holder) takes the newer token, so a refused claim does not take it down.

use super::{ConnectError, ConnectService, ConnectedView};
use crate::domain::{
    AccountId, AppId, Connection, ConnectionState, Depot, InitialSync, InitialSyncState, Origin, WorkItem,
};
use crate::nhanh::{Credentials, NhanhError, TokenGrant, NEW_CONNECTION_VERSION};
use crate::secrets::{random_token, seal_context, SealedField, SecretString};
use crate::store::{ExchangedGrant, PendingAttempt, StoreError};
use crate::Error;

/// What the confirmation page shows: the business an access code was consented for.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    /// The app of the attempt.
    pub app_id: AppId,
    /// The business, as the exchange named it.
    pub business_id: crate::domain::BusinessId,
    /// Its depots (names the merchant recognises); empty when Nhanh did not list them.
    pub depots: Vec<Depot>,
    /// Whether the account is connected to this business already (a new consent renews it).
    pub reconnecting: bool,
}

impl Confirmation {
    fn of(app_id: AppId, exchange: &ExchangedGrant, reconnecting: bool) -> Self {
        Self { app_id, business_id: exchange.business_id, depots: exchange.depots.clone(), reconnecting }
    }
}

impl ConnectService {
    /// The app of the callback's path and its attempt, started by `user_id`: another admin's
    /// attempt is refused.
    async fn own_attempt(
        &self,
        account: &AccountId,
        app_raw: &str,
        user_id: &str,
    ) -> Result<(AppId, PendingAttempt), ConnectError> {
        let app =
            AppId::parse(app_raw).map_err(|_| ConnectError::Invalid("App Id trong đường dẫn không hợp lệ.".into()))?;
        let attempt =
            self.pending.get_pending(account, app, self.clock.now()).await?.ok_or(ConnectError::NoPendingAttempt)?;
        if attempt.user_id != user_id {
            tracing::warn!(account_id = account.as_str(), app_id = app.get(), "callback opened by another admin");
            return Err(ConnectError::NotAttemptOwner);
        }
        Ok((app, attempt))
    }

    /// The callback: exchanges `access_code` for a token, refuses what R1/R2 refuse, and keeps the
    /// grant (sealed) in the attempt for [`ConnectService::confirm`]. An attempt exchanged already
    /// (the page reloaded) shows its business again without another exchange.
    pub async fn exchange(
        &self,
        account: &AccountId,
        app_raw: &str,
        access_code: &str,
        user_id: &str,
    ) -> Result<Confirmation, ConnectError> {
        let code = access_code.trim();
        if code.is_empty() || code.len() > 1024 {
            return Err(ConnectError::Invalid("Thiếu accessCode từ Nhanh.vn.".into()));
        }
        let (app, mut attempt) = self.own_attempt(account, app_raw, user_id).await?;
        let current = self.connections.get(account).await?.filter(|c| c.state.is_connected());
        if let Some(exchange) = &attempt.exchange {
            let reconnecting = current.is_some_and(|c| c.business_id == Some(exchange.business_id));
            return Ok(Confirmation::of(app, exchange, reconnecting));
        }
        let grant = self.exchange_code(account, app, &attempt, code).await?;
        // The exchange is done and the code used: from here on an attempt that ends in a refusal
        // is removed, so nothing waits for a confirmation that cannot come.
        match self.check_grant(account, app, &grant, current.as_ref()).await {
            Ok(depots) => {
                let exchange = self.sealed_exchange(account, &grant, depots).await?;
                let confirmation = Confirmation::of(app, &exchange, current.is_some());
                attempt.exchange = Some(exchange);
                self.pending.put_pending(&attempt).await?;
                tracing::info!(
                    account_id = account.as_str(),
                    app_id = app.get(),
                    business_id = grant.business_id.get(),
                    "access code exchanged; waiting for the admin's confirmation"
                );
                Ok(confirmation)
            }
            Err(refusal) => {
                self.pending.delete_pending(account, app).await?;
                Err(refusal)
            }
        }
    }

    /// Nhanh's exchange of the access code with the attempt's Secret Key (a refusal is the
    /// admin's to see: expired, used, or the wrong Secret Key).
    async fn exchange_code(
        &self,
        account: &AccountId,
        app: AppId,
        attempt: &PendingAttempt,
        code: &str,
    ) -> Result<TokenGrant, ConnectError> {
        let secret = self
            .secrets
            .open(&attempt.secret_key_sealed, &seal_context(account, SealedField::SecretKey))
            .await
            .map_err(Error::from)?;
        match self.nhanh.exchange_code(NEW_CONNECTION_VERSION, app, &secret, code).await {
            Ok(grant) => Ok(grant),
            Err(NhanhError::Rejected { message, .. }) => Err(ConnectError::CodeRejected(message)),
            Err(NhanhError::Malformed(m)) => Err(ConnectError::CodeRejected(m)),
            Err(NhanhError::InvalidAccessToken) => Err(ConnectError::CodeRejected("invalid".into())),
            Err(e) => Err(Error::from(e).into()),
        }
    }

    /// The grant as the attempt keeps it until the confirmation: its token sealed under the account.
    async fn sealed_exchange(
        &self,
        account: &AccountId,
        grant: &TokenGrant,
        depots: Vec<Depot>,
    ) -> Result<ExchangedGrant, ConnectError> {
        let access_token_sealed = self
            .secrets
            .seal(&grant.access_token, &seal_context(account, SealedField::AccessToken))
            .await
            .map_err(Error::from)?;
        Ok(ExchangedGrant {
            business_id: grant.business_id,
            api_version: grant.api_version,
            access_token_sealed,
            expires_at: grant.expires_at,
            depot_ids: grant.depot_ids.clone(),
            permissions: grant.permissions.clone(),
            depots,
        })
    }

    /// The verify token a confirmed connection keeps: a continuing connection's own (Nhanh has it
    /// already), else a new one; sealed and opened.
    async fn verify_token_for(
        &self,
        account: &AccountId,
        continuing: Option<&Connection>,
    ) -> Result<(String, SecretString), ConnectError> {
        let context = seal_context(account, SealedField::VerifyToken);
        match continuing.and_then(|c| c.verify_token_sealed.clone()) {
            Some(sealed) => {
                let token = self.secrets.open(&sealed, &context).await.map_err(Error::from)?;
                Ok((sealed, token))
            }
            None => {
                let token = random_token::<24>();
                Ok((self.secrets.seal(&token, &context).await.map_err(Error::from)?, token))
            }
        }
    }

    /// A confirmation refused because another account claimed the business since the exchange:
    /// that account may need this token too (R1; the attempt is removed).
    async fn taken_since_the_exchange(
        &self,
        account: &AccountId,
        app: AppId,
        exchange: &ExchangedGrant,
    ) -> Result<ConnectError, ConnectError> {
        let token = self
            .secrets
            .open(&exchange.access_token_sealed, &seal_context(account, SealedField::AccessToken))
            .await
            .map_err(Error::from)?;
        let grant = TokenGrant {
            access_token: token,
            business_id: exchange.business_id,
            expires_at: exchange.expires_at,
            depot_ids: exchange.depot_ids.clone(),
            permissions: exchange.permissions.clone(),
            api_version: exchange.api_version,
        };
        self.renew_holder(account, app, &grant).await?;
        self.pending.delete_pending(account, app).await?;
        Ok(ConnectError::BusinessTaken)
    }

    /// The holder of the business through the same app takes the token (R1 refuses another
    /// account), R2 (the streams), R1 against the account's own business; the business's depots
    /// when all pass.
    async fn check_grant(
        &self,
        account: &AccountId,
        app: AppId,
        grant: &TokenGrant,
        current: Option<&Connection>,
    ) -> Result<Vec<Depot>, ConnectError> {
        if self.renew_holder(account, app, grant).await?.is_some_and(|holder| &holder != account) {
            return Err(ConnectError::BusinessTaken);
        }
        if let Some(current) = current.filter(|c| c.business_id != Some(grant.business_id)) {
            tracing::info!(account_id = current.account_id.as_str(), "connect refused: another business is connected");
            return Err(ConnectError::OtherBusinessConnected);
        }
        let creds = Credentials {
            app_id: app,
            business_id: grant.business_id,
            access_token: grant.access_token.clone(),
            api_version: grant.api_version,
        };
        let denied = self.probe(&creds).await?;
        if !denied.is_empty() {
            tracing::warn!(
                account_id = account.as_str(),
                business_id = grant.business_id.get(),
                ?denied,
                "connect refused: streams not readable"
            );
            return Err(ConnectError::StreamsDenied(denied));
        }
        // The names are for the admin's eyes: without them the page shows the business id alone.
        Ok(self.nhanh.depots(&creds).await.unwrap_or_else(|e| {
            tracing::warn!(account_id = account.as_str(), error = %e, "depots not read for the confirmation");
            Vec::new()
        }))
    }
}

impl ConnectService {
    /// The confirmation: the admin who started the attempt claims the exchanged business (R1) and
    /// the connection is stored; the first pass is queued (R10).
    pub async fn confirm(
        &self,
        account: &AccountId,
        app_raw: &str,
        user_id: &str,
    ) -> Result<ConnectedView, ConnectError> {
        let (app, attempt) = self.own_attempt(account, app_raw, user_id).await?;
        let exchange = attempt.exchange.clone().ok_or(ConnectError::NoPendingAttempt)?;
        let now = self.clock.now();
        // The processor may write the connection meanwhile (a sync page, a pass): a conflicting
        // write is read again and built again, so the admin's confirmation is not refused for it.
        let (stored, existing, verify_token) =
            crate::retry::on_conflict(|| self.store_confirmed(account, app, &attempt, &exchange, now)).await?;
        let continuing = existing.as_ref().filter(|c| c.state.is_connected());
        self.pending.delete_pending(account, app).await?;
        if let (Some(queue), true) = (&self.queue, existing.as_ref().is_some_and(|c| c.data_kept_until.is_some())) {
            // A reconnect within the retention period keeps the data (R3's maps).
            super::queue_data_keep(queue.as_ref(), &stored, now).await;
        }
        self.queue_first_pass(account, now).await;
        tracing::info!(
            account_id = account.as_str(),
            app_id = app.get(),
            business_id = exchange.business_id.get(),
            state = stored.state.as_str(),
            reauth = continuing.is_some(),
            "connected"
        );
        Ok(ConnectedView { webhook_url: self.urls.webhook(app), verify_token, connection: stored })
    }

    /// One attempt at storing the confirmed connection, built on the connection as read now; the
    /// stored connection, the one it replaced, and the verify token.
    async fn store_confirmed(
        &self,
        account: &AccountId,
        app: AppId,
        attempt: &PendingAttempt,
        exchange: &ExchangedGrant,
        now: time::OffsetDateTime,
    ) -> Result<(Connection, Option<Connection>, SecretString), ConnectError> {
        let existing = self.connections.get(account).await?;
        let continuing = existing.as_ref().filter(|c| c.state.is_connected());
        if continuing.is_some_and(|c| c.business_id != Some(exchange.business_id)) {
            self.pending.delete_pending(account, app).await?;
            return Err(ConnectError::OtherBusinessConnected);
        }
        let (verify_sealed, verify_token) = self.verify_token_for(account, continuing).await?;
        let (state, connected_at, initial_sync) = match continuing {
            Some(c) => (state_after_new_token(c), c.connected_at, c.initial_sync.clone()),
            None => (
                ConnectionState::Syncing,
                Some(now),
                Some(InitialSync { state: InitialSyncState::Due, done: 0, total: None }),
            ),
        };
        let conn = Connection {
            account_id: account.clone(),
            state,
            app_id: app,
            business_id: Some(exchange.business_id),
            api_version: exchange.api_version,
            secret_key_sealed: attempt.secret_key_sealed.clone(),
            access_token_sealed: Some(exchange.access_token_sealed.clone()),
            verify_token_sealed: Some(verify_sealed),
            token_expires_at: Some(exchange.expires_at),
            depot_ids: exchange.depot_ids.clone(),
            permissions: exchange.permissions.clone(),
            connected_at,
            disconnected_at: existing.as_ref().and_then(|c| c.disconnected_at),
            disconnect_reason: None,
            data_kept_until: None,
            initial_sync,
            version: existing.as_ref().map_or(0, |c| c.version),
        };
        let previous_app = existing.as_ref().map(|c| c.app_id).filter(|old| *old != app);
        match self.connections.put_claiming(&conn, previous_app).await {
            Ok(stored) => Ok((stored, existing, verify_token)),
            Err(StoreError::BusinessTaken) => Err(self.taken_since_the_exchange(account, app, exchange).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Queues the account's first pass, which starts the initial sync at once (best effort: the
    /// schedule starts it otherwise).
    async fn queue_first_pass(&self, account: &AccountId, now: time::OffsetDateTime) {
        if self.queue.is_none() {
            return;
        }
        let item = WorkItem::ReconcileAccount { account_id: account.clone(), tick: now, resume: None };
        if let Err(e) = self.queue_item(&item, Origin::Connected(now)).await {
            tracing::warn!(account_id = account.as_str(), error = %e, "first pass not queued; the schedule will start the initial sync");
        }
    }

    /// When an account holds `grant`'s business through `app` on the same API version, it takes
    /// the newer token at once (sealed under its own account; expiry, depots and permissions from
    /// the grant): Nhanh has just cut its own token to 15 minutes. That is another account when the
    /// exchange is refused (R1), or the attempt's own account when it reconnects its business, whose
    /// admin might never press **Xác nhận kết nối**. The holder, if any.
    async fn renew_holder(
        &self,
        account: &AccountId,
        app: AppId,
        grant: &TokenGrant,
    ) -> Result<Option<AccountId>, ConnectError> {
        let business = grant.business_id;
        let holds = |c: &Connection| {
            c.state.is_connected()
                && c.app_id == app
                && c.business_id == Some(business)
                && c.api_version == grant.api_version
        };
        let Some(holder) = self.connections.route(app, business).await?.filter(holds) else { return Ok(None) };
        let holder_id = holder.account_id;
        let sealed = self
            .secrets
            .seal(&grant.access_token, &seal_context(&holder_id, SealedField::AccessToken))
            .await
            .map_err(Error::from)?;
        crate::retry::on_conflict(|| async {
            // Read again: the route's copy may be older than the connection.
            let Some(mut conn) = self.connections.get(&holder_id).await?.filter(holds) else {
                return Ok(Some(holder_id.clone()));
            };
            conn.access_token_sealed = Some(sealed.clone());
            conn.token_expires_at = Some(grant.expires_at);
            conn.depot_ids = grant.depot_ids.clone();
            conn.permissions = grant.permissions.clone();
            conn.state = state_after_new_token(&conn);
            self.connections.put(&conn).await?;
            tracing::warn!(
                account_id = account.as_str(),
                holder_account_id = holder_id.as_str(),
                business_id = business.get(),
                "an exchange minted a new token of a held business; its holder took it"
            );
            Ok(Some(holder_id.clone()))
        })
        .await
    }
}

/// A connected account's state once it holds a working token: `active` after its initial sync,
/// `syncing` before (a `needs_reauth` connection resumes).
fn state_after_new_token(conn: &Connection) -> ConnectionState {
    let sync_done = conn.initial_sync.as_ref().is_some_and(|s| s.state == InitialSyncState::Done);
    if sync_done {
        ConnectionState::Active
    } else {
        ConnectionState::Syncing
    }
}
