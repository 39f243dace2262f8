//! Hub → Nhanh customers (R6, R8): Hub-created customers go to Nhanh's `customer/add`, which
//! upserts by mobile and takes up to 50 a call. Several pending customers of one account share a
//! call: those of one SQS batch (the first records of their message groups) and those of one
//! pass page. A customer that came from Nhanh is never pushed back.
//! Nhanh → Hub customers are resolved by phone from orders and bills (R5).

use super::outcome::{classify, BatchRecord, Failure, OfRecord, Outcome};
use super::{Processor, Ready};
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{AccountId, Connection, HubId, Phone, WorkItem};
use crate::hub::{CustomerInput, HubCustomer, HubEventRecord};
use crate::mapping;
use crate::nhanh::{Credentials, NewCustomer, MAX_CUSTOMERS_PER_UPSERT};
use crate::store::Entity;
use crate::Error;
use std::collections::HashMap;
use time::OffsetDateTime;
/// How a record of a batch was settled: `Err` means "report it failed".
pub(crate) type Settled = Result<(), super::outcome::Unapplied>;

impl Processor {
    /// Finds, creates or updates the Hub customer of a phone (R5); returns its id.
    pub(super) async fn resolve_customer(
        &self,
        account: &AccountId,
        customer: &crate::nhanh::OrderCustomer,
        phone: &Phone,
        record: &str,
    ) -> Result<HubId, Failure> {
        let wanted = mapping::customer_from_order(customer, phone);
        let current: Option<HubCustomer> =
            self.hub.find_customer_by_phone(account, phone.as_str()).await.of_record(Stream::Customers, record)?;
        if let Some(current) = current {
            if let Some(changes) = mapping::customer_changes(&current, &wanted) {
                self.hub.update_customer(account, &current.id, &changes).await.of_record(Stream::Customers, record)?;
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
                let again = self
                    .hub
                    .find_customer_by_phone(account, phone.as_str())
                    .await
                    .of_record(Stream::Customers, record)?;
                again.map(|c| c.id).ok_or_else(|| {
                    Failure::permanent(
                        FailureKind::HubConflict,
                        Stream::Customers,
                        record.to_owned(),
                        "the Hub says the phone is taken but finds no customer",
                    )
                })
            }
            Err(e) => Err(classify(Stream::Customers, record, e)),
        }
    }

    /// Pushes Hub-created customers to Nhanh, up to 50 per `customer/add`, and links the maps of
    /// each call in one batch. Returns one result per customer, in order. When Nhanh refuses a
    /// whole call for good, its customers are sent again one by one, so one bad customer does not
    /// fail the others.
    pub(super) async fn push_customers(
        &self,
        conn: &Connection,
        creds: &Credentials,
        customers: &[HubCustomer],
    ) -> Vec<Result<Outcome, Failure>> {
        let mut results: Vec<Result<Outcome, Failure>> = Vec::with_capacity(customers.len());
        let mut ready: Vec<(usize, NewCustomer)> = Vec::new();
        for (i, c) in customers.iter().enumerate() {
            if c.origin.as_deref() == Some("nhanh") {
                // It came from Nhanh: never pushed back (R8).
                results.push(Ok(Outcome::Skipped));
                continue;
            }
            match c.phone.as_deref().and_then(Phone::parse) {
                Some(phone) => {
                    ready.push((i, mapping::nhanh_customer(c, &phone)));
                    results.push(Ok(Outcome::Applied(Stream::Customers)));
                }
                None => results.push(Err(Failure::permanent(
                    FailureKind::InvalidPhone,
                    Stream::Customers,
                    record_of(&c.id),
                    "the customer has no valid Vietnamese phone (R6)",
                ))),
            }
        }
        for chunk in ready.chunks(MAX_CUSTOMERS_PER_UPSERT) {
            let failure = match self.upsert_and_link(conn, creds, customers, chunk).await {
                Ok(()) => continue,
                Err(e) => classify(Stream::Customers, "", e),
            };
            if matches!(failure, Failure::Permanent { .. }) && chunk.len() > 1 {
                for one in chunk {
                    if let Err(e) = self.upsert_and_link(conn, creds, customers, std::slice::from_ref(one)).await {
                        results[one.0] = Err(classify(Stream::Customers, &record_of(&customers[one.0].id), e));
                    }
                }
                continue;
            }
            for (i, _) in chunk {
                results[*i] = Err(match failure.clone() {
                    Failure::Permanent { stream, kind, reason, .. } => {
                        Failure::Permanent { stream, record: record_of(&customers[*i].id), kind, reason }
                    }
                    retry => retry,
                });
            }
        }
        results
    }

    pub(super) async fn upsert_and_link(
        &self,
        conn: &Connection,
        creds: &Credentials,
        customers: &[HubCustomer],
        chunk: &[(usize, NewCustomer)],
    ) -> Result<(), Error> {
        let body: Vec<NewCustomer> = chunk.iter().map(|(_, c)| c.clone()).collect();
        self.nhanh.upsert_customers(creds, &body).await?;
        let pairs: Vec<(String, HubId)> =
            chunk.iter().map(|(i, c)| (format!("P{}", c.mobile), customers[*i].id.clone())).collect();
        self.maps.link_all(&conn.account_id, Entity::Customer, &pairs).await?;
        Ok(())
    }

    /// Pushes together, per account, the Hub `customer.created` events that head their message
    /// groups in this batch (two or more of one account; one alone takes the ordinary path).
    /// Returns how each was settled, by message id.
    pub(super) async fn push_customer_heads(&self, groups: &[(&str, Vec<&BatchRecord>)]) -> HashMap<String, Settled> {
        type Head<'a> = (&'a BatchRecord, HubCustomer, OffsetDateTime);
        let mut by_account: Vec<(AccountId, Vec<Head<'_>>)> = Vec::new();
        for head in groups.iter().filter_map(|(_, list)| list.first()) {
            let Some((account, customer, received_at)) = customer_created(head) else { continue };
            match by_account.iter_mut().find(|(a, _)| *a == account) {
                Some((_, list)) => list.push((head, customer, received_at)),
                None => by_account.push((account, vec![(head, customer, received_at)])),
            }
        }
        let mut settled = HashMap::new();
        for (account, items) in by_account.into_iter().filter(|(_, items)| items.len() > 1) {
            let results: Vec<Result<Outcome, Failure>> = match self.prepare(&account, Stream::HubEvents, false).await {
                Ok(Ready::Go(conn, creds)) => {
                    let customers: Vec<HubCustomer> = items.iter().map(|(_, c, _)| c.clone()).collect();
                    let results = self.push_customers(&conn, &creds, &customers).await;
                    if results.iter().any(|r| matches!(r, Err(Failure::Retry { reauth: true, .. }))) {
                        self.mark_needs_reauth(&account).await;
                    }
                    results
                }
                Ok(Ready::Done(outcome)) => items.iter().map(|_| Ok(outcome.clone())).collect(),
                Err(failure) => items.iter().map(|_| Err(failure.clone())).collect(),
            };
            tracing::info!(account_id = account.as_str(), customers = items.len(), "Hub customers pushed together");
            for ((record, _, received_at), result) in items.iter().zip(results) {
                let span = super::record_span(record);
                span.record("account_id", account.as_str());
                span.record("kind", "hub_event");
                let event = Some((Stream::Customers, *received_at));
                let done = tracing::Instrument::instrument(self.settle(&account, event, result), span).await;
                settled.insert(record.message_id.clone(), done);
            }
        }
        settled
    }
}

fn record_of(id: &HubId) -> String {
    format!("customer:{}", id.as_str())
}

/// The account, customer and reception time of a record holding a Hub `customer.created` event.
fn customer_created(record: &BatchRecord) -> Option<(AccountId, HubCustomer, OffsetDateTime)> {
    // Most heads are something else: skip decoding those (the ordinary path decodes them).
    if !record.body.contains("customer.created") {
        return None;
    }
    let WorkItem::HubEvent { account_id, event, received_at } = serde_json::from_str(&record.body).ok()? else {
        return None;
    };
    match event.record {
        HubEventRecord::CustomerCreated(customer) => Some((account_id, customer, received_at)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FailureLog, IdMapStore};
    use crate::testing::processor_fixture;
    use serde_json::json;
    use std::sync::atomic::Ordering;

    fn created(f: &crate::testing::ProcessorFixture, id: &str, phone: &str, origin: &str) -> BatchRecord {
        let item = WorkItem::HubEvent {
            account_id: f.account.clone(),
            received_at: f.now,
            event: crate::testing::hub_event(
                json!({"event": "customer.created", "account_id": "acct", "data": {"id": id, "name": "Lan", "phone": phone, "origin": origin, "created_at": "not a time"}}),
            ),
        };
        BatchRecord {
            message_id: format!("m-{id}"),
            group_id: format!("acct:customer:{id}"),
            body: serde_json::to_string(&item).unwrap(),
        }
    }

    #[tokio::test]
    async fn hub_customers_of_one_batch_share_one_customer_add() {
        let f = processor_fixture().await;
        let batch = [
            created(&f, "c1", "+84 912 345 678", "hub"),
            created(&f, "c2", "0987654321", "hub"),
            created(&f, "c3", "12", "hub"),
            created(&f, "c4", "0911111111", "nhanh"),
            created(&f, "c5", "84398765432", "hub"),
        ];
        assert!(f.processor.process_batch(&batch).await.is_empty());
        assert_eq!(f.nhanh.calls.load(Ordering::SeqCst), 1, "one customer/add for the batch");
        let pushed: Vec<String> = f.nhanh.customers.lock().unwrap().keys().cloned().collect();
        assert_eq!(pushed, ["0398765432", "0912345678", "0987654321"]);
        let mapped = f.store.nhanh_key(&f.account, Entity::Customer, &HubId::parse("c5").unwrap()).await.unwrap();
        assert_eq!(mapped.as_deref(), Some("P0398765432"));
        let log = f.store.recent_failures(&f.account, 10).await.unwrap();
        assert_eq!((log.len(), log[0].record.as_str()), (1, "c3"), "the invalid phone is on the error log");
    }

    #[tokio::test]
    async fn one_refused_customer_does_not_fail_the_others_of_its_call() {
        let f = processor_fixture().await;
        *f.nhanh.refused_mobile.lock().unwrap() = Some("0987654321".into());
        let batch = [
            created(&f, "c1", "0912345678", "hub"),
            created(&f, "c2", "0987654321", "hub"),
            created(&f, "c3", "0398765432", "hub"),
        ];
        assert!(f.processor.process_batch(&batch).await.is_empty(), "a refusal is permanent: logged, not retried");
        assert_eq!(f.nhanh.calls.load(Ordering::SeqCst), 4, "the whole call, then one by one");
        assert_eq!(f.nhanh.customers.lock().unwrap().len(), 2);
        let log = f.store.recent_failures(&f.account, 10).await.unwrap();
        assert_eq!(log.iter().map(|l| l.record.as_str()).collect::<Vec<_>>(), ["c2"]);
    }
}
