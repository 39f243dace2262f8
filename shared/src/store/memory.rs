//! In-memory fakes of every store port, with the same conditions as DynamoDB.

use super::*;
use std::collections::HashMap;

mod account_data;
mod dead_letters;
mod erasure;
mod fleet;
mod order_backlog;
mod outage;
mod rate_lock;
use std::sync::Mutex;

#[derive(Default)]
struct State {
    connections: HashMap<AccountId, Connection>,
    claims: HashMap<BusinessId, AccountId>,
    /// Webhook routes with their copy of the connection (as the DynamoDB route item holds it).
    routes: HashMap<(AppId, BusinessId), Connection>,
    pending: HashMap<(AccountId, AppId), PendingAttempt>,
    maps: HashMap<(AccountId, Entity, String), String>,
    cursors: HashMap<(AccountId, String), OffsetDateTime>,
    stats: HashMap<AccountId, Stats>,
    failures: HashMap<AccountId, Vec<FailureRecord>>,
    dead_letters: HashMap<(AccountId, String), StoredDeadLetter>,
    backlogs: HashMap<BacklogKey, order_backlog::BacklogState>,
    hub_outage: Option<HubOutage>,
    parked: Vec<ParkedRecord>,
    intents: HashMap<(AccountId, String, String), String>,
    /// The versions of snapshots recorded by `claim_snapshot` (a plain write drops it, as a
    /// DynamoDB put replaces the whole item).
    versions: HashMap<(AccountId, String, String), String>,
    progress: HashMap<(AccountId, String), std::collections::HashSet<u32>>,
    rate_locks: HashMap<(u64, u64, String), OffsetDateTime>,
    /// The next free call slot of each URL (as the table's `next {path}` attributes).
    next_calls: HashMap<(u64, u64, String), OffsetDateTime>,
    /// The account's expiry each kept item carries since a disconnect (by its table sort key).
    data_expiry: HashMap<(AccountId, String), OffsetDateTime>,
    /// The Hub customers erased, per account (the tombstones).
    erased: std::collections::HashSet<(AccountId, HubId)>,
}

/// All stores in one process-local map.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        f(&mut state)
    }
}

fn check_version(state: &State, conn: &Connection) -> Result<Connection, StoreError> {
    let stored = state.connections.get(&conn.account_id).map_or(0, |c| c.version);
    if stored != conn.version {
        return Err(StoreError::Conflict);
    }
    let mut next = conn.clone();
    next.version += 1;
    Ok(next)
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn get(&self, account: &AccountId) -> Result<Option<Connection>, StoreError> {
        self.with(|s| Ok(s.connections.get(account).cloned()))
    }

    async fn get_with_rate_locks(
        &self,
        account: &AccountId,
        business: crate::domain::NhanhBusiness,
        now: OffsetDateTime,
    ) -> Result<(Option<Connection>, Option<super::RateLockSnapshot>), StoreError> {
        let key = (business.app_id.get(), business.business_id.get());
        self.with(|s| {
            let locks = s
                .rate_locks
                .iter()
                .filter(|((app, biz, _), until)| (*app, *biz) == key && **until > now)
                .map(|((_, _, path), until)| (path.clone(), *until))
                .collect();
            Ok((s.connections.get(account).cloned(), Some(locks)))
        })
    }

    async fn put(&self, conn: &Connection) -> Result<Connection, StoreError> {
        self.with(|s| {
            let next = check_version(s, conn)?;
            if next.state.is_connected() {
                copy_to_route(s, &next, next.business_id);
            }
            s.connections.insert(next.account_id.clone(), next.clone());
            Ok(next)
        })
    }

    async fn put_claiming(&self, conn: &Connection, previous_app: Option<AppId>) -> Result<Connection, StoreError> {
        let business = conn.business_id.ok_or_else(|| StoreError::Corrupt("claim without a business".into()))?;
        self.with(|s| {
            let next = check_version(s, conn)?;
            if s.claims.get(&business).is_some_and(|owner| owner != &conn.account_id) {
                return Err(StoreError::BusinessTaken);
            }
            s.claims.insert(business, conn.account_id.clone());
            if let Some(old) = previous_app.filter(|old| *old != conn.app_id) {
                s.routes.remove(&(old, business));
            }
            // The claim is this account's now: so is the route, whoever held it before.
            s.routes.insert((conn.app_id, business), next.clone());
            s.connections.insert(next.account_id.clone(), next.clone());
            Ok(next)
        })
    }

    async fn put_releasing(&self, conn: &Connection, business: BusinessId) -> Result<Connection, StoreError> {
        self.with(|s| {
            let next = check_version(s, conn)?;
            if s.claims.get(&business) == Some(&conn.account_id) {
                s.claims.remove(&business);
            }
            copy_to_route(s, &next, Some(business));
            s.connections.insert(next.account_id.clone(), next.clone());
            Ok(next)
        })
    }

    async fn route(&self, app: AppId, business: BusinessId) -> Result<Option<Connection>, StoreError> {
        self.with(|s| Ok(s.routes.get(&(app, business)).cloned()))
    }

    async fn accounts_of_app(&self, app: AppId) -> Result<Vec<AccountId>, StoreError> {
        self.with(|s| {
            let mut found: Vec<AccountId> =
                s.routes.iter().filter(|((a, _), _)| *a == app).map(|(_, c)| c.account_id.clone()).collect();
            found.sort();
            found.dedup();
            Ok(found)
        })
    }

    async fn connected_accounts(
        &self,
        _cursor: Option<String>,
    ) -> Result<(Vec<AccountId>, Option<String>), StoreError> {
        self.with(|s| {
            Ok((
                s.connections.values().filter(|c| c.state.is_connected()).map(|c| c.account_id.clone()).collect(),
                None,
            ))
        })
    }
}

/// Writes the route copy of `conn` for (its app, `business`) unless another account routes it (the
/// DynamoDB route's condition).
fn copy_to_route(s: &mut State, conn: &Connection, business: Option<BusinessId>) {
    let Some(business) = business else { return };
    let key = (conn.app_id, business);
    if s.routes.get(&key).is_none_or(|c| c.account_id == conn.account_id) {
        s.routes.insert(key, conn.clone());
    }
}

#[async_trait]
impl PendingStore for MemoryStore {
    async fn put_pending(&self, attempt: &PendingAttempt) -> Result<(), StoreError> {
        self.with(|s| {
            s.pending.insert((attempt.account_id.clone(), attempt.app_id), attempt.clone());
            Ok(())
        })
    }

    async fn get_pending(
        &self,
        account: &AccountId,
        app: AppId,
        now: OffsetDateTime,
    ) -> Result<Option<PendingAttempt>, StoreError> {
        self.with(|s| Ok(s.pending.get(&(account.clone(), app)).filter(|p| p.expires_at > now).cloned()))
    }

    async fn delete_pending(&self, account: &AccountId, app: AppId) -> Result<(), StoreError> {
        self.with(|s| {
            s.pending.remove(&(account.clone(), app));
            Ok(())
        })
    }
}

#[async_trait]
impl IdMapStore for MemoryStore {
    async fn hub_id(&self, account: &AccountId, entity: Entity, nhanh_key: &str) -> Result<Option<HubId>, StoreError> {
        self.with(|s| {
            Ok(s.maps.get(&(account.clone(), entity, format!("N#{nhanh_key}"))).and_then(|h| HubId::parse(h).ok()))
        })
    }

    async fn nhanh_key(&self, account: &AccountId, entity: Entity, hub: &HubId) -> Result<Option<String>, StoreError> {
        self.with(|s| Ok(s.maps.get(&(account.clone(), entity, format!("H#{}", hub.as_str()))).cloned()))
    }

    async fn link(&self, account: &AccountId, entity: Entity, nhanh_key: &str, hub: &HubId) -> Result<(), StoreError> {
        self.with(|s| {
            s.maps.insert((account.clone(), entity, format!("N#{nhanh_key}")), hub.as_str().to_owned());
            s.maps.insert((account.clone(), entity, format!("H#{}", hub.as_str())), nhanh_key.to_owned());
            Ok(())
        })
    }
}

#[async_trait]
impl CursorStore for MemoryStore {
    async fn cursor(&self, account: &AccountId, stream: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.with(|s| Ok(s.cursors.get(&(account.clone(), stream.to_owned())).copied()))
    }

    async fn set_cursor(&self, account: &AccountId, stream: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.with(|s| {
            s.cursors.insert((account.clone(), stream.to_owned()), at);
            Ok(())
        })
    }
}

#[async_trait]
impl StatsStore for MemoryStore {
    async fn add(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        amount: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let c = s.stats.entry(account.clone()).or_default().streams.entry(stream.as_str().to_owned()).or_default();
            match counter {
                Counter::Applied => {
                    c.applied += amount;
                    c.last_applied_at = Some(at);
                }
                Counter::Failed => c.failed += amount,
                Counter::Dropped => {
                    c.dropped += amount;
                    c.last_event_at = Some(at);
                }
                Counter::Ignored => {
                    c.ignored += amount;
                    c.last_event_at = Some(at);
                }
                Counter::Received => c.last_event_at = Some(at),
            }
            Ok(())
        })
    }

    async fn set_webhooks_live(&self, account: &AccountId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.with(|s| {
            let stats = s.stats.entry(account.clone()).or_default();
            stats.webhooks_live = true;
            stats.webhooks_enabled_at = Some(at);
            Ok(())
        })
    }

    async fn stats(&self, account: &AccountId) -> Result<Stats, StoreError> {
        self.with(|s| Ok(s.stats.get(account).cloned().unwrap_or_default()))
    }

    async fn advance(
        &self,
        account: &AccountId,
        stream: Stream,
        page: u32,
        count: u64,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.with(|s| {
            let pages = s.progress.entry((account.clone(), stream.as_str().to_owned())).or_default();
            let first_time = pages.insert(page);
            let c = s.stats.entry(account.clone()).or_default().streams.entry(stream.as_str().to_owned()).or_default();
            if first_time {
                c.applied += count;
                c.last_applied_at = Some(at);
            }
            Ok(c.applied)
        })
    }

    async fn reset(&self, account: &AccountId, stream: Stream) -> Result<(), StoreError> {
        self.with(|s| {
            s.stats.entry(account.clone()).or_default().streams.remove(stream.as_str());
            s.progress.remove(&(account.clone(), stream.as_str().to_owned()));
            Ok(())
        })
    }
}

#[async_trait]
impl FailureLog for MemoryStore {
    async fn record_failure(&self, account: &AccountId, failure: &FailureRecord) -> Result<(), StoreError> {
        self.with(|s| {
            s.failures.entry(account.clone()).or_default().push(failure.clone());
            Ok(())
        })
    }

    async fn recent_failures(&self, account: &AccountId, limit: usize) -> Result<Vec<FailureRecord>, StoreError> {
        self.with(|s| {
            Ok(s.failures.get(account).map(|v| v.iter().rev().take(limit).cloned().collect()).unwrap_or_default())
        })
    }
}

#[async_trait]
impl IntentStore for MemoryStore {
    async fn intent(&self, account: &AccountId, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|s| Ok(s.intents.get(&(account.clone(), scope.to_owned(), key.to_owned())).cloned()))
    }

    async fn put_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<String, StoreError> {
        self.with(|s| {
            Ok(s.intents
                .entry((account.clone(), scope.to_owned(), key.to_owned()))
                .or_insert_with(|| body.to_owned())
                .clone())
        })
    }

    async fn set_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<(), StoreError> {
        self.with(|s| {
            let at = (account.clone(), scope.to_owned(), key.to_owned());
            s.versions.remove(&at);
            s.intents.insert(at, body.to_owned());
            Ok(())
        })
    }

    async fn claim_snapshot(
        &self,
        account: &AccountId,
        scope: &str,
        key: &str,
        version: &str,
        body: &str,
    ) -> Result<VersionedSnapshot, StoreError> {
        self.with(|s| {
            let at = (account.clone(), scope.to_owned(), key.to_owned());
            let stored = s.versions.get(&at).cloned().unwrap_or_default();
            if stored.as_str() <= version {
                s.versions.insert(at.clone(), version.to_owned());
                s.intents.insert(at, body.to_owned());
                return Ok(VersionedSnapshot { version: version.to_owned(), body: body.to_owned() });
            }
            Ok(VersionedSnapshot { version: stored, body: s.intents.get(&at).cloned().unwrap_or_default() })
        })
    }

    async fn versioned_snapshot(
        &self,
        account: &AccountId,
        scope: &str,
        key: &str,
    ) -> Result<Option<VersionedSnapshot>, StoreError> {
        self.with(|s| {
            let at = (account.clone(), scope.to_owned(), key.to_owned());
            Ok(s.intents.get(&at).map(|body| VersionedSnapshot {
                version: s.versions.get(&at).cloned().unwrap_or_default(),
                body: body.clone(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionState;

    fn conn(account: &str, business: u64) -> Connection {
        let account = AccountId::parse(account).unwrap();
        crate::testing::connection(&account, 1, business, ConnectionState::Syncing, OffsetDateTime::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn r1_claim_and_versions() {
        let store = MemoryStore::default();
        let a = store.put_claiming(&conn("a", 7), None).await.unwrap();
        assert_eq!(a.version, 1);
        assert!(matches!(store.put_claiming(&conn("b", 7), None).await, Err(StoreError::BusinessTaken)));
        assert!(matches!(store.put(&conn("a", 7)).await, Err(StoreError::Conflict)), "stale version");
        let route = || store.route(AppId::new(1).unwrap(), BusinessId::new(7).unwrap());
        assert_eq!(route().await.unwrap(), Some(a.clone()), "the route holds the connection");
        let mut active = a.clone();
        active.state = ConnectionState::Active;
        let active = store.put(&active).await.unwrap();
        assert_eq!(route().await.unwrap(), Some(active.clone()), "and follows its writes");
        let mut ended = active.clone();
        ended.state = ConnectionState::Disconnected;
        let ended = store.put_releasing(&ended, BusinessId::new(7).unwrap()).await.unwrap();
        assert_eq!(route().await.unwrap().map(|c| c.state), Some(ConnectionState::Disconnected), "released too");
        let mut later = ended.clone();
        later.business_id = None;
        store.put(&later).await.unwrap();
        assert_eq!(route().await.unwrap().map(|c| c.version), Some(ended.version), "not after release");
        assert!(store.put_claiming(&conn("b", 7), None).await.is_ok(), "released business can be claimed");
    }

    #[tokio::test]
    async fn maps_link_both_ways() {
        let store = MemoryStore::default();
        let acct = AccountId::parse("a").unwrap();
        let hub = HubId::parse("h1").unwrap();
        store.link(&acct, Entity::Product, "5", &hub).await.unwrap();
        assert_eq!(store.hub_id(&acct, Entity::Product, "5").await.unwrap(), Some(hub.clone()));
        assert_eq!(store.nhanh_key(&acct, Entity::Product, &hub).await.unwrap().as_deref(), Some("5"));
    }
}
