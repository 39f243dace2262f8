//! The Hub customer of each phone as this processor instance last resolved it (R5, issue 23).
//!
//! A flash sale brings one customer's orders spread over minutes: a 3 000-order sale of 600
//! phones spent one Hub lookup per order (2 613 of its 5 823 Hub calls) while the Hub's 50
//! requests/s were the bound. An order whose customer fields are the ones last resolved for its
//! phone reuses that Hub id instead of a lookup.
//!
//! Decision (the contract is silent on caching): a Hub customer this instance found or wrote is
//! taken as current for [`CUSTOMER_MEMO_TTL`]; a change made in the Hub meanwhile (a merge, a new
//! phone) is met at the first lookup after that. An order whose customer fields differ is looked
//! up again at once, so R5's "updated if present" still holds for every change Nhanh sends.

use crate::domain::{AccountId, HubId};
use crate::nhanh::OrderCustomer;
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};

/// How long a resolved customer is reused.
pub const CUSTOMER_MEMO_TTL: Duration = Duration::seconds(60);

/// The most phones remembered at once (a few MB at most); past it, expired ones are forgotten,
/// then all.
const MAX_REMEMBERED: usize = 20_000;

/// A customer as resolved: the order's customer fields, its Hub id, and when.
#[derive(Clone)]
struct Resolved {
    seen: OrderCustomer,
    id: HubId,
    at: OffsetDateTime,
}

/// Phones resolved recently, per account (see the module's doc).
#[derive(Default)]
pub struct CustomerMemo {
    by_phone: Mutex<HashMap<(AccountId, String), Resolved>>,
}

impl CustomerMemo {
    /// The customer fields and Hub id last resolved for `phone` of `account`, if within the TTL.
    pub fn get(&self, account: &AccountId, phone: &str, now: OffsetDateTime) -> Option<(OrderCustomer, HubId)> {
        let memo = self.by_phone.lock().ok()?;
        let found = memo.get(&(account.clone(), phone.to_owned()))?;
        (now - found.at < CUSTOMER_MEMO_TTL && found.at <= now).then(|| (found.seen.clone(), found.id.clone()))
    }

    /// Forgets `phone` of `account` (an erased member), or every phone of the account.
    pub fn forget(&self, account: &AccountId, phone: Option<&crate::domain::Phone>) {
        if let Ok(mut memo) = self.by_phone.lock() {
            memo.retain(|(a, p), _| a != account || phone.is_some_and(|phone| phone.as_str() != p));
        }
    }

    /// Remembers what `phone` of `account` resolved to at `now`.
    pub fn put(&self, account: &AccountId, phone: &str, resolved: (OrderCustomer, HubId), now: OffsetDateTime) {
        let Ok(mut memo) = self.by_phone.lock() else { return };
        if memo.len() >= MAX_REMEMBERED {
            memo.retain(|_, r| now - r.at < CUSTOMER_MEMO_TTL);
            if memo.len() >= MAX_REMEMBERED {
                memo.clear();
            }
        }
        let (seen, id) = resolved;
        memo.insert((account.clone(), phone.to_owned()), Resolved { seen, id, at: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(name: &str) -> OrderCustomer {
        OrderCustomer { name: Some(name.into()), mobile: Some("0912345678".into()), email: None, address: None }
    }

    #[test]
    fn a_resolved_customer_is_reused_within_the_ttl_and_per_account_only() {
        let memo = CustomerMemo::default();
        let (a, b) = (AccountId::parse("a1").unwrap(), AccountId::parse("b1").unwrap());
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let id = HubId::parse("c-1").unwrap();
        memo.put(&a, "0912345678", (customer("Lan"), id.clone()), now);
        assert_eq!(memo.get(&a, "0912345678", now + Duration::seconds(59)).map(|r| r.1), Some(id));
        assert!(memo.get(&a, "0912345678", now + CUSTOMER_MEMO_TTL).is_none(), "expired");
        assert!(memo.get(&b, "0912345678", now).is_none(), "another account's phone");
        assert!(memo.get(&a, "0987654321", now).is_none());
        assert!(memo.get(&a, "0912345678", now - Duration::seconds(1)).is_none(), "a clock that went back");
    }

    #[test]
    fn a_full_memo_forgets_the_expired_first() {
        let memo = CustomerMemo::default();
        let a = AccountId::parse("a1").unwrap();
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let id = HubId::parse("c-1").unwrap();
        for i in 0..MAX_REMEMBERED {
            memo.put(&a, &format!("09{i:08}"), (customer("Lan"), id.clone()), start);
        }
        let later = start + CUSTOMER_MEMO_TTL;
        memo.put(&a, "0912345678", (customer("Lan"), id.clone()), later);
        assert!(memo.get(&a, "0912345678", later).is_some());
        assert_eq!(memo.by_phone.lock().unwrap().len(), 1, "the expired were forgotten");
    }
}
