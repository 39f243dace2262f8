//! The Hub's `customer.erased` (issue 24, `loyalty-hub-api.md`): the member's name, phone, email
//! and address leave what the connector keeps for the account ([`crate::store::ErasureStore`]),
//! whether the account is connected or not; the customer in Nhanh stays (the merchant's POS is the
//! merchant's record). Their later `customer.created` events are not pushed to Nhanh; an order
//! that later arrives from Nhanh with the same phone is a new consent and syncs as usual.
//!
//! Decision: intake answers 2xx once the erasure is durably queued (SQS keeps it until it is
//! applied); the processor applies it in the customer's message group, after its earlier events.

use super::outcome::{err, Failure, Outcome};
use super::Processor;
use crate::domain::{AccountId, HubId, Phone, Stream};

impl Processor {
    /// Erases the customer `hub_id` of `account` (and what is kept under `phone`, when the event
    /// carried a valid one).
    pub(super) async fn erase_customer(
        &self,
        account: &AccountId,
        hub_id: &HubId,
        phone: Option<&Phone>,
    ) -> Result<Outcome, Failure> {
        let erased = self
            .erasure
            .erase_customer(account, hub_id, phone, self.clock.now())
            .await
            .map_err(|e| err(Stream::Customers, e))?;
        self.customers.forget(account, phone);
        tracing::info!(
            account_id = account.as_str(),
            hub_id = hub_id.as_str(),
            deleted = erased.deleted,
            redacted = erased.redacted,
            "customer erased"
        );
        Ok(Outcome::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::{HubId, WorkItem};
    use crate::store::{DeadLetterStore, Entity, ErasureStore, IdMapStore, IntentStore, StoredDeadLetter};
    use crate::testing::processor_fixture;
    use serde_json::json;

    /// The member's maps, create intent, dead letter and the person in an order snapshot go; the
    /// snapshot's other fields and another customer's stay; a tombstone is kept.
    #[tokio::test]
    async fn an_erasure_removes_the_person_everywhere_and_keeps_a_tombstone() {
        let f = processor_fixture().await;
        let (account, hub) = (&f.account, HubId::parse("c-9").unwrap());
        f.store.link(account, Entity::Customer, "P0912345678", &hub).await.unwrap();
        f.store.link(account, Entity::Customer, "P0987654321", &HubId::parse("c-1").unwrap()).await.unwrap();
        let customer = json!({"name": "Lan", "phone": "0912345678", "email": "lan@x.vn", "address": "Hà Nội"});
        f.store.set_intent(account, "create:customer", "P0912345678", &customer.to_string()).await.unwrap();
        let order =
            json!({"code": "7", "customer_id": "c-9", "customer": {"name": "Lan", "phone": "0912345678"}, "total": 5});
        f.store.set_intent(account, "snapshot:order", "7", &order.to_string()).await.unwrap();
        let other = json!({"code": "8", "customer_id": "c-1", "customer": {"name": "Hoa", "phone": "0987654321"}});
        f.store.set_intent(account, "snapshot:order", "8", &other.to_string()).await.unwrap();
        let letter = StoredDeadLetter {
            id: "m1".into(),
            group_id: "g".into(),
            kind: "hub_event".into(),
            body: json!({"event": {"data": {"id": "c-9", "phone": "0912345678"}}}).to_string(),
            reason: "r".into(),
            failure: crate::domain::FailureKind::Other,
            deliveries: 5,
            first_failed_at: f.now,
            last_failed_at: f.now,
        };
        f.store.put_dead_letter(account, &letter).await.unwrap();
        let item = WorkItem::HubEvent {
            account_id: account.clone(),
            received_at: f.now,
            event: crate::testing::hub_event(
                json!({"event": "customer.erased", "account_id": account.as_str(), "data": {"id": "c-9", "phone": "+84912345678"}}),
            ),
        };
        f.processor.apply(&item).await.unwrap();
        assert_eq!(f.store.hub_id(account, Entity::Customer, "P0912345678").await.unwrap(), None);
        assert_eq!(f.store.nhanh_key(account, Entity::Customer, &hub).await.unwrap(), None);
        assert!(
            f.store.hub_id(account, Entity::Customer, "P0987654321").await.unwrap().is_some(),
            "another's map stays"
        );
        assert_eq!(f.store.intent(account, "create:customer", "P0912345678").await.unwrap(), None);
        let kept = crate::testing::json_of(&f.store.intent(account, "snapshot:order", "7").await.unwrap().unwrap());
        assert_eq!(
            kept,
            json!({"code": "7", "customer_id": "c-9", "customer": {"name": null, "phone": null}, "total": 5})
        );
        let untouched = f.store.intent(account, "snapshot:order", "8").await.unwrap().unwrap();
        assert_eq!(untouched, other.to_string());
        assert!(f.store.dead_letters(account, 10).await.unwrap().is_empty());
        assert!(f.store.is_erased(account, &hub).await.unwrap());
        // Again: nothing more to do, no failure.
        f.processor.apply(&item).await.unwrap();
    }
}
