//! The way every Nhanh call goes out, whatever the version: one call at a time per (app,
//! business, URL), never while that URL is locked by an `ERR_429` (R9), a short lock waited out in
//! place, and locks shared across processor instances when a [`RateLockStore`] is given. With a
//! shared store, calls are also paced under Nhanh's limit (issue 23): every instance reserves its
//! call's slot, [`PACE_INTERVAL`] after the one before, so a sync or a burst meets no `ERR_429`;
//! the lock handling stays as the backstop.

use super::rate_lock::{LockKey, RateLocks};
use super::NhanhError;
use crate::clock::Clock;
use crate::metrics::Metric;
use crate::store::{RateLockSnapshot, RateLockStore};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// The least time between two calls of one (app, business, URL): Nhanh allows 150 calls per 30 s
/// (both versions); paced at 0.9 of that (135 per 30 s), which also leaves room for the clocks of
/// instances to differ a little.
pub const PACE_INTERVAL: time::Duration = time::Duration::milliseconds(30_000 / 135);

/// How many times one call meets an ERR_429 before it is handed back as [`NhanhError::RateLimited`].
const MAX_LOCKED_ATTEMPTS: usize = 3;

/// How long locks read together with the connection ([`CallGate::prime`]) stand in for the gate's
/// own read of the shared locks. Decision: 250 ms, about one record's work. A lock another
/// instance records inside that window is missed by one call, which Nhanh answers with ERR_429
/// (extending its lock by seconds) and which this gate then records and obeys; in return each
/// webhook's processing saves one DynamoDB read (issue 14, P3).
const PRIMED_FOR: time::Duration = time::Duration::milliseconds(250);

/// What a wait for a lock leaves before the invocation's deadline: the call after it, and the
/// processor's own margin for answering.
const DEADLINE_ROOM: time::Duration = time::Duration::seconds(10);

/// Rate-limit locks and per-URL serialisation, shared by the v2 and v3 adapters of a process.
pub struct CallGate {
    locks: RateLocks,
    /// One call at a time per (app, business, URL): a call never races the `ERR_429` of another,
    /// so no request leaves while that URL is locked.
    gates: Mutex<HashMap<LockKey, Arc<tokio::sync::Mutex<()>>>>,
    clock: Arc<dyn Clock>,
    /// A lock ending within this wait is waited out in place (no call is made meanwhile); a longer
    /// one is returned as [`NhanhError::RateLimited`] so the work item is retried later.
    max_lock_wait: time::Duration,
    /// Locks shared with other instances (checked before every call when set).
    shared_locks: Option<Arc<dyn RateLockStore>>,
    /// The shared locks of a business as read at an instant by someone else (the processor, with
    /// the connection), used instead of a read of its own for [`PRIMED_FOR`].
    primed: Mutex<HashMap<(u64, u64), (OffsetDateTime, RateLockSnapshot)>>,
}

impl CallGate {
    /// A gate with process-local locks, waiting out locks of up to 10 s.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            locks: RateLocks::default(),
            gates: Mutex::default(),
            clock,
            max_lock_wait: time::Duration::seconds(10),
            shared_locks: None,
            primed: Mutex::default(),
        }
    }

    /// Shares rate-limit locks with every other instance through `store`.
    pub fn with_shared_locks(mut self, store: Arc<dyn RateLockStore>) -> Self {
        self.shared_locks = Some(store);
        self
    }

    /// Sets how long a call may wait for a rate-limit lock to end (0 = never wait).
    pub fn with_max_lock_wait(mut self, wait: time::Duration) -> Self {
        self.max_lock_wait = wait;
        self
    }

    /// The clock the gate reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Takes the shared locks of (`app`, `business`) as read at `read_at` (all of them that were
    /// running then): calls to that business within [`PRIMED_FOR`] of it read no locks of their own.
    pub fn prime(&self, app: u64, business: u64, locks: RateLockSnapshot, read_at: OffsetDateTime) {
        if let Ok(mut primed) = self.primed.lock() {
            primed.retain(|_, (at, _)| read_at - *at <= PRIMED_FOR);
            primed.insert((app, business), (read_at, locks));
        }
    }

    /// The lock of `key` from fresh primed locks; `None` when there are none.
    fn primed_lock(&self, key: &LockKey, now: OffsetDateTime) -> Option<Option<OffsetDateTime>> {
        let primed = self.primed.lock().ok()?;
        let (read_at, locks) = primed.get(&(key.0, key.1))?;
        if now - *read_at > PRIMED_FOR || now < *read_at {
            return None;
        }
        Some(locks.iter().find(|(path, until)| *path == key.2 && *until > now).map(|(_, until)| *until))
    }

    /// When the URL of `key` unlocks, from this process's locks, then fresh primed locks, then
    /// the shared ones.
    async fn locked_until(&self, key: &LockKey) -> Result<Option<OffsetDateTime>, NhanhError> {
        let now = self.clock.now();
        if let Some(until) = self.locks.locked_until(key, now) {
            return Ok(Some(until));
        }
        let Some(shared) = &self.shared_locks else { return Ok(None) };
        if let Some(until) = self.primed_lock(key, now) {
            if let Some(until) = until {
                self.locks.lock(key.clone(), until);
            }
            return Ok(until);
        }
        let (app, business, path) = key;
        let until = shared
            .locked_until(*app, *business, path, now)
            .await
            .map_err(|e| NhanhError::Unavailable(format!("rate-limit locks: {e}")))?;
        if let Some(until) = until {
            self.locks.lock(key.clone(), until);
        }
        Ok(until)
    }

    /// Records a lock here and, when shared, for every instance.
    async fn record_lock(&self, key: &LockKey, until: OffsetDateTime) {
        self.locks.lock(key.clone(), until);
        if let Some(shared) = &self.shared_locks {
            let (app, business, path) = key;
            if let Err(e) = shared.lock(*app, *business, path, until).await {
                tracing::warn!(path = path.as_str(), error = %e, "rate-limit lock not shared");
            }
        }
    }

    /// Waits in place until `until` (plus `margin`), or hands the record back to be retried then
    /// ([`NhanhError::RateLimited`], a wait and not a failure) when that is further away than the
    /// gate waits, or too close to the invocation's deadline for the call after it.
    async fn wait_until(&self, path: &str, until: OffsetDateTime, margin: time::Duration) -> Result<(), NhanhError> {
        let now = self.clock.now();
        let wait = until - now;
        if wait <= time::Duration::ZERO {
            return Ok(());
        }
        let past_deadline = crate::clock::invocation_deadline().is_some_and(|d| d > now && until + DEADLINE_ROOM > d);
        if wait > self.max_lock_wait || past_deadline {
            return Err(NhanhError::RateLimited { path: path.to_owned(), unlocked_at: until });
        }
        let pause = wait + margin;
        tokio::time::sleep(std::time::Duration::from_millis(u64::try_from(pause.whole_milliseconds()).unwrap_or(0)))
            .await;
        Ok(())
    }

    /// With shared locks, reserves this call's slot and waits for it. The slot stays spent even
    /// when the record is handed back: pacing errs on the slow side.
    async fn wait_for_slot(&self, key: &LockKey) -> Result<(), NhanhError> {
        let Some(shared) = &self.shared_locks else { return Ok(()) };
        let (app, business, path) = key;
        let slot = shared
            .reserve_call(*app, *business, path, PACE_INTERVAL, self.clock.now())
            .await
            .map_err(|e| NhanhError::Unavailable(format!("call slots: {e}")))?;
        self.wait_until(path, slot, time::Duration::ZERO).await
    }

    /// Makes one call through the gate: `attempt` is called (again after a short lock, as a call
    /// refused with ERR_429 was not carried out) until it answers something other than a lock.
    pub async fn call<F, Fut>(&self, key: LockKey, attempt: F) -> Result<Value, NhanhError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Value, NhanhError>>,
    {
        let gate = match self.gates.lock() {
            Ok(mut gates) => gates.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        let _one_at_a_time = gate.lock().await;
        let path = key.2.clone();
        for _ in 0..MAX_LOCKED_ATTEMPTS {
            if let Some(unlocked_at) = self.locked_until(&key).await? {
                // Nhanh's unlockedAt has whole seconds: wait a little past it.
                self.wait_until(&path, unlocked_at, time::Duration::milliseconds(50)).await?;
            }
            self.wait_for_slot(&key).await?;
            let answer = attempt().await;
            let (app, business) = (key.0.to_string(), key.1.to_string());
            let about = [("app_id", app.as_str()), ("business_id", business.as_str())];
            crate::metrics::count(Metric::NhanhCalls, &[], &about);
            match answer {
                Err(NhanhError::RateLimited { unlocked_at, .. }) => {
                    let locked = (unlocked_at - self.clock.now()).as_seconds_f64().max(0.0);
                    crate::metrics::count(Metric::NhanhRateLimited, &[], &about);
                    crate::metrics::emit(Metric::NhanhLockedSeconds, &[locked], &[], &about);
                    let unlocked_at = unlocked_at.max(self.clock.now() + time::Duration::seconds(1));
                    self.record_lock(&key, unlocked_at).await;
                }
                other => return other,
            }
        }
        let unlocked_at = self.locks.locked_until(&key, self.clock.now()).unwrap_or_else(|| self.clock.now());
        Err(NhanhError::RateLimited { path, unlocked_at })
    }
}

/// A transport failure in words safe for the logs: its kind and whole chain of causes, without
/// the URL (and so without anything a URL could carry).
pub fn transport_reason(e: reqwest::Error) -> String {
    crate::telemetry::http_failure(e)
}

/// The JSON body of an answer. 5xx and HTTP 429 are transport failures (retryable); another
/// non-2xx is read for its JSON body when it has one (Nhanh's `errorCode` still counts).
pub async fn read_json(response: reqwest::Response) -> Result<Value, NhanhError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| NhanhError::Unavailable(transport_reason(e)))?;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(NhanhError::Unavailable(format!("HTTP {status}")));
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        if status.is_success() {
            NhanhError::Malformed(format!("HTTP {status} with a body that is not JSON"))
        } else {
            NhanhError::Rejected { code: None, message: format!("HTTP {status}") }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::memory::MemoryStore;
    use crate::store::StoreError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Shared locks in memory that count their reads.
    #[derive(Default)]
    struct CountedLocks {
        inner: MemoryStore,
        reads: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl RateLockStore for CountedLocks {
        async fn locked_until(
            &self,
            app: u64,
            business: u64,
            path: &str,
            now: OffsetDateTime,
        ) -> Result<Option<OffsetDateTime>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.locked_until(app, business, path, now).await
        }
        async fn lock(&self, app: u64, business: u64, path: &str, until: OffsetDateTime) -> Result<(), StoreError> {
            self.inner.lock(app, business, path, until).await
        }
        async fn reserve_call(
            &self,
            app: u64,
            business: u64,
            path: &str,
            interval: time::Duration,
            now: OffsetDateTime,
        ) -> Result<OffsetDateTime, StoreError> {
            self.inner.reserve_call(app, business, path, interval, now).await
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()
    }

    fn gate(store: &Arc<CountedLocks>) -> CallGate {
        CallGate::new(Arc::new(FixedClock(now())))
            .with_shared_locks(store.clone())
            .with_max_lock_wait(time::Duration::ZERO)
    }

    const PATH: &str = "/v3.0/order/list";

    /// Calls `PATH` of (1, 10); whether the attempt ran.
    async fn call(gate: &CallGate) -> (bool, Result<Value, NhanhError>) {
        let ran = AtomicUsize::new(0);
        let answer = gate
            .call((1, 10, PATH.to_owned()), || async {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(Value::Null)
            })
            .await;
        (ran.load(Ordering::SeqCst) == 1, answer)
    }

    #[tokio::test]
    async fn fresh_primed_locks_stand_in_for_the_shared_read() {
        let store = Arc::new(CountedLocks::default());
        let gate = gate(&store);
        gate.prime(1, 10, vec![], now() - time::Duration::milliseconds(100));
        assert!(call(&gate).await.0);
        assert_eq!(store.reads.load(Ordering::SeqCst), 0, "no read: the primed locks said none");

        // A primed lock is obeyed: no call.
        let until = now() + time::Duration::seconds(60);
        gate.prime(1, 10, vec![(PATH.to_owned(), until)], now());
        let (ran, answer) = call(&gate).await;
        assert!(!ran && matches!(answer, Err(NhanhError::RateLimited { unlocked_at, .. }) if unlocked_at == until));
        assert_eq!(store.reads.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn stale_or_other_business_primes_leave_the_shared_read() {
        let store = Arc::new(CountedLocks::default());
        store.lock(1, 10, PATH, now() + time::Duration::seconds(60)).await.unwrap();
        let gate = gate(&store);
        // Read a second ago, without the lock another instance recorded since: not trusted.
        gate.prime(1, 10, vec![], now() - time::Duration::seconds(1));
        let (ran, answer) = call(&gate).await;
        assert!(!ran && matches!(answer, Err(NhanhError::RateLimited { .. })), "the shared lock is obeyed");
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);

        let other = Arc::new(CountedLocks::default());
        let gate = self::gate(&other);
        gate.prime(1, 11, vec![], now());
        assert!(call(&gate).await.0);
        assert_eq!(other.reads.load(Ordering::SeqCst), 1, "locks of another business say nothing of this one");
    }

    /// Issue 21: a lock short enough to wait out in place is not waited out past the invocation's
    /// deadline: the call is handed back at once as rate limited (retried at the unlock).
    #[tokio::test]
    async fn a_lock_is_not_waited_out_past_the_invocations_deadline() {
        let store = Arc::new(CountedLocks::default());
        let until = now() + time::Duration::seconds(5);
        store.lock(1, 10, PATH, until).await.unwrap();
        let gate = CallGate::new(Arc::new(FixedClock(now()))).with_shared_locks(store.clone());
        let deadline = now() + time::Duration::seconds(12);
        let (ran, answer) = crate::clock::within_deadline(Some(deadline), call(&gate)).await;
        assert!(!ran, "no call");
        assert!(matches!(answer, Err(NhanhError::RateLimited { unlocked_at, .. }) if unlocked_at == until));
    }

    /// Issue 23: instances pace their calls of one URL through the shared slots: the second
    /// instance's call, reserved for one interval later, is waited for in place when the gate may
    /// wait, and handed back to be retried at its slot when it may not (a wait, not a failure).
    #[tokio::test]
    async fn instances_pace_their_calls_of_one_url_through_shared_slots() {
        let store = Arc::new(CountedLocks::default());
        let (first, second) = (gate(&store), gate(&store));
        assert!(call(&first).await.0, "an idle URL: at once");
        let (ran, answer) = call(&second).await;
        assert!(!ran, "no call before its slot");
        match answer {
            Err(NhanhError::RateLimited { unlocked_at, .. }) => assert_eq!(unlocked_at, now() + PACE_INTERVAL),
            other => panic!("expected a retry at the slot, got {other:?}"),
        }
        let patient = CallGate::new(Arc::new(FixedClock(now()))).with_shared_locks(store.clone());
        let started = std::time::Instant::now();
        assert!(call(&patient).await.0, "a gate that may wait, waits for its slot and calls");
        assert!(started.elapsed() >= std::time::Duration::from_millis(400), "two slots on: {:?}", started.elapsed());
        let later = now() + time::Duration::seconds(5);
        let idle = store.inner.reserve_call(1, 10, PATH, PACE_INTERVAL, later).await.unwrap();
        assert_eq!(idle, later, "an idle URL starts again at once");
    }
}
