//! The processor: applies work items to the other side (rules R3, R5–R9).
//!
//! Nhanh → Hub: products (always re-read with `product/detail`, so stale or re-ordered webhooks
//! end in the current state), orders (re-read together from the business's backlog, up to 100 ids
//! per `order/list` on v3; customer matched by normalised phone; full snapshot), deletions, and
//! the category tree. While the Hub is out, records are parked and a probe waits for it. Hub → Nhanh: customers
//! (`customer/add`) and orders (`order/add` with the Hub id, echoes recognised by `shopOrderId`).
//!
//! No duplicates: every Hub create carries the Idempotency-Key `{account}:{entity}:{nhanh id}`
//! and the exact body recorded (an intent) before the call, so a retry after a lost answer
//! resends the same request and gets the same record; the id map is written only after the Hub
//! answered. A push to Nhanh records its intent before `order/add`, so an echo (or a refusal of a
//! repeated id) is linked to the same Hub order.

mod account_data;
mod bill;
mod bills;
mod change;
mod create;
mod customer;
mod customer_memo;
mod deadline;
mod drain;
mod erase;
mod give_up;
mod group;
mod hub_event;
mod initial_sync;
mod listing;
mod order;
mod outage;
mod outcome;
mod pass;
mod product;
mod settle;
#[cfg(test)]
mod tests;

pub use bills::BILL_OVERLAP;
pub use deadline::{within_deadline, DEADLINE_MARGIN};
pub use drain::CUSTOMERS_AT_ONCE;
pub use give_up::{Disposition, FailedDelivery, RetryRule, MAX_RETRY_DELAY};
pub use initial_sync::PAGE_SIZE;
pub use outage::{queue_probe, OutageGuard, DEFAULT_PROBE_EVERY, DEFAULT_STREAK, OPEN_AFTER};
pub use outcome::{BatchRecord, Failure, Outcome, RecordFailure, Unapplied, HELD_BACK};
pub use pass::{DEFAULT_PASS_BUDGET, OVERLAP};

use crate::clock::Clock;
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{AccountId, Connection, ConnectionState, NhanhBusiness, WorkItem};
use crate::hub::{HubApi, HubEvent, HubEventRecord};
use crate::nhanh::{self, Credentials, NhanhApi};
use crate::queue::WorkQueue;
use crate::secrets::{seal_context, SealedField};
use crate::secrets::{OpenCache, SecretBox};
use crate::store::{ConnectionStore, CursorStore, FailureLog, IdMapStore, IntentStore, StatsStore};
use crate::Error;
pub use customer_memo::{CustomerMemo, CUSTOMER_MEMO_TTL};
use outcome::classify;
use std::sync::Arc;

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
    /// Pass cursors.
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
    /// When a record that was not applied is retried, and when it is given up.
    pub retry: RetryRule,
    /// Where records given up are kept, per account.
    pub dead_letters: Arc<dyn crate::store::DeadLetterStore>,
    /// The order changes waiting to be re-read, per business.
    pub backlog: Arc<dyn crate::store::OrderBacklog>,
    /// The Hub outage: records parked while it lasts, and the probe.
    pub outage: OutageGuard,
    /// The Hub customer of each phone as this instance last resolved it.
    pub customers: CustomerMemo,
    /// The expiry of disconnected accounts' kept data.
    pub account_data: Arc<dyn crate::store::AccountDataStore>,
    /// Members' erasures (the Hub's `customer.erased`).
    pub erasure: Arc<dyn crate::store::ErasureStore>,
}

/// The span of one queue record: every log line while it is applied names its message, group,
/// account and kind (the last two are filled once the body is decoded).
pub(super) fn record_span(record: &BatchRecord) -> tracing::Span {
    tracing::info_span!(
        "record",
        message_id = record.message_id.as_str(),
        group_id = record.group_id.as_str(),
        account_id = tracing::field::Empty,
        kind = tracing::field::Empty
    )
}

/// Scopes of intents.
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
        let started = self.clock.now();
        let settled = self.push_customer_heads(&groups).await;
        let settled = &settled;
        let runs = groups.into_iter().map(|(_, list)| async move {
            use tracing::Instrument;
            let mut failed = Vec::new();
            let mut broken = false;
            for r in list {
                if broken {
                    failed.push(RecordFailure {
                        message_id: r.message_id.clone(),
                        not_before: None,
                        reason: outcome::HELD_BACK.to_owned(),
                        kind: FailureKind::Other,
                    });
                    continue;
                }
                let span = record_span(r);
                let work = async {
                    match settled.get(&r.message_id) {
                        Some(done) => done.clone(),
                        None => self.process_record(r).instrument(span).await,
                    }
                };
                // Every record keeps to the invocation's deadline: one cut short (its writes are
                // safe to repeat) is retried, instead of Lambda ending the whole batch, which
                // would redeliver every record of it without a reason.
                let result = match self.record_room(started) {
                    None => work.await,
                    Some(room) if room.is_zero() => Err(Unapplied {
                        not_before: None,
                        reason: deadline::DEADLINE_REACHED.to_owned(),
                        kind: FailureKind::Other,
                    }),
                    Some(room) => tokio::time::timeout(room, work).await.unwrap_or_else(|_| {
                        tracing::warn!(
                            message_id = r.message_id.as_str(),
                            "record cut short by the invocation's deadline"
                        );
                        Err(Unapplied {
                            not_before: None,
                            reason: deadline::DEADLINE_REACHED.to_owned(),
                            kind: FailureKind::Other,
                        })
                    }),
                };
                if let Err(Unapplied { not_before, reason, kind }) = result {
                    broken = true;
                    failed.push(RecordFailure { message_id: r.message_id.clone(), not_before, reason, kind });
                }
            }
            failed
        });
        futures::future::join_all(runs).await.into_iter().flatten().collect()
    }

    /// Applies one record; `Err` means "report it failed".
    pub async fn process_record(&self, record: &BatchRecord) -> Result<(), Unapplied> {
        let item: WorkItem = match serde_json::from_str(&record.body) {
            Ok(item) => item,
            Err(e) => {
                // A kind this release does not know (queued by a newer one before a rollback) or
                // a broken body: never acknowledged, so it is kept (R9). It fails every delivery
                // and SQS moves it to the dead-letter queue, where `make replay` brings it back
                // once a release that reads it runs; the reason is in this log line.
                let reason = format!("undecodable work item (kept for the dead-letter queue): {e}");
                tracing::error!(error = %e, reason = reason.as_str(), "undecodable work item not applied");
                return Err(Unapplied { not_before: None, reason, kind: FailureKind::Other });
            }
        };
        let account = item.account_id().clone();
        let span = tracing::Span::current();
        span.record("account_id", account.as_str());
        span.record("kind", item.kind());
        if let Some(parked) = self.hold_for_outage(record, &item).await {
            return parked;
        }
        let result = self.apply(&item).await;
        if let Some(parked) = self.heed_hub(record, &item, &result).await {
            return parked;
        }
        self.settle(&account, settle::event_of(&item), result).await
    }

    /// Applies one work item.
    pub async fn apply(&self, item: &WorkItem) -> Result<Outcome, Failure> {
        let account = item.account_id();
        let stream = match item {
            WorkItem::NhanhChange { .. } | WorkItem::NhanhWebhook { .. } => Stream::Webhooks,
            WorkItem::OrderDrain { .. } => Stream::Orders,
            WorkItem::HubProbe { account_id, queued_at } => return self.probe_hub(account_id, *queued_at).await,
            // Erasure concerns every account that keeps data, connected or not.
            WorkItem::HubEvent {
                account_id,
                event: HubEvent { record: HubEventRecord::CustomerErased { id, phone }, .. },
                ..
            } => return self.erase_customer(account_id, id, phone.as_ref()).await,
            WorkItem::AccountData { account_id, expires_at, disconnected_at, after } => {
                return self.walk_account_data(account_id, *expires_at, *disconnected_at, after.clone()).await
            }
            WorkItem::HubEvent { .. } => Stream::HubEvents,
            WorkItem::ReconcileAccount { .. } => Stream::Reconcile,
            WorkItem::InitialSyncPage { .. } => Stream::Products,
        };
        let business = match item {
            WorkItem::NhanhChange { business, .. } => *business,
            WorkItem::OrderDrain { business, .. } => Some(*business),
            _ => None,
        };
        let (conn, creds) =
            match self.prepare_for(account, stream, matches!(item, WorkItem::ReconcileAccount { .. }), business).await?
            {
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
            WorkItem::HubEvent { event, .. } => self.hub_event(&conn, &creds, &event.record).await,
            WorkItem::OrderDrain { business, .. } => self.drain_orders(&conn, &creds, *business).await,
            WorkItem::HubProbe { .. } | WorkItem::AccountData { .. } => Ok(Outcome::Skipped),
            WorkItem::ReconcileAccount { resume, .. } => self.run_pass_measured(&conn, &creds, resume.clone()).await,
            WorkItem::InitialSyncPage { after, seq, page, period, .. } => {
                if period.is_some() && *period != conn.connected_at {
                    // A chain of an earlier connected period.
                    tracing::info!(account_id = account.as_str(), "initial sync page of an earlier connection dropped");
                    return Ok(Outcome::Dropped(stream));
                }
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
    pub(super) async fn prepare(
        &self,
        account: &AccountId,
        stream: Stream,
        skip_if_reauth: bool,
    ) -> Result<Ready, Failure> {
        self.prepare_for(account, stream, skip_if_reauth, None).await
    }

    /// [`Processor::prepare`] for work received for `business`: the connection is read with the
    /// business's rate-limit locks (one read), which prime the Nhanh gate when the connection
    /// still holds that business.
    async fn prepare_for(
        &self,
        account: &AccountId,
        stream: Stream,
        skip_if_reauth: bool,
        business: Option<NhanhBusiness>,
    ) -> Result<Ready, Failure> {
        let read_at = self.clock.now();
        let read = match business {
            Some(business) => self.connections.get_with_rate_locks(account, business, read_at).await,
            None => self.connections.get(account).await.map(|conn| (conn, None)),
        };
        let (conn, locks) = read.map_err(|e| classify(stream, "connection", e.into()))?;
        let Some(conn) = conn else {
            return Ok(Ready::Done(Outcome::Dropped(stream)));
        };
        if let Some(business) = business {
            if conn.app_id != business.app_id || conn.business_id != Some(business.business_id) {
                // Received for an app or business the connection no longer holds (an App Id
                // change, a reconnect): re-reading it with today's credentials would apply
                // another business's record, or a record Nhanh never announced for this one.
                tracing::warn!(
                    account_id = account.as_str(),
                    app_id = business.app_id.get(),
                    business_id = business.business_id.get(),
                    "work received for an app or business the connection no longer holds: dropped"
                );
                return Ok(Ready::Done(Outcome::Dropped(stream)));
            }
            if let Some(locks) = locks {
                self.nhanh.prime_rate_locks(business, locks, read_at);
            }
        }
        if !conn.state.is_connected() {
            return Ok(Ready::Done(Outcome::Dropped(stream)));
        }
        if conn.state == ConnectionState::NeedsReauth {
            if skip_if_reauth {
                return Ok(Ready::Done(Outcome::Skipped));
            }
            return Err(Failure::Retry {
                reason: "connection needs a new consent (R12); kept".into(),
                kind: FailureKind::NotAuthorized,
                not_before: None,
                reauth: false,
                hub_down: false,
            });
        }
        let creds = self.credentials(&conn).await.map_err(|e| classify(stream, "connection", e))?;
        Ok(Ready::Go(Box::new(conn), creds))
    }

    pub(super) async fn credentials(&self, conn: &Connection) -> Result<Credentials, Error> {
        let business_id = conn.business_id.ok_or_else(|| Error::Invalid("connection without a business".into()))?;
        let sealed =
            conn.access_token_sealed.as_deref().ok_or_else(|| Error::Invalid("connection without a token".into()))?;
        let access_token = self
            .tokens
            .open(self.secrets.as_ref(), sealed, &seal_context(&conn.account_id, SealedField::AccessToken))
            .await?;
        Ok(Credentials { app_id: conn.app_id, business_id, access_token, api_version: conn.api_version })
    }

    pub(super) async fn mark_needs_reauth(&self, account: &AccountId) {
        let marked = crate::retry::on_conflict(|| async {
            let Some(mut conn) = self.connections.get(account).await? else { return Ok(false) };
            if !conn.state.is_connected() || conn.state == ConnectionState::NeedsReauth {
                return Ok(false);
            }
            conn.state = ConnectionState::NeedsReauth;
            self.connections.put(&conn).await.map(|_| true)
        })
        .await;
        match marked {
            Ok(true) => {
                let about = crate::metrics::of_account(account.as_str());
                crate::metrics::count(crate::metrics::Metric::AccountsNeedingReauth, &[], &about);
                tracing::warn!(
                    account_id = account.as_str(),
                    "Nhanh rejected the access token: connection needs a new consent"
                );
            }
            Ok(false) => {}
            Err(e) => tracing::error!(account_id = account.as_str(), error = %e, "could not mark needs_reauth"),
        }
    }
}
