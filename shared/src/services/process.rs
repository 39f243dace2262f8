//! The processor: applies work items to the other side (rules R3, R5–R9).
//!
//! Nhanh → Hub: products (always re-read with `product/detail`, so stale or re-ordered webhooks
//! end in the current state), orders (re-read with `order/index` by id; customer matched by
//! normalised phone; full snapshot), deletions, and the category tree. Hub → Nhanh: customers
//! (`customer/add`) and orders (`order/add` with the Hub id, echoes recognised by `shopOrderId`).
//!
//! No duplicates: every Hub create carries the Idempotency-Key `{account}:{entity}:{nhanh id}`
//! and the exact body recorded (an intent) before the call, so a retry after a lost answer
//! resends the same request and gets the same record; the id map is written only after the Hub
//! answered. A push to Nhanh records its intent before `order/add`, so an echo (or a refusal of a
//! repeated id) is linked to the same Hub order.

use crate::clock::Clock;
use crate::domain::{AccountId, ApiVersion, Connection, ConnectionState, Counter, HubId, NhanhId, Phone, WorkItem};
use crate::hub::{CustomerInput, HubApi, HubCustomer, HubError, OrderSnapshot, ProductInput};
use crate::mapping;
use crate::nhanh::{
    self, Category, Credentials, NewOrder, NewOrderLine, NhanhApi, NhanhError, Order, OrderFilter, OrderQuery, Product,
    WebhookKind,
};
use crate::queue::WorkQueue;
use crate::secrets::{OpenCache, SecretBox};
use crate::services::connect::seal_context;
use crate::store::{
    ConnectionStore, CursorStore, Entity, FailureLog, FailureRecord, IdMapStore, IntentStore, StatsStore, StoreError,
};
use crate::Error;
use serde_json::Value;
use std::sync::Arc;
use time::OffsetDateTime;

/// One queue record of a batch.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    /// The SQS message id (reported back when it fails).
    pub message_id: String,
    /// `MessageGroupId`.
    pub group_id: String,
    /// The body (a serialised [`WorkItem`]).
    pub body: String,
}

/// A record to report in `batchItemFailures`, and when it may be retried (rate limits).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFailure {
    /// The SQS message id.
    pub message_id: String,
    /// No retry before this instant (Nhanh's `unlockedAt`, the Hub's `Retry-After`).
    pub not_before: Option<OffsetDateTime>,
}

/// What applying one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Changes applied to the other side, counted on this stream.
    Applied(&'static str),
    /// Dropped by rule (R3), counted on this stream.
    Dropped(&'static str),
    /// Nothing to do (already done, or nothing the connector syncs).
    Skipped,
}

/// Why an item was not applied.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Try again later (nothing lost).
    Retry {
        /// For the logs.
        reason: String,
        /// Not before this instant.
        not_before: Option<OffsetDateTime>,
        /// Nhanh refused the access token: the connection needs a new consent (R12).
        reauth: bool,
    },
    /// Will never succeed as it is: recorded on the error log and acknowledged.
    Permanent {
        /// The stream to count it on.
        stream: &'static str,
        /// Entity and record id for the error log.
        record: String,
        /// Why.
        reason: String,
    },
}

impl Failure {
    pub(crate) fn permanent(stream: &'static str, record: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Permanent { stream, record: record.into(), reason: reason.into() }
    }
}

/// Classifies a lower-level error for a record of `stream`.
pub(crate) fn classify(stream: &'static str, record: &str, e: Error) -> Failure {
    let not_before = match &e {
        Error::Nhanh(NhanhError::RateLimited { unlocked_at, .. }) => Some(*unlocked_at),
        Error::Hub(HubError::RateLimited { until }) => Some(*until),
        _ => None,
    };
    if e.is_retryable()
        || matches!(e, Error::Nhanh(NhanhError::InvalidAccessToken))
        || matches!(e, Error::Hub(HubError::Unauthorized))
    {
        let reauth = matches!(e, Error::Nhanh(NhanhError::InvalidAccessToken));
        Failure::Retry { reason: e.to_string(), not_before, reauth }
    } else {
        Failure::permanent(stream, record, e.to_string())
    }
}

/// The Hub id in a Hub event's `data.id` (text or number).
pub(crate) fn event_record_id(data: &Value) -> Option<HubId> {
    match &data["id"] {
        Value::String(s) => HubId::parse(s).ok(),
        Value::Number(n) => HubId::parse(&n.to_string()).ok(),
        _ => None,
    }
}

macro_rules! attempt {
    ($stream:expr, $record:expr, $e:expr) => {
        $e.await.map_err(|e| classify($stream, &$record, Error::from(e)))?
    };
}

/// What [`Processor::prepare`] found.
pub(crate) enum Ready {
    /// Connected: apply with these.
    Go(Box<Connection>, Credentials),
    /// Nothing to apply; answer this.
    Done(Outcome),
}

/// The processor's ports.
pub struct Processor {
    /// Connections.
    pub connections: Arc<dyn ConnectionStore>,
    /// Id maps.
    pub maps: Arc<dyn IdMapStore>,
    /// Create intents and last snapshots.
    pub intents: Arc<dyn IntentStore>,
    /// Status counters.
    pub stats: Arc<dyn StatsStore>,
    /// Error log.
    pub failures: Arc<dyn FailureLog>,
    /// Sweep cursors.
    pub cursors: Arc<dyn CursorStore>,
    /// The work queue (initial sync pages).
    pub queue: Arc<dyn WorkQueue>,
    /// Nhanh.
    pub nhanh: Arc<dyn NhanhApi>,
    /// The Hub.
    pub hub: Arc<dyn HubApi>,
    /// Opens access tokens.
    pub secrets: Arc<dyn SecretBox>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Opened access tokens.
    pub tokens: OpenCache,
    /// How long one invocation works on a scheduled pass before it continues in a new work item.
    pub pass_budget: time::Duration,
}

/// Scopes of intents.
const CREATE: &str = "create";
pub(crate) const SNAPSHOT: &str = "snapshot";
/// Scope of the last product bodies sent to the Hub.
pub(crate) const PRODUCT_SNAPSHOT: &str = "snapshot:product";
const PUSH_ORDER: &str = "push:order";

impl Processor {
    /// Applies a batch the way the SQS event source mapping expects: records of one message group
    /// in order, groups concurrently; once a record of a group fails, the group's later records
    /// are reported failed too, so FIFO order holds. Returns the failures to report.
    pub async fn process_batch(&self, records: &[BatchRecord]) -> Vec<RecordFailure> {
        let mut groups: Vec<(&str, Vec<&BatchRecord>)> = Vec::new();
        for r in records {
            match groups.iter_mut().find(|(g, _)| *g == r.group_id) {
                Some((_, list)) => list.push(r),
                None => groups.push((&r.group_id, vec![r])),
            }
        }
        let settled = self.push_customer_heads(&groups).await;
        let settled = &settled;
        let runs = groups.into_iter().map(|(_, list)| async move {
            let mut failed = Vec::new();
            let mut broken = false;
            for r in list {
                if broken {
                    failed.push(RecordFailure { message_id: r.message_id.clone(), not_before: None });
                    continue;
                }
                let result = match settled.get(&r.message_id) {
                    Some(done) => *done,
                    None => self.process_record(r).await,
                };
                if let Err(not_before) = result {
                    broken = true;
                    failed.push(RecordFailure { message_id: r.message_id.clone(), not_before });
                }
            }
            failed
        });
        futures::future::join_all(runs).await.into_iter().flatten().collect()
    }

    /// Applies one record; `Err(not_before)` means "report it failed".
    pub async fn process_record(&self, record: &BatchRecord) -> Result<(), Option<OffsetDateTime>> {
        let item: WorkItem = match serde_json::from_str(&record.body) {
            Ok(item) => item,
            Err(e) => {
                tracing::error!(message_id = record.message_id.as_str(), group_id = record.group_id.as_str(), error = %e, "undecodable work item acknowledged");
                return Ok(());
            }
        };
        let account = item.account_id().clone();
        let result = self.apply(&item).await;
        self.settle(record, &account, result).await
    }

    /// Counts or logs what applying a record did; `Err(not_before)` means "report it failed".
    pub(crate) async fn settle(
        &self,
        record: &BatchRecord,
        account: &AccountId,
        result: Result<Outcome, Failure>,
    ) -> Result<(), Option<OffsetDateTime>> {
        let now = self.clock.now();
        match result {
            Ok(outcome) => {
                tracing::info!(account_id = account.as_str(), message_id = record.message_id.as_str(), group_id = record.group_id.as_str(), outcome = ?outcome, "work item applied");
                let counted = match outcome {
                    Outcome::Applied(stream) => self.stats.count(account, stream, Counter::Applied, now).await,
                    Outcome::Dropped(stream) => self.stats.count(account, stream, Counter::Dropped, now).await,
                    Outcome::Skipped => Ok(()),
                };
                if let Err(e) = counted {
                    tracing::warn!(account_id = account.as_str(), error = %e, "counter not updated");
                }
                Ok(())
            }
            Err(Failure::Retry { reason, not_before, .. }) => {
                tracing::warn!(
                    account_id = account.as_str(),
                    message_id = record.message_id.as_str(),
                    group_id = record.group_id.as_str(),
                    reason = reason.as_str(),
                    "work item will be retried"
                );
                Err(not_before)
            }
            Err(Failure::Permanent { stream, record: id, reason }) => {
                tracing::error!(
                    account_id = account.as_str(),
                    message_id = record.message_id.as_str(),
                    group_id = record.group_id.as_str(),
                    record = id.as_str(),
                    reason = reason.as_str(),
                    "work item failed permanently"
                );
                let (entity, rec) = id.split_once(':').unwrap_or(("unknown", id.as_str()));
                let failure = FailureRecord { at: now, entity: entity.to_owned(), record: rec.to_owned(), reason };
                // If the log itself is unavailable, retry rather than lose the reason.
                self.failures.record_failure(account, &failure).await.map_err(|_| None)?;
                let _ = self.stats.count(account, stream, Counter::Failed, now).await;
                Ok(())
            }
        }
    }

    /// Applies one work item.
    pub async fn apply(&self, item: &WorkItem) -> Result<Outcome, Failure> {
        let account = item.account_id();
        let stream = match item {
            WorkItem::NhanhChange { .. } | WorkItem::NhanhWebhook { .. } => "webhooks",
            WorkItem::HubEvent { .. } => "hub_events",
            WorkItem::ProductGroups { .. } => "product_groups",
            WorkItem::ReconcileAccount { .. } => "reconcile",
            WorkItem::InitialSyncPage { .. } => "products",
        };
        let (conn, creds) =
            match self.prepare(account, stream, matches!(item, WorkItem::ReconcileAccount { .. })).await? {
                Ready::Go(conn, creds) => (conn, creds),
                Ready::Done(outcome) => return Ok(outcome),
            };
        let result = match item {
            WorkItem::NhanhChange { received_at, change, record_id, .. } => {
                if conn.connected_at.is_some_and(|c| *received_at < c) {
                    // Received in an earlier connected period (R3).
                    return Ok(Outcome::Dropped(stream));
                }
                self.nhanh_change(&conn, &creds, *change, *record_id).await
            }
            WorkItem::NhanhWebhook { api_version, received_at, event, record_id, .. } => {
                if conn.connected_at.is_some_and(|c| *received_at < c) {
                    return Ok(Outcome::Dropped(stream));
                }
                self.legacy_nhanh_event(&conn, &creds, *api_version, event, *record_id).await
            }
            WorkItem::HubEvent { event, .. } => self.hub_event(&conn, &creds, event).await,
            WorkItem::ProductGroups { tree, .. } => self.sync_groups(&conn, tree).await,
            WorkItem::ReconcileAccount { resume, .. } => self.reconcile(&conn, &creds, resume.clone()).await,
            WorkItem::InitialSyncPage { after, seq, page, .. } => {
                // An item queued before page tokens carries a v2 page number.
                let after = after.clone().or_else(|| page.and_then(nhanh::legacy_page_token));
                let seq = if *seq == 0 { page.unwrap_or(1) } else { *seq };
                self.initial_sync_page(&conn, &creds, after, seq).await
            }
        };
        if let Err(Failure::Retry { reauth: true, .. }) = &result {
            self.mark_needs_reauth(account).await;
        }
        result
    }

    /// The account's connection and credentials, or what to answer without applying anything:
    /// dropped when not connected (R3); while it needs a new consent, kept for later (R12), or
    /// skipped when `skip_if_reauth` (a scheduled pass: the next tick comes anyway).
    pub(crate) async fn prepare(
        &self,
        account: &AccountId,
        stream: &'static str,
        skip_if_reauth: bool,
    ) -> Result<Ready, Failure> {
        let Some(conn) = self.connections.get(account).await.map_err(|e| classify(stream, "connection", e.into()))?
        else {
            return Ok(Ready::Done(Outcome::Dropped(stream)));
        };
        if !conn.state.is_connected() {
            return Ok(Ready::Done(Outcome::Dropped(stream)));
        }
        if conn.state == ConnectionState::NeedsReauth {
            if skip_if_reauth {
                return Ok(Ready::Done(Outcome::Skipped));
            }
            return Err(Failure::Retry {
                reason: "connection needs a new consent (R12); kept".into(),
                not_before: None,
                reauth: false,
            });
        }
        let creds = self.credentials(&conn).await.map_err(|e| classify(stream, "connection", e))?;
        Ok(Ready::Go(Box::new(conn), creds))
    }

    pub(crate) async fn credentials(&self, conn: &Connection) -> Result<Credentials, Error> {
        let business_id = conn.business_id.ok_or_else(|| Error::Invalid("connection without a business".into()))?;
        let sealed =
            conn.access_token_sealed.as_deref().ok_or_else(|| Error::Invalid("connection without a token".into()))?;
        let access_token =
            self.tokens.open(self.secrets.as_ref(), sealed, &seal_context(&conn.account_id, "access_token")).await?;
        Ok(Credentials { app_id: conn.app_id, business_id, access_token, api_version: conn.api_version })
    }

    pub(crate) async fn mark_needs_reauth(&self, account: &AccountId) {
        for _ in 0..3 {
            let Ok(Some(mut conn)) = self.connections.get(account).await else { return };
            if !conn.state.is_connected() || conn.state == ConnectionState::NeedsReauth {
                return;
            }
            conn.state = ConnectionState::NeedsReauth;
            match self.connections.put(&conn).await {
                Ok(_) => {
                    tracing::warn!(
                        account_id = account.as_str(),
                        "Nhanh rejected the access token: connection needs a new consent"
                    );
                    return;
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => {
                    tracing::error!(account_id = account.as_str(), error = %e, "could not mark needs_reauth");
                    return;
                }
            }
        }
    }

    /// Applies one change Nhanh announced, by re-reading the record (stale or re-ordered
    /// webhooks end in the current state).
    async fn nhanh_change(
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
            WebhookKind::WebhooksEnabled | WebhookKind::AppUninstalled | WebhookKind::NotSynced => Ok(Outcome::Skipped),
        }
    }

    /// A webhook queued with its raw body before [`WorkItem::NhanhChange`] existed.
    async fn legacy_nhanh_event(
        &self,
        conn: &Connection,
        creds: &Credentials,
        version: ApiVersion,
        event: &Value,
        record_id: Option<NhanhId>,
    ) -> Result<Outcome, Failure> {
        let hook = nhanh::decode_webhook(version, None, event)
            .map_err(|e| Failure::permanent("webhooks", "event:malformed", e.0))?;
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

    /// Creates a Hub record once, then links the map. Returns the id and whether the body sent was
    /// an earlier one (the caller then applies the current body).
    async fn create_once<T: serde::Serialize + serde::de::DeserializeOwned, F, Fut>(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_key: &str,
        body: &T,
        create: F,
    ) -> Result<(HubId, bool), Error>
    where
        F: Fn(T, String) -> Fut,
        Fut: std::future::Future<Output = Result<HubId, HubError>>,
    {
        let (id, stale) = self.send_create(account, entity, nhanh_key, body, create).await?;
        self.maps.link(account, entity, nhanh_key, &id).await?;
        Ok((id, stale))
    }

    /// Sends a Hub create that is safe to repeat: the body is recorded first (the first recorded
    /// body wins, so a retry resends the identical request under the same Idempotency-Key).
    /// The caller links the map.
    pub(crate) async fn send_create<T: serde::Serialize + serde::de::DeserializeOwned, F, Fut>(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_key: &str,
        body: &T,
        create: F,
    ) -> Result<(HubId, bool), Error>
    where
        F: Fn(T, String) -> Fut,
        Fut: std::future::Future<Output = Result<HubId, HubError>>,
    {
        let wanted = serde_json::to_string(body).map_err(|e| Error::Invalid(e.to_string()))?;
        let scope = format!("{CREATE}:{}", entity.as_str());
        let first = self.intents.put_intent(account, &scope, nhanh_key, &wanted).await?;
        let first_body: T = serde_json::from_str(&first).map_err(|e| Error::Invalid(e.to_string()))?;
        let key = format!("{}:{}:{nhanh_key}", account.as_str(), entity.as_str());
        let id = create(first_body, key).await?;
        Ok((id, first != wanted))
    }

    pub(crate) async fn upsert_product(&self, conn: &Connection, p: &Product, deleted: bool) -> Result<HubId, Failure> {
        let account = &conn.account_id;
        let record = format!("product:{}", p.id);
        let group = match p.category_id {
            Some(c) => attempt!("products", record, self.maps.hub_id(account, Entity::ProductGroup, &c.to_string())),
            None => None,
        };
        let parent = match p.parent_id {
            Some(parent) => {
                attempt!("products", record, self.maps.hub_id(account, Entity::Product, &parent.to_string()))
            }
            None => None,
        };
        let input = mapping::product_input(p, group, parent, deleted);
        let key = p.id.to_string();
        let id = match attempt!("products", record, self.maps.hub_id(account, Entity::Product, &key)) {
            Some(id) => {
                attempt!("products", record, self.hub.update_product(account, &id, &input));
                id
            }
            None => {
                let id = attempt!("products", record, self.create_product(account, &key, &input));
                attempt!("products", record, self.maps.link(account, Entity::Product, &key, &id));
                id
            }
        };
        let body = serde_json::to_string(&input).unwrap_or_default();
        attempt!("products", record, self.intents.set_intent(account, PRODUCT_SNAPSHOT, &key, &body));
        Ok(id)
    }

    /// Creates a new Hub product (repeat-safe); returns its id, the map is linked by the caller.
    pub(crate) async fn create_product(
        &self,
        account: &AccountId,
        key: &str,
        input: &ProductInput,
    ) -> Result<HubId, Error> {
        let hub = self.hub.clone();
        let acct = account.clone();
        let (id, stale) = self
            .send_create(account, Entity::Product, key, input, |body: ProductInput, k: String| {
                let hub = hub.clone();
                let acct = acct.clone();
                async move { hub.create_product(&acct, &body, &k).await }
            })
            .await?;
        if stale {
            self.hub.update_product(account, &id, input).await?;
        }
        Ok(id)
    }

    async fn sync_product(&self, conn: &Connection, creds: &Credentials, id: NhanhId) -> Result<Outcome, Failure> {
        let record = format!("product:{id}");
        let found = attempt!("products", record, self.nhanh.product(creds, id));
        let Some(product) = found.iter().find(|p| p.id == id) else {
            return self.deactivate_product(conn, id).await;
        };
        if let Some(parent_id) = product.parent_id {
            let mapped = attempt!(
                "products",
                record,
                self.maps.hub_id(&conn.account_id, Entity::Product, &parent_id.to_string())
            );
            if mapped.is_none() {
                let parents = attempt!("products", record, self.nhanh.product(creds, parent_id));
                if let Some(parent) = parents.iter().find(|p| p.id == parent_id) {
                    self.upsert_product(conn, parent, false).await?;
                }
            }
        }
        self.upsert_product(conn, product, false).await?;
        Ok(Outcome::Applied("products"))
    }

    async fn deactivate_product(&self, conn: &Connection, id: NhanhId) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("product:{id}");
        let key = id.to_string();
        let Some(hub_id) = attempt!("products", record, self.maps.hub_id(account, Entity::Product, &key)) else {
            return Ok(Outcome::Skipped);
        };
        let last = attempt!("products", record, self.intents.intent(account, PRODUCT_SNAPSHOT, &key));
        let Some(mut input) = last.and_then(|b| serde_json::from_str::<ProductInput>(&b).ok()) else {
            return Err(Failure::permanent("products", record, "no last snapshot of the product to deactivate"));
        };
        input.status = "inactive".into();
        attempt!("products", record, self.hub.update_product(account, &hub_id, &input));
        let body = serde_json::to_string(&input).unwrap_or_default();
        attempt!("products", record, self.intents.set_intent(account, PRODUCT_SNAPSHOT, &key, &body));
        Ok(Outcome::Applied("products"))
    }

    pub(crate) async fn sync_groups(&self, conn: &Connection, tree: &[Category]) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        for c in mapping::groups_in_order(tree) {
            let record = format!("product_group:{}", c.id);
            let parent = match c.parent_id {
                Some(p) => {
                    attempt!("product_groups", record, self.maps.hub_id(account, Entity::ProductGroup, &p.to_string()))
                }
                None => None,
            };
            let input = mapping::group_input(c, parent);
            let key = c.id.to_string();
            match attempt!("product_groups", record, self.maps.hub_id(account, Entity::ProductGroup, &key)) {
                Some(id) => attempt!("product_groups", record, self.hub.update_product_group(account, &id, &input)),
                None => {
                    let hub = self.hub.clone();
                    let acct = account.clone();
                    let (id, stale) = attempt!(
                        "product_groups",
                        record,
                        self.create_once(
                            account,
                            Entity::ProductGroup,
                            &key,
                            &input,
                            |body: crate::hub::ProductGroupInput, k: String| {
                                let hub = hub.clone();
                                let acct = acct.clone();
                                async move { hub.create_product_group(&acct, &body, &k).await }
                            }
                        )
                    );
                    if stale {
                        attempt!("product_groups", record, self.hub.update_product_group(account, &id, &input));
                    }
                }
            }
        }
        Ok(Outcome::Applied("product_groups"))
    }

    /// Finds, creates or updates the Hub customer of a phone (R5); returns its id.
    pub(crate) async fn resolve_customer(
        &self,
        account: &AccountId,
        customer: &crate::nhanh::OrderCustomer,
        phone: &Phone,
        record: &str,
    ) -> Result<HubId, Failure> {
        let wanted = mapping::customer_from_order(customer, phone);
        let current: Option<HubCustomer> =
            attempt!("customers", record, self.hub.find_customer_by_phone(account, phone.as_str()));
        if let Some(current) = current {
            if let Some(changes) = mapping::customer_changes(&current, &wanted) {
                attempt!("customers", record, self.hub.update_customer(account, &current.id, &changes));
            }
            return Ok(current.id);
        }
        let key = format!("P{}", phone.as_str());
        let hub = self.hub.clone();
        let acct = account.clone();
        let created = self
            .create_once(account, Entity::Customer, &key, &wanted, |body: CustomerInput, k: String| {
                let hub = hub.clone();
                let acct = acct.clone();
                async move { hub.create_customer(&acct, &body, &k).await.map(|c| c.id) }
            })
            .await;
        match created {
            Ok((id, _)) => Ok(id),
            // Created meanwhile by someone else (or by the Hub itself): one phone, one customer.
            Err(Error::Hub(e)) if e.has_status(409) => {
                let again = attempt!("customers", record, self.hub.find_customer_by_phone(account, phone.as_str()));
                again.map(|c| c.id).ok_or_else(|| {
                    Failure::permanent(
                        "customers",
                        record.to_owned(),
                        "the Hub says the phone is taken but finds no customer",
                    )
                })
            }
            Err(e) => Err(classify("customers", record, e)),
        }
    }

    async fn sync_order(&self, conn: &Connection, creds: &Credentials, id: NhanhId) -> Result<Outcome, Failure> {
        let record = format!("order:{id}");
        let page = attempt!(
            "orders",
            record,
            self.nhanh.orders(creds, &OrderQuery { after: None, per_page: 1, filter: OrderFilter::Id(id) })
        );
        let Some(order) = page.items.into_iter().find(|o| o.id == id) else {
            return Err(Failure::permanent("orders", record, "Nhanh no longer has this order"));
        };
        self.apply_order(conn, order).await
    }

    /// Applies the current state of a Nhanh order to the Hub (R3, R5–R8).
    pub(crate) async fn apply_order(&self, conn: &Connection, order: Order) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let id = order.id;
        let record = format!("order:{id}");
        if let (Some(created), Some(connected)) = (order.created_at, conn.connected_at) {
            // Nhanh's times have whole seconds: an order of the connecting second is in the period.
            if created < connected.replace_nanosecond(0).unwrap_or(connected) {
                return Ok(Outcome::Dropped("orders"));
            }
        }
        let key = id.to_string();
        let mut hub_id = attempt!("orders", record, self.maps.hub_id(account, Entity::Order, &key));
        if hub_id.is_none() {
            if let Some(shop_id) = order.shop_order_id.as_deref() {
                // R8: the echo of an order the connector pushed from the Hub.
                if attempt!("orders", record, self.intents.intent(account, PUSH_ORDER, shop_id)).is_some() {
                    if let Ok(h) = HubId::parse(shop_id) {
                        attempt!("orders", record, self.maps.link(account, Entity::Order, &key, &h));
                        hub_id = Some(h);
                    }
                }
            }
        }
        // R5: an order without a phone the Hub can store syncs without a customer link.
        let phone = order.customer.mobile.as_deref().and_then(Phone::parse_for_hub);
        let customer_id = match &phone {
            Some(p) => Some(self.resolve_customer(account, &order.customer, p, &record).await?),
            None => None,
        };
        let mut product_ids = Vec::with_capacity(order.items.len());
        for line in &order.items {
            let mapped = match line.product_id {
                Some(p) => attempt!("orders", record, self.maps.hub_id(account, Entity::Product, &p.to_string())),
                None => None,
            };
            product_ids.push(mapped);
        }
        let snapshot =
            mapping::order_snapshot(&order, customer_id, phone.as_ref(), &product_ids, false, self.clock.now());
        self.put_order(account, Entity::Order, &key, hub_id, &snapshot, &record).await?;
        Ok(Outcome::Applied("orders"))
    }

    /// Creates (once) or updates the Hub order of a Nhanh order or retail bill (`entity`) and
    /// records the snapshot sent.
    pub(crate) async fn put_order(
        &self,
        account: &AccountId,
        entity: Entity,
        key: &str,
        hub_id: Option<HubId>,
        snapshot: &OrderSnapshot,
        record: &str,
    ) -> Result<(), Failure> {
        match hub_id {
            Some(id) => attempt!("orders", record, self.hub.update_order(account, &id, snapshot)),
            None => {
                let hub = self.hub.clone();
                let acct = account.clone();
                let (id, stale) = attempt!(
                    "orders",
                    record,
                    self.create_once(account, entity, key, snapshot, |body: OrderSnapshot, k: String| {
                        let hub = hub.clone();
                        let acct = acct.clone();
                        async move { hub.create_order(&acct, &body, &k).await }
                    })
                );
                if stale {
                    attempt!("orders", record, self.hub.update_order(account, &id, snapshot));
                }
            }
        }
        let body = serde_json::to_string(snapshot).unwrap_or_default();
        attempt!(
            "orders",
            record,
            self.intents.set_intent(account, &format!("{SNAPSHOT}:{}", entity.as_str()), key, &body)
        );
        Ok(())
    }

    async fn delete_order(&self, conn: &Connection, id: NhanhId) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("order:{id}");
        let key = id.to_string();
        let Some(hub_id) = attempt!("orders", record, self.maps.hub_id(account, Entity::Order, &key)) else {
            return Ok(Outcome::Skipped);
        };
        let last = attempt!("orders", record, self.intents.intent(account, &format!("{SNAPSHOT}:order"), &key));
        let Some(mut snapshot) = last.and_then(|b| serde_json::from_str::<Value>(&b).ok()) else {
            return Err(Failure::permanent("orders", record, "no last snapshot of the order to mark deleted"));
        };
        snapshot["deleted"] = Value::Bool(true);
        let body: OrderSnapshot = serde_json::from_value(snapshot)
            .map_err(|e| Failure::permanent("orders", record.clone(), e.to_string()))?;
        attempt!("orders", record, self.hub.update_order(account, &hub_id, &body));
        let text = serde_json::to_string(&body).unwrap_or_default();
        attempt!("orders", record, self.intents.set_intent(account, &format!("{SNAPSHOT}:order"), &key, &text));
        Ok(Outcome::Applied("orders"))
    }

    async fn hub_event(&self, conn: &Connection, creds: &Credentials, event: &Value) -> Result<Outcome, Failure> {
        let data = &event["data"];
        let hub_id = event_record_id(data);
        match (event["event"].as_str(), hub_id) {
            (Some("customer.created"), Some(id)) => {
                let customer = HubCustomer::from_event_data(id, data);
                self.push_customers(conn, creds, std::slice::from_ref(&customer))
                    .await
                    .pop()
                    .unwrap_or(Ok(Outcome::Skipped))
            }
            (Some("order.created"), Some(id)) => self.push_order(conn, creds, &id, data).await,
            (Some(_), None) => Err(Failure::permanent("hub_events", "event:malformed", "Hub event without data.id")),
            _ => Ok(Outcome::Skipped),
        }
    }

    pub(crate) async fn push_order(
        &self,
        conn: &Connection,
        creds: &Credentials,
        hub_id: &HubId,
        data: &Value,
    ) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("order:{}", hub_id.as_str());
        if attempt!("orders", record, self.maps.nhanh_key(account, Entity::Order, hub_id)).is_some() {
            return Ok(Outcome::Skipped);
        }
        let customer = &data["customer"];
        let Some(phone) = customer["phone"].as_str().and_then(Phone::parse) else {
            return Err(Failure::permanent(
                "orders",
                record,
                "the order's customer has no valid Vietnamese phone (Nhanh requires one)",
            ));
        };
        let mut items = Vec::new();
        for (i, line) in data["items"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
            let product = line["product_id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| line["product_id"].as_u64().map(|n| n.to_string()));
            let nhanh_id = match product.as_deref().and_then(|p| HubId::parse(p).ok()) {
                Some(h) => attempt!("orders", record, self.maps.nhanh_key(account, Entity::Product, &h))
                    .and_then(|k| NhanhId::parse(&k).ok()),
                None => None,
            };
            let text = |k: &str| line[k].as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
            items.push(NewOrderLine {
                id: product.unwrap_or_else(|| format!("{}-{}", hub_id.as_str(), i + 1)),
                nhanh_id,
                name: text("name").or_else(|| text("code")).unwrap_or_else(|| "Sản phẩm".into()),
                code: text("code"),
                price: line["price"].as_i64().or_else(|| line["price"].as_f64().map(|f| f.round() as i64)).unwrap_or(0),
                quantity: line["quantity"].as_f64().unwrap_or(1.0),
            });
        }
        let text = |v: &Value| v.as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
        let order = NewOrder {
            id: hub_id.as_str().to_owned(),
            customer_name: text(&customer["name"]).unwrap_or_else(|| phone.as_str().to_owned()),
            customer_mobile: phone.as_str().to_owned(),
            customer_email: None,
            customer_address: text(&customer["address"]),
            description: text(&data["note"]),
            items,
        };
        // The intent first: an echo, or a retry Nhanh refuses as a repeated id, finds it.
        let previous = attempt!("orders", record, self.intents.intent(account, PUSH_ORDER, hub_id.as_str()));
        attempt!("orders", record, self.intents.put_intent(account, PUSH_ORDER, hub_id.as_str(), "pushed"));
        let nhanh_id = match self.nhanh.add_order(creds, &order).await {
            Ok(added) => match added.nhanh_id {
                Some(id) => Some(id),
                None => self.find_pushed_order(creds, hub_id, &phone, &record).await?,
            },
            // Nhanh has the id already (a retry after a lost answer, or a redelivery): find it.
            Err(NhanhError::Duplicate(message)) | Err(NhanhError::Rejected { message, .. })
                if previous.is_some() || nhanh::is_duplicate_message(&message) =>
            {
                let found = self.find_pushed_order(creds, hub_id, &phone, &record).await?;
                if found.is_none() {
                    return Err(Failure::permanent("orders", record, format!("Nhanh refused the order: {message}")));
                }
                found
            }
            Err(e) => return Err(classify("orders", &record, e.into())),
        };
        if let Some(nhanh_id) = nhanh_id {
            attempt!("orders", record, self.maps.link(account, Entity::Order, &nhanh_id.to_string(), hub_id));
        }
        Ok(Outcome::Applied("orders"))
    }

    /// Finds the Nhanh order carrying our id (v2 `shopOrderId`, v3 `channel.appOrderId`) among
    /// the customer's orders (at most 20 pages).
    async fn find_pushed_order(
        &self,
        creds: &Credentials,
        hub_id: &HubId,
        phone: &Phone,
        record: &str,
    ) -> Result<Option<NhanhId>, Failure> {
        let mut after = None;
        for _ in 0..20 {
            let q = OrderQuery { after, per_page: 100, filter: OrderFilter::CustomerMobile(phone.as_str().to_owned()) };
            let found = attempt!("orders", record, self.nhanh.orders(creds, &q));
            if let Some(o) = found.items.iter().find(|o| o.shop_order_id.as_deref() == Some(hub_id.as_str())) {
                return Ok(Some(o.id));
            }
            match found.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nhanh::{OrderCustomer, OrderLine};
    use crate::store::StatsStore;
    use crate::testing::processor_fixture;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    fn product(id: u64, name: &str, price: i64) -> Product {
        Product {
            id: NhanhId::new(id).unwrap(),
            parent_id: None,
            category_id: None,
            code: Some(format!("SP{id}")),
            barcode: None,
            name: name.into(),
            price: Some(price),
            status: Some(crate::nhanh::ProductStatus::Active),
            image: None,
            created_at: None,
        }
    }

    fn order(id: u64, status: &str, mobile: &str, created: OffsetDateTime) -> Order {
        Order {
            id: NhanhId::new(id).unwrap(),
            shop_order_id: None,
            status: crate::nhanh::OrderStatus::from_name(status),
            sale_channel: Some(1),
            customer: OrderCustomer {
                name: Some("Lan".into()),
                mobile: Some(mobile.into()),
                email: None,
                address: Some("Hà Nội".into()),
            },
            items: vec![OrderLine {
                product_id: NhanhId::new(5),
                code: Some("SP5".into()),
                name: Some("Áo".into()),
                quantity: 2.0,
                price: 100_000,
                discount: 0,
            }],
            money_discount: 0,
            money_used_points: 0,
            customer_ship_fee: 20_000,
            description: None,
            created_at: Some(created),
            updated_at: None,
        }
    }

    fn hook(account: &AccountId, now: OffsetDateTime, event: &str, data: Value) -> BatchRecord {
        let item = WorkItem::NhanhWebhook {
            account_id: account.clone(),
            api_version: ApiVersion::V2,
            received_at: now,
            event: json!({"event": event, "businessId": 10, "data": data}),
            record_id: None,
        };
        BatchRecord {
            message_id: format!("m-{event}-{data}"),
            group_id: "g".into(),
            body: serde_json::to_string(&item).unwrap(),
        }
    }

    #[tokio::test]
    async fn product_add_update_delete_end_as_one_inactive_record() {
        let f = processor_fixture().await;
        f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 100_000));
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
            .await
            .is_empty());
        f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo thun", 120_000));
        // Duplicate and re-ordered deliveries: both re-read the current product.
        let batch = [
            hook(&f.account, f.now, "productUpdate", json!({"productId": 5})),
            hook(&f.account, f.now, "productAdd", json!({"productId": 5})),
        ];
        assert!(f.processor.process_batch(&batch).await.is_empty());
        let products = f.hub.all("products");
        assert_eq!(products.len(), 1);
        assert_eq!((products[0]["name"].as_str(), products[0]["price"].as_i64()), (Some("Áo thun"), Some(120_000)));
        f.nhanh.products.lock().unwrap().remove(&5);
        assert!(f.processor.process_batch(&[hook(&f.account, f.now, "productDelete", json!([5]))]).await.is_empty());
        assert_eq!(f.hub.all("products")[0]["status"], "inactive");
        assert_eq!(f.store.stats(&f.account).await.unwrap().streams["products"].applied, 4);
    }

    #[tokio::test]
    async fn a_lost_create_answer_never_creates_twice() {
        let f = processor_fixture().await;
        f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 100_000));
        f.hub.lose_answers.store(1, Ordering::SeqCst);
        let first = f.processor.process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))]).await;
        assert_eq!(first.len(), 1, "retryable");
        f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo mới", 90_000));
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
            .await
            .is_empty());
        let products = f.hub.all("products");
        assert_eq!(products.len(), 1, "same Idempotency-Key and body → same record");
        assert_eq!(products[0]["name"], "Áo mới", "then brought to the final state");
    }

    #[tokio::test]
    async fn orders_resolve_one_customer_across_phone_formats() {
        let f = processor_fixture().await;
        let later = f.now + time::Duration::minutes(1);
        for (i, phone) in
            ["+84 398 765 432", "84398765432", "0398765432", "398765432", "01698765432"].iter().enumerate()
        {
            f.nhanh.orders.lock().unwrap().insert(100 + i as u64, order(100 + i as u64, "New", phone, later));
            let failed =
                f.processor.process_batch(&[hook(&f.account, f.now, "orderAdd", json!({"orderId": 100 + i}))]).await;
            assert!(failed.is_empty());
        }
        let customers = f.hub.all("customers");
        assert_eq!(customers.len(), 1, "{customers:?}");
        assert_eq!(customers[0]["phone"], "0398765432");
        let orders = f.hub.all("orders");
        assert_eq!(orders.len(), 5);
        assert!(orders.iter().all(|o| o["customer_id"] == customers[0]["id"]));
        assert_eq!(orders[0]["total"], 220_000);
    }

    #[tokio::test]
    async fn orders_before_connecting_are_dropped_and_missing_ones_fail_permanently() {
        let f = processor_fixture().await;
        f.nhanh.orders.lock().unwrap().insert(7, order(7, "New", "0912345678", f.now - time::Duration::days(1)));
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "orderUpdate", json!({"orderId": 7}))])
            .await
            .is_empty());
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "orderAdd", json!({"orderId": 8}))])
            .await
            .is_empty());
        assert!(f.hub.all("orders").is_empty());
        let stats = f.store.stats(&f.account).await.unwrap();
        assert_eq!((stats.streams["orders"].dropped, stats.streams["orders"].failed), (1, 1));
        let log = crate::store::FailureLog::recent_failures(f.store.as_ref(), &f.account, 10).await.unwrap();
        assert!(log[0].reason.contains("no longer"));
    }

    #[tokio::test]
    async fn hub_order_pushed_then_echoed_updates_the_same_hub_order() {
        let f = processor_fixture().await;
        let created = WorkItem::HubEvent {
            account_id: f.account.clone(),
            received_at: f.now,
            event: json!({"event": "order.created", "account_id": "acct", "data": {"id": "h-1", "customer": {"name": "Lan", "phone": "0912345678", "address": "HN"},
                "items": [{"product_id": null, "code": "X", "name": "Quà", "quantity": 1, "price": 50000, "discount": 0}], "total": 50000}}),
        };
        // The Hub order exists in the Hub already (the Hub created it).
        f.hub
            .records
            .lock()
            .unwrap()
            .entry("orders")
            .or_default()
            .insert("h-1".into(), json!({"id": "h-1", "origin": "hub"}));
        let rec = BatchRecord {
            message_id: "m1".into(),
            group_id: "g".into(),
            body: serde_json::to_string(&created).unwrap(),
        };
        assert!(f.processor.process_batch(std::slice::from_ref(&rec)).await.is_empty());
        assert!(f.processor.process_batch(std::slice::from_ref(&rec)).await.is_empty(), "a duplicate event is skipped");
        let nhanh_orders: Vec<Order> = f.nhanh.orders.lock().unwrap().values().cloned().collect();
        assert_eq!(nhanh_orders.len(), 1);
        let echo_id = nhanh_orders[0].id.get();
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "orderAdd", json!({"orderId": echo_id}))])
            .await
            .is_empty());
        let orders = f.hub.all("orders");
        assert_eq!(orders.len(), 1, "the echo updated, not duplicated");
        assert_eq!(orders[0]["code"], echo_id.to_string());
    }

    #[tokio::test]
    async fn a_failed_record_holds_back_the_rest_of_its_group_only() {
        let f = processor_fixture().await;
        f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 1));
        f.nhanh.products.lock().unwrap().insert(6, product(6, "Mũ", 1));
        f.hub.lose_answers.store(1, Ordering::SeqCst);
        let mut a1 = hook(&f.account, f.now, "productAdd", json!({"productId": 5}));
        a1.group_id = "acct:product:5".into();
        let mut a2 = hook(&f.account, f.now, "productUpdate", json!({"productId": 5}));
        a2.group_id = "acct:product:5".into();
        let mut b = hook(&f.account, f.now, "productAdd", json!({"productId": 6}));
        b.group_id = "acct:product:6".into();
        let failed = f.processor.process_batch(&[a1.clone(), b, a2.clone()]).await;
        let ids: Vec<&str> = failed.iter().map(|r| r.message_id.as_str()).collect();
        // Which of the two groups hit the lost answer depends on scheduling; exactly one group failed whole.
        assert!(ids == [a1.message_id.as_str(), a2.message_id.as_str()] || ids.len() == 1, "{ids:?}");
    }

    #[tokio::test]
    async fn hub_customers_are_pushed_unless_they_came_from_nhanh() {
        let f = processor_fixture().await;
        let item = |origin: &str, id: &str, phone: &str| {
            BatchRecord {
            message_id: id.into(), group_id: "g".into(),
            body: serde_json::to_string(&WorkItem::HubEvent { account_id: f.account.clone(), received_at: f.now,
                event: json!({"event": "customer.created", "data": {"id": id, "name": "Lan", "phone": phone, "origin": origin}}) }).unwrap(),
        }
        };
        assert!(f
            .processor
            .process_batch(&[
                item("hub", "c1", "+84912345678"),
                item("nhanh", "c2", "0987654321"),
                item("hub", "c3", "12")
            ])
            .await
            .is_empty());
        let pushed = f.nhanh.customers.lock().unwrap().clone();
        assert_eq!(pushed.keys().collect::<Vec<_>>(), vec!["0912345678"]);
        assert_eq!(f.store.stats(&f.account).await.unwrap().streams["customers"].failed, 1, "invalid phone recorded");
    }

    #[tokio::test]
    async fn the_category_tree_becomes_groups_parents_first_and_products_link_to_them() {
        let f = processor_fixture().await;
        let leaf = Category {
            id: NhanhId::new(2).unwrap(),
            parent_id: NhanhId::new(1),
            code: Some("AT".into()),
            name: "Áo thun".into(),
            children: vec![],
        };
        let root = Category {
            id: NhanhId::new(1).unwrap(),
            parent_id: None,
            code: Some("A".into()),
            name: "Áo".into(),
            children: vec![leaf],
        };
        let item = WorkItem::ProductGroups { account_id: f.account.clone(), tree: vec![root] };
        let rec = BatchRecord {
            message_id: "g1".into(),
            group_id: "acct:groups".into(),
            body: serde_json::to_string(&item).unwrap(),
        };
        assert!(f.processor.process_batch(std::slice::from_ref(&rec)).await.is_empty());
        assert!(
            f.processor.process_batch(std::slice::from_ref(&rec)).await.is_empty(),
            "again: updates, no duplicates"
        );
        let groups = f.hub.all("product_groups");
        assert_eq!(groups.len(), 2);
        let root_id = groups.iter().find(|g| g["name"] == "Áo").unwrap()["id"].clone();
        let leaf_group = groups.iter().find(|g| g["name"] == "Áo thun").unwrap();
        assert_eq!(leaf_group["parent_id"], root_id);
        let mut p = product(5, "Áo polo", 1);
        p.category_id = NhanhId::new(2);
        f.nhanh.products.lock().unwrap().insert(5, p);
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
            .await
            .is_empty());
        assert_eq!(f.hub.all("products")[0]["group_id"], leaf_group["id"]);
    }

    #[tokio::test]
    async fn events_of_a_disconnected_account_are_dropped() {
        let f = processor_fixture().await;
        let mut conn = f.store.get(&f.account).await.unwrap().unwrap();
        conn.state = ConnectionState::Disconnected;
        f.store.put(&conn).await.unwrap();
        f.nhanh.products.lock().unwrap().insert(5, product(5, "Áo", 1));
        assert!(f
            .processor
            .process_batch(&[hook(&f.account, f.now, "productAdd", json!({"productId": 5}))])
            .await
            .is_empty());
        assert!(f.hub.all("products").is_empty());
        assert_eq!(f.nhanh.calls.load(Ordering::SeqCst), 0);
    }
}
