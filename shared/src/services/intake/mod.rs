//! Intake: every event from outside is made durable (queued) before it is acknowledged.
//!
//! Nhanh webhooks are authenticated by the connection's verify token (constant time, R13); Hub
//! events by `X-Hub-Signature` (HMAC-SHA256 of the raw body, checked before parsing). Decisions
//! the documents leave open: an order change waits in its business's backlog behind one drain
//! message (issue 23, `intake/orders.rs`); any other event naming several records (a bulk
//! delete) becomes one message per record (each in its own record's group), carrying facts, not
//! the body (so no secret and no size limit travels); a Hub event for an account that never
//! connected is acknowledged and dropped (the Hub must not retry it forever).

mod authenticate;
mod orders;
mod signature;
mod uninstall;

pub use orders::DRAIN_MARK_STALE_AFTER;
use signature::decode_hex;
pub use signature::hub_signature;

use crate::clock::Clock;
use crate::domain::{AccountId, AppId, Connection, ConnectionState, Counter, NhanhBusiness, Origin, Stream, WorkItem};
use crate::hub::{HubEventBody, HubEventError, HubEventRecord};
use crate::nhanh::{Webhook, WebhookBody, WebhookKind};
use crate::queue::WorkQueue;
use crate::secrets::{seal_context, OpenCache, SealedField, SecretBox, SecretString};

use crate::store::{ConnectionStore, OrderBacklog, StatsStore};
use crate::Error;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest body accepted (SQS's message limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The oldest Hub event accepted, by its signed `occurred_at`. Decision (the contract is silent):
/// one hour, longer than svix's five minutes, so the Hub's own retries of a failed delivery still
/// land; an event refused as stale is not lost, as the scheduled pass lists Hub-created records.
pub const HUB_EVENT_MAX_AGE: time::Duration = time::Duration::hours(1);
/// How far ahead of the connector's clock a Hub event's `occurred_at` may be (clock skew).
pub const HUB_EVENT_MAX_SKEW: time::Duration = time::Duration::minutes(5);
/// The most connections a webhook is checked against: a `webhooksEnabled` probe names no business
/// and is matched among the app's accounts (normally one: each merchant makes an app of its own);
/// the cap bounds the reads and decryptions one unauthenticated request can cause.
const MAX_PROBE_CANDIDATES: usize = 10;
/// The longest `MessageGroupId` SQS takes.
const MAX_GROUP_ID_LEN: usize = 128;

/// What happened to an accepted event (all answered with 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Queued as this many messages.
    Queued(usize),
    /// Dropped by rule (R3: the connection is not active); counted.
    Dropped,
    /// Not a kind the connector syncs; counted.
    Ignored,
    /// `webhooksEnabled`: the status now shows webhooks as live.
    WebhooksLive,
    /// `appUninstalled`: the connection ended (R15).
    Disconnected,
}

impl Outcome {
    /// A short name for the answer body and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Queued(_) => "queued",
            Self::Dropped => "dropped",
            Self::Ignored => "ignored",
            Self::WebhooksLive => "webhooks_live",
            Self::Disconnected => "disconnected",
        }
    }
}

/// Why an event was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Over [`MAX_BODY_BYTES`] (413).
    #[error("body is larger than 256 KiB")]
    TooLarge,
    /// Not JSON, or fields missing (400).
    #[error("{0}")]
    Malformed(String),
    /// Unknown sender or wrong token/signature (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Storage or the queue failed: answer 5xx so the sender retries (accepted means queued).
    #[error(transparent)]
    Unavailable(#[from] Error),
}

/// The intake use case.
pub struct IntakeService {
    /// Connections and webhook routes.
    pub connections: Arc<dyn ConnectionStore>,
    /// Status counters.
    pub stats: Arc<dyn StatsStore>,
    /// The work queue.
    pub queue: Arc<dyn WorkQueue>,
    /// Opens verify tokens.
    pub secrets: Arc<dyn SecretBox>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// `HUB_WEBHOOK_SECRET`: its current and, during a rotation, previous version.
    pub hub_webhook_secret: Arc<crate::secrets::managed::ManagedSecret>,
    /// Order changes waiting to be re-read together, per business.
    pub backlog: Arc<dyn OrderBacklog>,
    /// How long a disconnected account's data is kept (`appUninstalled` ends a connection).
    pub data_retention: time::Duration,
    /// Opened verify tokens (a warm instance decrypts each token once).
    token_cache: OpenCache,
}

impl IntakeService {
    /// Builds the service.
    pub fn new(
        connections: Arc<dyn ConnectionStore>,
        stats: Arc<dyn StatsStore>,
        queue: Arc<dyn WorkQueue>,
        secrets: Arc<dyn SecretBox>,
        clock: Arc<dyn Clock>,
        hub_webhook_secret: Arc<crate::secrets::managed::ManagedSecret>,
        backlog: Arc<dyn OrderBacklog>,
    ) -> Self {
        let token_cache = OpenCache::default();
        let data_retention = crate::services::connect::DEFAULT_DATA_RETENTION;
        Self { connections, stats, queue, secrets, clock, hub_webhook_secret, backlog, data_retention, token_cache }
    }

    async fn verify_token(&self, account: &AccountId, sealed: &str) -> Result<SecretString, Error> {
        Ok(self
            .token_cache
            .open(self.secrets.as_ref(), sealed, &seal_context(account, SealedField::VerifyToken))
            .await?)
    }

    /// `POST /nhanhvn/hook/{app_id}`. The connection is found first (by app and business, or, for
    /// v3's `webhooksEnabled` probe that names no business, among the app's accounts by its
    /// token); then the body is decoded by the adapter of the connection's API version and each
    /// named record is queued as one [`WorkItem::NhanhChange`].
    pub async fn nhanh_webhook(
        &self,
        app_raw: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Outcome, IntakeError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(IntakeError::TooLarge);
        }
        let app = AppId::parse(app_raw)
            .map_err(|_| IntakeError::Malformed("app id in the path must be a positive integer".into()))?;
        let event = WebhookBody::parse(body).map_err(|e| IntakeError::Malformed(e.0))?;
        let route = event.route().map_err(|e| IntakeError::Malformed(e.0))?;
        let (conn, hook) = self.authenticated(app, &route, &event, authorization).await?;
        let account = conn.account_id.clone();
        if let Some(unexpected) = &hook.unexpected {
            tracing::warn!(
                account_id = account.as_str(),
                event = hook.event_name.as_str(),
                unexpected = unexpected.as_str(),
                "unexpected webhook payload"
            );
        }
        let now = self.clock.now();
        let stream = hook.kind.entity_and_stream().1;
        let log = |outcome: &Outcome| {
            tracing::info!(account_id = account.as_str(), app_id = app.get(), event = hook.event_name.as_str(), ids = ?hook.record_ids.iter().map(|i| i.get()).collect::<Vec<_>>(), outcome = outcome.as_str(), "nhanh webhook");
            crate::metrics::records(stream.as_str(), outcome.as_str(), 1, account.as_str());
        };
        if hook.kind == WebhookKind::WebhooksEnabled {
            self.stats.set_webhooks_live(&account, now).await.map_err(Error::from)?;
            log(&Outcome::WebhooksLive);
            return Ok(Outcome::WebhooksLive);
        }
        if !matches!(conn.state, ConnectionState::Syncing | ConnectionState::Active | ConnectionState::NeedsReauth) {
            self.stats.count(&account, stream, Counter::Dropped, now).await.map_err(Error::from)?;
            log(&Outcome::Dropped);
            return Ok(Outcome::Dropped);
        }
        if hook.kind == WebhookKind::AppUninstalled {
            self.app_uninstalled(&account).await?;
            log(&Outcome::Disconnected);
            return Ok(Outcome::Disconnected);
        }
        if hook.kind.is_ignored() {
            self.stats.count(&account, stream, Counter::Ignored, now).await.map_err(Error::from)?;
            log(&Outcome::Ignored);
            return Ok(Outcome::Ignored);
        }
        let business = conn.business_id.map(|business_id| NhanhBusiness { app_id: conn.app_id, business_id });
        if let (WebhookKind::OrderChanged, Some(business)) = (hook.kind, business) {
            if let Some(outcome) = self.backlog_orders(&account, business, &hook.record_ids, now).await? {
                log(&outcome);
                return Ok(outcome);
            }
        }
        let messages = changes(&conn, &hook, business, now, body)?;
        // The send is the only write: the processor moves the stream's `last_event_at` when it
        // applies (or fails to apply) the item, so no webhook writes a counter item.
        self.queue.send(&messages).await.map_err(|e| IntakeError::Unavailable(Error::Queue(e)))?;
        let outcome = Outcome::Queued(messages.len());
        log(&outcome);
        Ok(outcome)
    }

    /// `POST /hub/hook/{account_id}` with `X-Hub-Signature: sha256=<hex>`.
    pub async fn hub_event(
        &self,
        account_raw: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Outcome, IntakeError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(IntakeError::TooLarge);
        }
        let account = AccountId::parse(account_raw)
            .map_err(|_| IntakeError::Malformed("account id in the path is not valid".into()))?;
        if !self.signature_ok(signature, body).await? {
            tracing::warn!(account_id = account.as_str(), "hub event refused: missing or wrong signature");
            return Err(IntakeError::Unauthorized("missing or wrong X-Hub-Signature"));
        }
        let malformed = |e: HubEventError| IntakeError::Malformed(e.to_string());
        let body_read = HubEventBody::parse(body).map_err(malformed)?;
        // The account is the signed body's, never the path's alone: the path is not signed, so a
        // body without `account_id` could be replayed to any account (issue 22).
        match body_read.account_id.as_deref() {
            None => return Err(IntakeError::Malformed("missing field: account_id".into())),
            Some(a) if a != account.as_str() => {
                return Err(IntakeError::Malformed("account_id in the body differs from the path".into()))
            }
            Some(_) => {}
        }
        self.check_fresh(body_read.occurred_at().map_err(malformed)?)?;
        let name = body_read.name.clone();
        let Some(event) = body_read.into_event().map_err(malformed)? else {
            tracing::info!(account_id = account.as_str(), event = name.as_str(), outcome = "ignored", "hub event");
            return Ok(Outcome::Ignored);
        };
        let (name, id) = (event.name(), event.id().as_str().to_owned());
        let stream = if event.is_customer() { Stream::Customers } else { Stream::Orders };
        let now = self.clock.now();
        let conn = self.connections.get(&account).await.map_err(Error::from)?;
        // An erasure concerns whatever the account keeps, connected or not (issue 24).
        let active = conn.as_ref().is_some_and(|c| {
            matches!(event.record, HubEventRecord::CustomerErased { .. })
                || matches!(c.state, ConnectionState::Syncing | ConnectionState::Active | ConnectionState::NeedsReauth)
        });
        if !active {
            if conn.is_some() {
                self.stats.count(&account, stream, Counter::Dropped, now).await.map_err(Error::from)?;
            }
            tracing::info!(
                account_id = account.as_str(),
                event = name,
                id = id.as_str(),
                outcome = "dropped",
                "hub event"
            );
            return Ok(Outcome::Dropped);
        }
        let item = WorkItem::HubEvent { account_id: account.clone(), received_at: now, event };
        let message = item.to_message(Origin::Received(body)).map_err(|e| IntakeError::Malformed(e.to_string()))?;
        if message.group_id.len() > MAX_GROUP_ID_LEN {
            return Err(IntakeError::Malformed("data.id is too long for this account's queue group".into()));
        }
        self.queue.send(std::slice::from_ref(&message)).await.map_err(|e| IntakeError::Unavailable(Error::Queue(e)))?;
        tracing::info!(account_id = account.as_str(), event = name, id = id.as_str(), outcome = "queued", "hub event");
        Ok(Outcome::Queued(1))
    }

    /// Refuses a signed Hub event whose `occurred_at` (read by [`HubEventBody::occurred_at`],
    /// which refuses it missing or unreadable) is older than [`HUB_EVENT_MAX_AGE`] or further
    /// ahead than [`HUB_EVENT_MAX_SKEW`], as svix's webhook
    /// verification checks its signed timestamp: `occurred_at` is inside the signed body, so a
    /// captured event cannot be replayed later. Within the window a replay is harmless: SQS drops
    /// the same body for 5 minutes, and applying a Hub event twice finds it already linked.
    fn check_fresh(&self, at: OffsetDateTime) -> Result<(), IntakeError> {
        let now = self.clock.now();
        if at < now - HUB_EVENT_MAX_AGE || at > now + HUB_EVENT_MAX_SKEW {
            return Err(IntakeError::Unauthorized(
                "occurred_at is outside the accepted window (stale or replayed event)",
            ));
        }
        Ok(())
    }

    /// Whether `header` is the HMAC of `body` with an accepted version of the Hub webhook secret.
    /// A well-formed signature that matches none reads the secret again (bounded by
    /// [`crate::secrets::managed::MIN_REREAD`]): the Hub may have switched to a rotated secret.
    async fn signature_ok(&self, header: Option<&str>, body: &[u8]) -> Result<bool, IntakeError> {
        let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return Ok(false) };
        let Some(sig) = decode_hex(hex_sig).filter(|s| s.len() == 32) else { return Ok(false) };
        let matches = |secrets: &[SecretString]| {
            secrets.iter().any(|secret| {
                Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                    .map(|mut mac| {
                        mac.update(body);
                        mac.verify_slice(&sig).is_ok()
                    })
                    .unwrap_or(false)
            })
        };
        let unavailable = |e| IntakeError::Unavailable(Error::Secret(e));
        let secret = &self.hub_webhook_secret;
        if matches(&secret.accepted().await.map_err(unavailable)?) {
            return Ok(true);
        }
        if secret.reread().await.map_err(unavailable)? {
            return Ok(matches(&secret.accepted().await.map_err(unavailable)?));
        }
        Ok(false)
    }
}

/// The messages of a webhook: one [`WorkItem::NhanhChange`] per record it names. A redelivered
/// webhook is the same body: the same deduplication id per record.
fn changes(
    conn: &Connection,
    hook: &Webhook,
    business: Option<NhanhBusiness>,
    now: OffsetDateTime,
    body: &[u8],
) -> Result<Vec<crate::queue::QueueMessage>, IntakeError> {
    let mut messages = Vec::with_capacity(hook.record_ids.len());
    for id in &hook.record_ids {
        let item = WorkItem::NhanhChange {
            account_id: conn.account_id.clone(),
            api_version: conn.api_version,
            received_at: now,
            event: hook.event_name.clone(),
            change: hook.kind,
            record_id: *id,
            business,
        };
        messages.push(item.to_message(Origin::Received(body)).map_err(|e| IntakeError::Malformed(e.to_string()))?);
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionState, WorkItem};
    use crate::store::StatsStore;
    use crate::testing::{intake_fixture, HUB_SECRET};
    use proptest::prelude::*;
    use serde_json::json;

    fn hook(business: u64, token: &str, event: &str, data: impl serde::Serialize) -> Vec<u8> {
        json!({"event": event, "businessId": business, "webhooksVerifyToken": token, "data": data})
            .to_string()
            .into_bytes()
    }

    #[tokio::test]
    async fn queues_one_message_per_record_with_group_and_dedup() {
        let f = intake_fixture();
        let a = f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        let body = hook(10, "tok-a", "productUpdate", json!({"productId": 101, "name": "Áo"}));
        assert_eq!(f.service.nhanh_webhook("1", None, &body).await.unwrap(), Outcome::Queued(1));
        assert_eq!(f.service.nhanh_webhook("1", None, &body).await.unwrap(), Outcome::Queued(1));
        let msgs = f.queue.messages();
        assert_eq!(msgs.len(), 1, "a repeated send of one reception collapses");
        assert_eq!(msgs[0].group_id, "acct-a:product:101");
        let at = f.now.unix_timestamp_nanos().to_string();
        assert_eq!(msgs[0].dedup_id, crate::domain::work::sha256_hex(&[&body[..], b"#", b"101", b"@", at.as_bytes()]));
        assert!(!msgs[0].body.contains("tok-a"), "the verify token is not queued");
        let item: WorkItem = serde_json::from_str(&msgs[0].body).unwrap();
        assert_eq!(item.account_id(), &a);
        assert!(
            matches!(item, WorkItem::NhanhChange { change: WebhookKind::ProductChanged, .. }),
            "facts, not the body: {item:?}"
        );
        assert!(!msgs[0].body.contains("\"name\""), "no body travels");

        let del = hook(10, "tok-a", "productDelete", json!([9, 10]));
        assert_eq!(f.service.nhanh_webhook("1", None, &del).await.unwrap(), Outcome::Queued(2));
        let groups: Vec<String> = f.queue.messages().iter().map(|m| m.group_id.clone()).collect();
        assert!(groups.contains(&"acct-a:product:9".to_string()) && groups.contains(&"acct-a:product:10".to_string()));
        let stats = f.store.stats(&a).await.unwrap();
        assert!(stats.streams.is_empty(), "a queued webhook writes no counter (the processor does): {stats:?}");
    }

    #[tokio::test]
    async fn v3_webhooks_carry_the_token_in_the_header_and_the_probe_names_no_business() {
        let f = intake_fixture();
        let a = f.connect("acct-3", 7, 70, "tok-3", ConnectionState::Active).await;
        let mut conn = f.store.get(&a).await.unwrap().unwrap();
        conn.api_version = crate::domain::ApiVersion::V3;
        f.store.put(&conn).await.unwrap();
        let probe = json!({"event": "webhooksEnabled"}).to_string().into_bytes();
        for header in [Some("tok-3"), Some("Bearer tok-3")] {
            assert_eq!(
                f.service.nhanh_webhook("7", header, &probe).await.unwrap(),
                Outcome::WebhooksLive,
                "{header:?}"
            );
        }
        assert!(matches!(f.service.nhanh_webhook("7", Some("tok-x"), &probe).await, Err(IntakeError::Unauthorized(_))));
        assert!(matches!(f.service.nhanh_webhook("7", None, &probe).await, Err(IntakeError::Unauthorized(_))));
        let deleted = json!({"event": "orderDelete", "businessId": 70, "data": [5, 6]}).to_string().into_bytes();
        assert_eq!(f.service.nhanh_webhook("7", Some("tok-3"), &deleted).await.unwrap(), Outcome::Queued(2));
        let order = json!({"event": "orderUpdate", "businessId": 70, "webhooksVerifyToken": "tok-3", "data": {"info": {"id": 8, "status": 60}}});
        assert_eq!(
            f.service.nhanh_webhook("7", None, order.to_string().as_bytes()).await.unwrap(),
            Outcome::Queued(1),
            "the body token is accepted too"
        );
        let bye = json!({"event": "appUninstalled", "businessId": 70}).to_string().into_bytes();
        assert_eq!(f.service.nhanh_webhook("7", Some("tok-3"), &bye).await.unwrap(), Outcome::Disconnected);
        let conn = f.store.get(&a).await.unwrap().unwrap();
        assert_eq!(
            (conn.state, conn.disconnect_reason.as_deref()),
            (ConnectionState::Disconnected, Some("app_uninstalled"))
        );
        assert_eq!(
            f.service.nhanh_webhook("7", Some("tok-3"), &deleted).await.unwrap(),
            Outcome::Dropped,
            "R3 after the uninstall"
        );
    }

    #[tokio::test]
    async fn refusals_queue_nothing() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        f.connect("acct-b", 1, 20, "tok-b", ConnectionState::Active).await;
        let order = json!({"orderId": 1});
        for (app, body) in [
            ("1", hook(10, "wrong", "orderAdd", order.clone())),
            ("1", hook(99, "tok-a", "orderAdd", order.clone())),
            ("2", hook(10, "tok-a", "orderAdd", order.clone())),
            // A's token under B's business.
            ("1", hook(20, "tok-a", "orderAdd", order.clone())),
        ] {
            assert!(matches!(f.service.nhanh_webhook(app, None, &body).await, Err(IntakeError::Unauthorized(_))));
        }
        for body in [b"not json".to_vec(), b"{}".to_vec(), hook(10, "tok-a", "orderAdd", json!({}))] {
            assert!(matches!(f.service.nhanh_webhook("1", None, &body).await, Err(IntakeError::Malformed(_))));
        }
        assert!(matches!(
            f.service.nhanh_webhook("x", None, &hook(10, "tok-a", "orderAdd", order.clone())).await,
            Err(IntakeError::Malformed(_))
        ));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert!(matches!(f.service.nhanh_webhook("1", None, &big).await, Err(IntakeError::TooLarge)));
        assert!(f.queue.messages().is_empty());
    }

    #[tokio::test]
    async fn inactive_enabled_and_ignored_are_counted() {
        let f = intake_fixture();
        let a = f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Disconnected).await;
        let r =
            f.service.nhanh_webhook("1", None, &hook(10, "tok-a", "orderAdd", json!({"orderId": 1}))).await.unwrap();
        assert_eq!(r, Outcome::Dropped);
        assert_eq!(f.store.stats(&a).await.unwrap().streams["orders"].dropped, 1);
        let b = f.connect("acct-b", 1, 20, "tok-b", ConnectionState::Active).await;
        assert_eq!(
            f.service.nhanh_webhook("1", None, &hook(20, "tok-b", "webhooksEnabled", json!({}))).await.unwrap(),
            Outcome::WebhooksLive
        );
        assert_eq!(
            f.service
                .nhanh_webhook("1", None, &hook(20, "tok-b", "inventoryChange", json!({"5": {"id": 5}})))
                .await
                .unwrap(),
            Outcome::Ignored
        );
        let stats = f.store.stats(&b).await.unwrap();
        assert!(stats.webhooks_live);
        assert_eq!(stats.streams["products"].ignored, 1);
        assert!(f.queue.messages().is_empty());
    }

    #[tokio::test]
    async fn queue_failure_is_not_acknowledged() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        f.queue.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let r = f.service.nhanh_webhook("1", None, &hook(10, "tok-a", "productAdd", json!({"productId": 1}))).await;
        assert!(matches!(r, Err(IntakeError::Unavailable(_))));
    }

    /// Issue 23: order changes wait in the business's backlog; one drain is queued for all of
    /// them, whatever their number, and queued again only once it has ended.
    #[tokio::test]
    async fn order_changes_wait_in_the_backlog_behind_one_drain() {
        use crate::store::{BacklogKey, OrderBacklog};
        let f = intake_fixture();
        let a = f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        for id in [101, 102, 101, 103] {
            let body = hook(10, "tok-a", "orderUpdate", json!({"orderId": id, "status": "Confirmed"}));
            f.service.nhanh_webhook("1", None, &body).await.unwrap();
        }
        let msgs = f.queue.messages();
        assert_eq!(msgs.len(), 1, "one drain for four changes: {msgs:?}");
        assert_eq!(msgs[0].group_id, "acct-a:order_drain");
        let business =
            NhanhBusiness { app_id: AppId::new(1).unwrap(), business_id: crate::domain::BusinessId::new(10).unwrap() };
        assert_eq!(
            serde_json::from_str::<WorkItem>(&msgs[0].body).unwrap(),
            WorkItem::OrderDrain { account_id: a.clone(), business, queued_at: f.now }
        );
        let key = BacklogKey { account: a, business };
        let backlog = f.store.backlog(&key).await.unwrap();
        let ids: Vec<u64> = backlog.orders.iter().map(|o| o.id.get()).collect();
        assert_eq!(ids, vec![101, 102, 103]);
        assert_eq!(backlog.seq, 4);
        // The drain ends: the next change queues a new one.
        assert!(f.store.end_drain(&key, backlog.seq).await.unwrap());
        let body = hook(10, "tok-a", "orderAdd", json!({"orderId": 104}));
        assert_eq!(f.service.nhanh_webhook("1", None, &body).await.unwrap(), Outcome::Queued(1), "a drain sent");
    }

    /// A drain whose send failed leaves no mark behind: Nhanh's retry of the webhook queues it.
    #[tokio::test]
    async fn a_drain_that_could_not_be_queued_is_queued_by_the_retry() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        let body = hook(10, "tok-a", "orderAdd", json!({"orderId": 7}));
        f.queue.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let r = f.service.nhanh_webhook("1", None, &body).await;
        assert!(matches!(r, Err(IntakeError::Unavailable(_))), "5xx: Nhanh retries");
        f.queue.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(f.service.nhanh_webhook("1", None, &body).await.unwrap(), Outcome::Queued(1));
        assert_eq!(f.queue.messages().len(), 1);
    }

    /// Issue 22: the Hub webhook secret rotates without a redeploy. An event signed with the
    /// rotated-in secret makes intake read the secret again; both versions are then accepted.
    #[tokio::test]
    async fn hub_events_signed_with_either_version_of_a_rotated_secret_are_accepted() {
        use crate::secrets::managed::ManagedSecret;
        let mut f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        let source = Arc::new(crate::testing::RotatingSecretSource::default());
        source.rotate("hub-secret-one");
        let managed = ManagedSecret::from_source("HUB_WEBHOOK_SECRET", "arn:hub".into(), source.clone(), true)
            .with_min_reread(std::time::Duration::ZERO);
        f.service.hub_webhook_secret = Arc::new(managed);
        let event = |id: &str| {
            json!({"event": "customer.created", "account_id": "acct-a", "occurred_at": crate::clock::rfc3339(f.now),
                "data": {"id": id}})
            .to_string()
        };
        let sent = |secret: &str, body: String| {
            let sig = hub_signature(&SecretString::new(secret), body.as_bytes());
            let service = &f.service;
            async move { service.hub_event("acct-a", Some(&sig), body.as_bytes()).await }
        };
        assert!(sent("hub-secret-one", event("c1")).await.is_ok());
        source.rotate("hub-secret-two");
        assert!(sent("hub-secret-two", event("c2")).await.is_ok(), "the new secret, read again on the mismatch");
        assert!(sent("hub-secret-one", event("c3")).await.is_ok(), "the previous one still, during the rotation");
        assert!(matches!(sent("not-a-version", event("c4")).await, Err(IntakeError::Unauthorized(_))));
        assert_eq!(f.queue.messages().len(), 3);
    }

    #[tokio::test]
    async fn hub_events_need_the_signature() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        f.connect("acct-d", 1, 30, "tok-d", ConnectionState::Disconnected).await;
        let secret = SecretString::new(HUB_SECRET);
        let now = crate::clock::rfc3339(f.service.clock.now());
        let body = json!({"event": "customer.created", "account_id": "acct-a", "occurred_at": now,
            "data": {"id": "c1", "phone": "0912345678"}})
        .to_string();
        let sig = hub_signature(&secret, body.as_bytes());
        assert!(matches!(
            f.service.hub_event("acct-a", None, body.as_bytes()).await,
            Err(IntakeError::Unauthorized(_))
        ));
        assert!(matches!(
            f.service.hub_event("acct-a", Some("sha256=00"), body.as_bytes()).await,
            Err(IntakeError::Unauthorized(_))
        ));
        let tampered = body.replace("c1", "c2");
        assert!(matches!(
            f.service.hub_event("acct-a", Some(&sig), tampered.as_bytes()).await,
            Err(IntakeError::Unauthorized(_))
        ));
        assert_eq!(f.service.hub_event("acct-a", Some(&sig), body.as_bytes()).await.unwrap(), Outcome::Queued(1));
        assert_eq!(f.queue.messages()[0].group_id, "acct-a:hub_customer:c1");
        assert!(
            matches!(f.service.hub_event("acct-b", Some(&sig), body.as_bytes()).await, Err(IntakeError::Malformed(_))),
            "account in body differs"
        );
        let inactive = json!({"event": "order.created", "account_id": "acct-d", "occurred_at": now, "data": {"id": 5}})
            .to_string();
        let sig = hub_signature(&secret, inactive.as_bytes());
        assert_eq!(f.service.hub_event("acct-d", Some(&sig), inactive.as_bytes()).await.unwrap(), Outcome::Dropped);
        assert_eq!(f.queue.messages().len(), 1);
        // Issue 24: an erasure is queued for an account that disconnected (its data is kept),
        // in the customer's group, after its earlier events.
        f.connect("acct-e", 2, 20, "tok-e", ConnectionState::Disconnected).await;
        let erased = json!({"event": "customer.erased", "account_id": "acct-e", "occurred_at": now,
            "data": {"id": "c1", "phone": "0912345678"}})
        .to_string();
        let sig = hub_signature(&secret, erased.as_bytes());
        assert_eq!(f.service.hub_event("acct-e", Some(&sig), erased.as_bytes()).await.unwrap(), Outcome::Queued(1));
        assert_eq!(f.queue.messages()[1].group_id, "acct-e:hub_customer:c1");
    }

    #[tokio::test]
    async fn stale_or_replayed_hub_events_are_refused_and_queue_nothing() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        let secret = SecretString::new(HUB_SECRET);
        let now = f.service.clock.now();
        let event = |at: Option<OffsetDateTime>| {
            let mut e = json!({"event": "customer.created", "account_id": "acct-a", "data": {"id": "c9"}});
            if let Some(at) = at {
                e["occurred_at"] = json!(crate::clock::rfc3339(at));
            }
            e.to_string()
        };
        let send = |body: String| {
            let sig = hub_signature(&secret, body.as_bytes());
            let service = &f.service;
            async move { service.hub_event("acct-a", Some(&sig), body.as_bytes()).await }
        };
        let replayed = send(event(Some(now - HUB_EVENT_MAX_AGE - time::Duration::seconds(1)))).await;
        assert!(matches!(replayed, Err(IntakeError::Unauthorized(_))), "{replayed:?}");
        let ahead = send(event(Some(now + HUB_EVENT_MAX_SKEW + time::Duration::seconds(1)))).await;
        assert!(matches!(ahead, Err(IntakeError::Unauthorized(_))), "{ahead:?}");
        assert!(matches!(send(event(None)).await, Err(IntakeError::Malformed(_))));
        assert!(f.queue.messages().is_empty());
        assert_eq!(send(event(Some(now - time::Duration::minutes(59)))).await.unwrap(), Outcome::Queued(1));
    }

    /// Issue 22: a body that does not decode is answered 400 only to a caller who proved the verify
    /// token; without it the answer is the 401 of an unknown route, so nobody learns which routes
    /// exist by sending broken bodies.
    #[tokio::test]
    async fn a_broken_body_tells_nothing_before_the_token_is_proved() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        let broken = |token: &str| hook(10, token, "orderAdd", json!({"status": "New"}));
        let stranger = f.service.nhanh_webhook("1", None, &broken("not-the-token")).await;
        assert!(matches!(stranger, Err(IntakeError::Unauthorized(_))), "{stranger:?}");
        let unknown = f.service.nhanh_webhook("1", None, &hook(99, "x", "orderAdd", json!({"status": "New"}))).await;
        assert!(matches!(unknown, Err(IntakeError::Unauthorized(_))), "the same answer as an unknown route");
        let owner = f.service.nhanh_webhook("1", None, &broken("tok-a")).await;
        assert!(matches!(owner, Err(IntakeError::Malformed(_))), "{owner:?}");
        assert!(f.queue.messages().is_empty());
    }

    /// Issue 22: the account must be named in the signed body (the path is not signed), and a
    /// `data.id` SQS cannot take as part of a message group is a 400, not a 503 the Hub retries
    /// forever.
    #[tokio::test]
    async fn a_hub_event_names_its_account_in_the_signed_body_and_a_usable_id() {
        let f = intake_fixture();
        f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
        let secret = SecretString::new(HUB_SECRET);
        let now = crate::clock::rfc3339(f.service.clock.now());
        let send = |body: String| {
            let sig = hub_signature(&secret, body.as_bytes());
            let service = &f.service;
            async move { service.hub_event("acct-a", Some(&sig), body.as_bytes()).await }
        };
        let unnamed =
            send(json!({"event": "customer.created", "occurred_at": now, "data": {"id": "c1"}}).to_string()).await;
        assert!(matches!(&unnamed, Err(IntakeError::Malformed(m)) if m.contains("account_id")), "{unnamed:?}");
        for id in [json!("x".repeat(120)), json!("has space"), json!("đơn-1")] {
            let refused = send(
                json!({"event": "order.created", "account_id": "acct-a", "occurred_at": now, "data": {"id": id}})
                    .to_string(),
            )
            .await;
            assert!(matches!(refused, Err(IntakeError::Malformed(_))), "{id}: {refused:?}");
        }
        assert!(f.queue.messages().is_empty(), "nothing queued");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn random_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..300), text in ".{0,200}", app in ".{0,6}") {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let f = intake_fixture();
                f.connect("acct-a", 1, 10, "tok-a", ConnectionState::Active).await;
                let _ = f.service.nhanh_webhook(&app, None, &body).await;
                let _ = f.service.nhanh_webhook("1", None, text.as_bytes()).await;
                let _ = f.service.hub_event(&app, Some(&text), &body).await;
                let _ = f.service.hub_event("acct-a", Some(&hub_signature(&SecretString::new(HUB_SECRET), text.as_bytes())), text.as_bytes()).await;
            });
        }
    }
}
