//! Work items: what travels through the queue to the processor, from intake (webhooks, Hub
//! events), from the schedule (passes), from the connect flow (the first pass) and from the
//! processor itself (continuations, drains, probes).

use super::{AccountId, ApiVersion};
use crate::queue::QueueMessage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A Nhanh app and one business it is installed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NhanhBusiness {
    /// The app.
    pub app_id: super::AppId,
    /// The business.
    pub business_id: super::BusinessId,
}

/// One unit of work, serialised as the queue message body (`kind` tags the variant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkItem {
    /// A change Nhanh announced (a webhook), as version-neutral facts: what changed and which
    /// record. The processor re-reads the record from Nhanh, so no body travels (a bulk delete
    /// is one small message per record, far below SQS's limits).
    NhanhChange {
        /// The account it belongs to.
        account_id: AccountId,
        /// The API version of the connection that received it.
        api_version: ApiVersion,
        /// When intake accepted it.
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        /// Nhanh's event name, for the logs.
        event: String,
        /// What changed.
        change: crate::nhanh::WebhookKind,
        /// The record.
        record_id: super::NhanhId,
        /// The app and business it was received for (absent in items queued before this field
        /// existed, and in the merchant's retries): the processor then reads the connection and
        /// the business's rate-limit locks in one request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        business: Option<NhanhBusiness>,
    },
    /// Read-only: a Nhanh webhook queued before [`WorkItem::NhanhChange`] existed, carrying the
    /// raw v2 body. Such messages are still read (decoded with the v2 adapter), so nothing queued
    /// before an upgrade is lost; nothing writes this variant any more.
    NhanhWebhook {
        /// The account it belongs to.
        account_id: AccountId,
        /// The API version of the connection that received it (the processor decodes with it).
        api_version: ApiVersion,
        /// When intake accepted it.
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        /// The event body.
        event: crate::nhanh::WebhookBody,
        /// The record this message is about, when the event names several (bulk deletes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record_id: Option<super::NhanhId>,
    },
    /// An event from the Hub (`customer.created`, `order.created`, `customer.erased`), read by
    /// intake into its typed record ([`crate::hub::event`] says what travels and why).
    HubEvent {
        /// The account it belongs to.
        account_id: AccountId,
        /// When intake accepted it.
        #[serde(with = "time::serde::rfc3339")]
        received_at: OffsetDateTime,
        /// The event.
        event: crate::hub::HubEvent,
    },
    /// Re-reads the orders waiting in a business's backlog ([`crate::store::OrderBacklog`]), up to
    /// 100 per `order/list` on v3, and applies them (issue 23). Intake queues one while the
    /// backlog has no drain marked; a drain that runs out of time queues its own continuation.
    OrderDrain {
        /// The account.
        account_id: AccountId,
        /// The app and business whose backlog it drains.
        business: NhanhBusiness,
        /// When it was queued.
        #[serde(with = "time::serde::rfc3339")]
        queued_at: OffsetDateTime,
    },
    /// Probes the Hub during an outage ([`crate::store::OutageStore`]) every few seconds and,
    /// once it answers, ends the outage and queues every parked record again; queues its own
    /// successor while the Hub stays down. One message group for the fleet: one probe at a time.
    HubProbe {
        /// The account the probe calls the Hub as (the one whose call opened the outage).
        account_id: AccountId,
        /// When its first call is due: when it was queued, or for a successor, one probe interval
        /// after its predecessor's last call.
        #[serde(with = "time::serde::rfc3339")]
        queued_at: OffsetDateTime,
    },
    /// Gives a disconnected account's kept items their expiry, or takes it back after a new
    /// connect ([`crate::store::AccountDataStore`], issue 24), a page at a time; queues its own
    /// continuation past its time budget. Superseded (and dropped) once the account's state no
    /// longer matches: an expiry while the account is still disconnected by that disconnect, a
    /// keep while it is connected.
    AccountData {
        /// The account.
        account_id: AccountId,
        /// The expiry to give (`None`: take it back).
        #[serde(with = "time::serde::rfc3339::option", default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<OffsetDateTime>,
        /// The disconnect it follows (its `disconnected_at`), for an expiry.
        #[serde(with = "time::serde::rfc3339::option", default, skip_serializing_if = "Option::is_none")]
        disconnected_at: Option<OffsetDateTime>,
        /// Where the walk goes on (a sort key), for a continuation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// The scheduled pass for one account (R11); also starts a due initial sync (R10).
    ReconcileAccount {
        /// The account.
        account_id: AccountId,
        /// The schedule tick that queued it.
        #[serde(with = "time::serde::rfc3339")]
        tick: OffsetDateTime,
        /// Where an earlier invocation of this pass stopped when its time ran out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<PassResume>,
    },
    /// One page (50 products) of the initial sync (R10); it queues the page after it.
    InitialSyncPage {
        /// The account.
        account_id: AccountId,
        /// Where the page starts (`None`: the first page), as the adapter's page token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<crate::nhanh::PageToken>,
        /// The page's number in the chain, 1-based (progress and the deduplication id).
        #[serde(default)]
        seq: u32,
        /// Read-only: the v2 page number of an item queued before page tokens existed.
        #[serde(default, skip_serializing)]
        page: Option<u32>,
        /// The connected period the chain belongs to (its `connected_at`): a page of an earlier
        /// period is dropped, so an old chain cannot mark a new connection's sync done (issue
        /// 21). Absent in items queued before this field existed (then taken as current).
        #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
        period: Option<OffsetDateTime>,
    },
}

/// The message group of the Hub probe: one for the fleet.
pub const HUB_PROBE_GROUP: &str = "hub:probe";

/// The streams of a scheduled pass, in the order it reads them (each has its own cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassStream {
    /// Nhanh orders by their update time, in windows of the adapter's order window.
    NhanhOrders,
    /// Nhanh products by their update time.
    NhanhProducts,
    /// Nhanh retail bills by day (R14).
    NhanhBills,
    /// Customers created in the Hub (`origin=hub`).
    HubCustomers,
    /// Orders created in the Hub (`origin=hub`).
    HubOrders,
}

impl PassStream {
    /// Every stream, in pass order.
    pub const ALL: [Self; 5] =
        [Self::NhanhOrders, Self::NhanhProducts, Self::NhanhBills, Self::HubCustomers, Self::HubOrders];

    /// The stream's cursor name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NhanhOrders => "nhanh_orders",
            Self::NhanhProducts => "nhanh_products",
            Self::NhanhBills => "nhanh_bills",
            Self::HubCustomers => "hub_customers",
            Self::HubOrders => "hub_orders",
        }
    }
}

/// Where a scheduled pass stopped when its invocation's time ran out; the next work item of the
/// pass goes on from here with the same window, so pages do not shift under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassResume {
    /// The pass's window end, shared by all its streams.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// The stream to go on with (the ones before it are done).
    pub stream: PassStream,
    /// The start of the window being read in that stream.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// Where to go on reading the stream (`None`: its first page): a Nhanh stream's page token,
    /// or a Hub listing's page number as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<crate::nhanh::PageToken>,
    /// Read-only: the 1-based page of a continuation queued before page tokens existed.
    #[serde(default, skip_serializing)]
    pub page: Option<u32>,
    /// Pages of this stream's window read so far, across continuations (the listing's cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pages: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a work item comes from; it decides the item's deduplication id, so that what SQS
/// collapses within its 5-minute window is exactly "the same work twice".
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A webhook or Hub event body: a Hub event's redelivery is the same work; a Nhanh webhook's
    /// id also names the instant of its reception (see [`WorkItem::dedup_id`]); a body naming
    /// several records gives one id per record.
    Received(&'a [u8]),
    /// The schedule's tick: one pass per account per minute, however often the tick is retried.
    Schedule,
    /// The connect flow, at this instant: the first pass of a new connected period.
    Connected(OffsetDateTime),
    /// Queued by the connector at this instant on its own initiative (a pass for the ticks a
    /// continued pass held back, the merchant's **Thử lại** or **Đồng bộ lại ngay**): unique per
    /// kind and record.
    FollowUp(OffsetDateTime),
    /// Made from the item's own content alone (a pass continuation), or, for an initial sync
    /// page, its page within the connected period that began at this instant.
    Content(Option<OffsetDateTime>),
}

impl WorkItem {
    /// The account the item belongs to.
    pub fn account_id(&self) -> &AccountId {
        match self {
            Self::NhanhChange { account_id, .. }
            | Self::NhanhWebhook { account_id, .. }
            | Self::HubEvent { account_id, .. }
            | Self::OrderDrain { account_id, .. }
            | Self::HubProbe { account_id, .. }
            | Self::AccountData { account_id, .. }
            | Self::ReconcileAccount { account_id, .. }
            | Self::InitialSyncPage { account_id, .. } => account_id,
        }
    }

    /// The item's kind, as its `kind` tag (for the logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NhanhChange { .. } => "nhanh_change",
            Self::NhanhWebhook { .. } => "nhanh_webhook",
            Self::HubEvent { .. } => "hub_event",
            Self::OrderDrain { .. } => "order_drain",
            Self::HubProbe { .. } => "hub_probe",
            Self::AccountData { .. } => "account_data",
            Self::ReconcileAccount { .. } => "reconcile_account",
            Self::InitialSyncPage { .. } => "initial_sync_page",
        }
    }

    /// The FIFO message group: the changes of one record stay in order
    /// (`{account}:{entity}:{id}`); an account's passes and its initial sync each form one group.
    pub fn group_id(&self) -> String {
        let account = self.account_id().as_str();
        match self {
            Self::NhanhChange { change, record_id, .. } => {
                format!("{account}:{}:{record_id}", change.entity_and_stream().0)
            }
            Self::NhanhWebhook { record_id, event, .. } => {
                let id = record_id.map_or_else(|| event.data_text(), |r| r.to_string());
                format!("{account}:legacy:{id}")
            }
            Self::HubEvent { event, .. } => {
                // A customer's events (created, erased) share its group, so they apply in order.
                let entity = if event.is_customer() { "hub_customer" } else { "hub_order" };
                format!("{account}:{entity}:{}", event.id().as_str())
            }
            // One group per account: drains run one after another, so two orders of one new
            // customer never race to create it from two drains.
            Self::OrderDrain { .. } => format!("{account}:order_drain"),
            Self::HubProbe { .. } => HUB_PROBE_GROUP.to_owned(),
            // One group per account: a keep queued by a reconnect runs after the expiry before it.
            Self::AccountData { .. } => format!("{account}:data"),
            Self::ReconcileAccount { .. } => format!("{account}:reconcile"),
            Self::InitialSyncPage { .. } => format!("{account}:initial_sync"),
        }
    }

    /// The deduplication id of this item from `origin` (at most 128 characters, as SQS allows).
    pub fn dedup_id(&self, origin: Origin<'_>) -> String {
        let account = self.account_id().as_str();
        match (origin, self) {
            // A Nhanh webhook says *that* a record changed, not its state: two changes of one order
            // can come as byte-identical bodies (v3's `{"info": {"id", "status"}}` repeats for
            // every edit that keeps the status [?]), and deduplication by body alone made SQS drop
            // the later change within its 5-minute window (issue 21). The instant intake received
            // it is part of the id: only a repeated send of one reception collapses; a redelivery
            // by Nhanh costs one more re-read, which ends in the same state.
            (Origin::Received(body), Self::NhanhChange { record_id, received_at, .. }) => sha256_hex(&[
                body,
                b"#",
                record_id.to_string().as_bytes(),
                b"@",
                received_at.unix_timestamp_nanos().to_string().as_bytes(),
            ]),
            (Origin::Received(body), _) => sha256_hex(&[body]),
            (Origin::Schedule, Self::ReconcileAccount { tick, .. }) => {
                format!("{account}:reconcile:{}", tick.unix_timestamp() / 60)
            }
            (Origin::Connected(at), _) => format!("{account}:connected:{}", at.unix_timestamp()),
            (Origin::FollowUp(at), Self::NhanhChange { record_id, .. }) => {
                format!("{account}:follow-up:{}:{record_id}:{}", self.kind(), at.unix_timestamp_nanos())
            }
            (Origin::FollowUp(at), _) => format!("{account}:follow-up:{}:{}", self.kind(), at.unix_timestamp_nanos()),
            (_, Self::ReconcileAccount { resume: Some(resume), .. }) => {
                // The page token is hashed: it may be long.
                let position = sha256_hex(&[resume.after.as_ref().map_or("", |a| a.as_str()).as_bytes()]);
                format!(
                    "{account}:resume:{}:{}:{}:{}",
                    resume.until.unix_timestamp(),
                    resume.stream.as_str(),
                    resume.from.unix_timestamp(),
                    &position[..16]
                )
            }
            (Origin::Content(period), Self::InitialSyncPage { seq, .. }) => {
                format!("{account}:initial_sync:{}:{seq}", period.map_or(0, OffsetDateTime::unix_timestamp))
            }
            // Nothing else is queued from its content: the whole body identifies it.
            (_, item) => sha256_hex(&[serde_json::to_string(item).unwrap_or_default().as_bytes()]),
        }
    }

    /// The queue message of this item: its group, its deduplication id from `origin`, its body.
    pub fn to_message(&self, origin: Origin<'_>) -> Result<QueueMessage, serde_json::Error> {
        Ok(QueueMessage {
            group_id: self.group_id(),
            dedup_id: self.dedup_id(origin),
            body: serde_json::to_string(self)?,
        })
    }
}

/// Lower-case hex SHA-256 of the concatenated parts.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    crate::secrets::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_queued_in_the_old_forms_are_still_read() {
        let old_page = r#"{"kind":"initial_sync_page","account_id":"a1","page":3}"#;
        match serde_json::from_str::<WorkItem>(old_page).unwrap() {
            WorkItem::InitialSyncPage { after, seq, page, .. } => assert_eq!((after, seq, page), (None, 0, Some(3))),
            other => panic!("{other:?}"),
        }
        let old_resume = r#"{"kind":"reconcile_account","account_id":"a1","tick":"2026-12-01T00:00:00Z",
            "resume":{"until":"2026-12-01T00:00:00Z","stream":"nhanh_orders","from":"2026-11-30T00:00:00Z","page":2}}"#;
        match serde_json::from_str::<WorkItem>(old_resume).unwrap() {
            WorkItem::ReconcileAccount { resume: Some(r), .. } => assert_eq!((r.after, r.page), (None, Some(2))),
            other => panic!("{other:?}"),
        }
        let old_hook = r#"{"kind":"nhanh_webhook","account_id":"a1","api_version":"2.0","received_at":"2026-12-01T00:00:00Z","event":{"event":"orderAdd","businessId":1,"data":{"orderId":5}}}"#;
        assert!(matches!(serde_json::from_str::<WorkItem>(old_hook).unwrap(), WorkItem::NhanhWebhook { .. }));
        let legacy_field_not_written = WorkItem::InitialSyncPage {
            account_id: AccountId::parse("a1").unwrap(),
            after: None,
            seq: 1,
            page: Some(4),
            period: None,
        };
        assert!(!serde_json::to_string(&legacy_field_not_written).unwrap().contains("\"page\""));
    }

    /// The queue's wire format, one golden document per kind: a change here breaks messages in
    /// flight during a deploy, so it must be deliberate (and read back by the old forms above).
    #[test]
    fn every_work_item_has_its_golden_json_group_and_dedup_id() {
        use crate::domain::{NhanhId, PassStream};
        use crate::nhanh::{PageToken, WebhookKind};
        let account = AccountId::parse("a1").unwrap();
        let at = OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap();
        let body = br#"{"event":"orderUpdate"}"#;
        let cases: Vec<(WorkItem, Origin<'_>, &str, &str, &str)> = vec![
            (
                WorkItem::NhanhChange {
                    account_id: account.clone(),
                    api_version: ApiVersion::V3,
                    received_at: at,
                    event: "orderUpdate".into(),
                    change: WebhookKind::OrderChanged,
                    record_id: NhanhId::new(77).unwrap(),
                    business: None,
                },
                Origin::Received(body),
                r#"{"kind":"nhanh_change","account_id":"a1","api_version":"3.0","received_at":"2026-11-30T00:53:20Z","event":"orderUpdate","change":"order_changed","record_id":77}"#,
                "a1:order:77",
                "",
            ),
            (
                WorkItem::NhanhChange {
                    account_id: account.clone(),
                    api_version: ApiVersion::V3,
                    received_at: at,
                    event: "orderUpdate".into(),
                    change: WebhookKind::OrderChanged,
                    record_id: NhanhId::new(78).unwrap(),
                    business: Some(NhanhBusiness {
                        app_id: crate::domain::AppId::new(5).unwrap(),
                        business_id: crate::domain::BusinessId::new(9).unwrap(),
                    }),
                },
                Origin::Received(body),
                r#"{"kind":"nhanh_change","account_id":"a1","api_version":"3.0","received_at":"2026-11-30T00:53:20Z","event":"orderUpdate","change":"order_changed","record_id":78,"business":{"app_id":5,"business_id":9}}"#,
                "a1:order:78",
                "",
            ),
            (
                WorkItem::HubEvent {
                    account_id: account.clone(),
                    received_at: at,
                    event: crate::hub::HubEvent {
                        occurred_at: at,
                        record: crate::hub::HubEventRecord::CustomerErased {
                            id: crate::domain::HubId::parse("c9").unwrap(),
                            phone: None,
                        },
                    },
                },
                Origin::Received(body),
                r#"{"kind":"hub_event","account_id":"a1","received_at":"2026-11-30T00:53:20Z","event":{"event":"customer.erased","occurred_at":"2026-11-30T00:53:20Z","data":{"id":"c9"}}}"#,
                "a1:hub_customer:c9",
                "",
            ),
            (
                WorkItem::ReconcileAccount { account_id: account.clone(), tick: at, resume: None },
                Origin::Schedule,
                r#"{"kind":"reconcile_account","account_id":"a1","tick":"2026-11-30T00:53:20Z"}"#,
                "a1:reconcile",
                "a1:reconcile:29933333",
            ),
            (
                WorkItem::ReconcileAccount {
                    account_id: account.clone(),
                    tick: at,
                    resume: Some(PassResume {
                        pages: 0,
                        until: at,
                        stream: PassStream::NhanhBills,
                        from: at - time::Duration::days(1),
                        after: Some(PageToken("p2".into())),
                        page: None,
                    }),
                },
                Origin::Content(None),
                r#"{"kind":"reconcile_account","account_id":"a1","tick":"2026-11-30T00:53:20Z","resume":{"until":"2026-11-30T00:53:20Z","stream":"nhanh_bills","from":"2026-11-29T00:53:20Z","after":"p2"}}"#,
                "a1:reconcile",
                "a1:resume:1796000000:nhanh_bills:1795913600:",
            ),
            (
                WorkItem::OrderDrain {
                    account_id: account.clone(),
                    business: NhanhBusiness {
                        app_id: crate::domain::AppId::new(5).unwrap(),
                        business_id: crate::domain::BusinessId::new(9).unwrap(),
                    },
                    queued_at: at,
                },
                Origin::FollowUp(at),
                r#"{"kind":"order_drain","account_id":"a1","business":{"app_id":5,"business_id":9},"queued_at":"2026-11-30T00:53:20Z"}"#,
                "a1:order_drain",
                "a1:follow-up:order_drain:1796000000",
            ),
            (
                WorkItem::HubProbe { account_id: account.clone(), queued_at: at },
                Origin::FollowUp(at),
                r#"{"kind":"hub_probe","account_id":"a1","queued_at":"2026-11-30T00:53:20Z"}"#,
                "hub:probe",
                "a1:follow-up:hub_probe:1796000000",
            ),
            (
                WorkItem::InitialSyncPage {
                    account_id: account.clone(),
                    after: Some(PageToken("t3".into())),
                    seq: 3,
                    page: None,
                    period: Some(at),
                },
                Origin::Content(Some(at)),
                r#"{"kind":"initial_sync_page","account_id":"a1","after":"t3","seq":3,"period":"2026-11-30T00:53:20Z"}"#,
                "a1:initial_sync",
                "a1:initial_sync:1796000000:3",
            ),
        ];
        for (item, origin, json, group, dedup_prefix) in cases {
            let message = item.to_message(origin).unwrap();
            assert_eq!(message.body, json, "{}", item.kind());
            assert_eq!(serde_json::from_str::<WorkItem>(json).unwrap(), item, "reads back");
            assert_eq!(message.group_id, group);
            if dedup_prefix.is_empty() {
                // Received: the SHA-256 of the body (and record), so a redelivery is the same message.
                assert!(message.dedup_id.len() == 64 && message.dedup_id.bytes().all(|b| b.is_ascii_hexdigit()));
            } else {
                assert!(message.dedup_id.starts_with(dedup_prefix), "{} {}", item.kind(), message.dedup_id);
            }
            assert!(message.dedup_id.len() <= 128 && message.group_id.len() <= 128);
        }
        let connected = WorkItem::ReconcileAccount { account_id: account.clone(), tick: at, resume: None };
        assert_eq!(connected.dedup_id(Origin::Connected(at)), "a1:connected:1796000000");
        assert_ne!(connected.dedup_id(Origin::FollowUp(at)), connected.dedup_id(Origin::Schedule));
        let change = |id| WorkItem::NhanhChange {
            account_id: account.clone(),
            api_version: ApiVersion::V2,
            received_at: at,
            event: "productDelete".into(),
            change: WebhookKind::ProductDeleted,
            record_id: NhanhId::new(id).unwrap(),
            business: None,
        };
        assert_ne!(
            change(1).dedup_id(Origin::Received(body)),
            change(2).dedup_id(Origin::Received(body)),
            "one body naming two records queues two messages"
        );
    }
}
