//! The fleet view for the Hub's operators (issue 24, `GET /nhanhvn/connections`): how many
//! connections are in each state, which accounts need their admin to connect again, and, for one
//! page of accounts, whose streams lag and who has dead letters.
//!
//! Decision (the issue names no rule): a stream lags when an event arrived more than
//! [`LAG_AFTER`] ago and nothing was applied on it since. The counts walk the whole index (state
//! only, 1 000 a read) up to [`MAX_COUNTED`] connections, and say so when they stop short.

use crate::domain::{AccountId, ConnectionState};
use crate::queue::dead_letters::DeadLetters;
use crate::store::{FleetStore, StatsStore, StoreError};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// How long an event may wait unapplied before its stream lags.
pub const LAG_AFTER: time::Duration = time::Duration::minutes(10);
/// The most connections the counts walk.
pub const MAX_COUNTED: usize = 200_000;
/// The most accounts of one page.
pub const MAX_PAGE: usize = 100;
/// The most dead letters counted per account (the page shows "at least" past it).
const DEAD_LETTERS_COUNTED: usize = 50;
/// Accounts of a page read at once.
const ACCOUNTS_AT_ONCE: usize = 16;

/// A stream whose events wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaggingStream {
    /// The stream (`orders`, `products`, …).
    pub stream: String,
    /// When its last event arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub last_event_at: OffsetDateTime,
    /// When it last applied something.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_applied_at: Option<OffsetDateTime>,
}

/// One account of the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetAccount {
    /// The account.
    pub account_id: AccountId,
    /// Its connection's state.
    pub state: ConnectionState,
    /// Its streams that lag.
    pub lagging: Vec<LaggingStream>,
    /// Its dead letters (at most 50 counted).
    pub dead_letters: usize,
}

/// What `GET /nhanhvn/connections` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetView {
    /// Connections per state, over the whole fleet.
    pub counts: BTreeMap<&'static str, usize>,
    /// Whether the counts cover every connection (`false` past [`MAX_COUNTED`]).
    pub counts_complete: bool,
    /// The accounts that need their admin to connect again (at most 1 000).
    pub needs_reauth: Vec<AccountId>,
    /// The page's accounts.
    pub accounts: Vec<FleetAccount>,
    /// The cursor of the next page (`after`), if any.
    pub next: Option<String>,
}

/// Builds the fleet view: the counts and reauth list over the fleet, and the page of `limit`
/// accounts after `after` with their lagging streams and dead letters.
pub async fn fleet_view(
    fleet: &dyn FleetStore,
    stats: &dyn StatsStore,
    dead_letters: Option<&dyn DeadLetters>,
    after: Option<String>,
    limit: usize,
    now: OffsetDateTime,
) -> Result<FleetView, StoreError> {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut needs_reauth = Vec::new();
    let (mut cursor, mut counted) = (None, 0);
    let counts_complete = loop {
        let (states, next) = fleet.connection_states(cursor, 1000).await?;
        counted += states.len();
        for (account, state) in states {
            *counts.entry(state.as_str()).or_default() += 1;
            if state == ConnectionState::NeedsReauth && needs_reauth.len() < 1000 {
                needs_reauth.push(account);
            }
        }
        match next {
            Some(next) if counted < MAX_COUNTED => cursor = Some(next),
            Some(_) => break false,
            None => break true,
        }
    };
    let (page, next) = fleet.connection_states(after, limit.clamp(1, MAX_PAGE)).await?;
    let accounts: Vec<Result<FleetAccount, StoreError>> = futures::stream::iter(page)
        .map(|(account_id, state)| async move {
            let streams = stats.stats(&account_id).await?.streams;
            let lagging = streams
                .into_iter()
                .filter_map(|(stream, c)| {
                    let event = c.last_event_at?;
                    let waiting = c.last_applied_at.is_none_or(|applied| applied < event);
                    (waiting && now - event > LAG_AFTER).then_some(LaggingStream {
                        stream,
                        last_event_at: event,
                        last_applied_at: c.last_applied_at,
                    })
                })
                .collect();
            let letters = match dead_letters {
                Some(d) => d.of_account(&account_id, DEAD_LETTERS_COUNTED).await.map_or(0, |l| l.len()),
                None => 0,
            };
            Ok(FleetAccount { account_id, state, lagging, dead_letters: letters })
        })
        .buffered(ACCOUNTS_AT_ONCE)
        .collect()
        .await;
    let accounts = accounts.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(FleetView { counts, counts_complete, needs_reauth, accounts, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Counter, Stream};
    use crate::store::memory::MemoryStore;
    use crate::store::{ConnectionStore, StatsStore};

    #[tokio::test]
    async fn counts_states_lists_reauth_and_pages_accounts_with_their_lag() {
        let store = MemoryStore::default();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let states = [ConnectionState::Active, ConnectionState::NeedsReauth, ConnectionState::Disconnected];
        for i in 0..7u64 {
            let account = AccountId::parse(&format!("a{i}")).unwrap();
            let conn = crate::testing::connection(&account, 100 + i, 1000 + i, states[i as usize % 3], now);
            store.put(&conn).await.unwrap();
        }
        let lagging = AccountId::parse("a0").unwrap();
        let old = now - time::Duration::minutes(30);
        store.count(&lagging, Stream::Orders, Counter::Received, old).await.unwrap();
        let fresh = AccountId::parse("a3").unwrap();
        store.count(&fresh, Stream::Orders, Counter::Received, now).await.unwrap();
        let view = fleet_view(&store, &store, None, None, 4, now).await.unwrap();
        assert_eq!(view.counts.get("active"), Some(&3));
        assert_eq!(view.counts.get("needs_reauth"), Some(&2));
        assert_eq!(view.counts.get("disconnected"), Some(&2));
        assert!(view.counts_complete);
        let reauth: Vec<&str> = view.needs_reauth.iter().map(AccountId::as_str).collect();
        assert_eq!(reauth, vec!["a1", "a4"]);
        let page: Vec<&str> = view.accounts.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!(page, vec!["a0", "a1", "a2", "a3"]);
        assert_eq!(view.accounts[0].lagging.len(), 1, "an order received 30 minutes ago, none applied since");
        assert!(view.accounts[3].lagging.is_empty(), "an event of now does not lag yet");
        let rest = fleet_view(&store, &store, None, view.next.clone(), 4, now).await.unwrap();
        let page: Vec<&str> = rest.accounts.iter().map(|a| a.account_id.as_str()).collect();
        assert_eq!((page, rest.next), (vec!["a4", "a5", "a6"], None));
    }
}
