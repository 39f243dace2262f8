//! Retry in one place: exponential backoff with full jitter (each wait is random between zero and
//! `base · 2^attempt`, capped), so instances that failed together do not retry together.
//!
//! The AWS SDK retries its own calls (standard mode, set in `lambda::aws_sdk_config_for`); this
//! helper covers what the SDK does not: a transaction cancelled transiently, and the items a batch
//! call left unprocessed.

use std::future::Future;
use std::time::Duration;

/// The waits between attempts of one operation.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    retries: u32,
    done: u32,
}

impl Backoff {
    /// Up to `retries` waits, the n-th at most `base · 2^n`, never over 2 s.
    pub fn new(base: Duration, retries: u32) -> Self {
        Self { base, cap: Duration::from_secs(2), retries, done: 0 }
    }

    /// The longest next wait, or `None` once the retries are spent.
    pub fn next_ceiling(&self) -> Option<Duration> {
        (self.done < self.retries).then(|| self.base.saturating_mul(1 << self.done.min(16)).min(self.cap))
    }

    /// Waits a random time up to the next ceiling; `false` (without waiting) once spent.
    pub async fn wait(&mut self) -> bool {
        let Some(ceiling) = self.next_ceiling() else { return false };
        self.done += 1;
        tokio::time::sleep(jitter(ceiling)).await;
        true
    }
}

/// A random duration between zero and `ceiling`.
fn jitter(ceiling: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(u64::from_le_bytes(bytes) % nanos.saturating_add(1))
}

/// How many times a read-modify-write of one record is made when another writer wrote the record
/// between its read and its write.
pub const CONFLICT_ATTEMPTS: u32 = 5;

/// An error that may say another writer wrote the record between a read and a write.
pub trait WrittenMeanwhile {
    /// Whether this is [`crate::store::StoreError::Conflict`], however wrapped.
    fn written_meanwhile(&self) -> bool;
}

impl WrittenMeanwhile for crate::store::StoreError {
    fn written_meanwhile(&self) -> bool {
        matches!(self, Self::Conflict)
    }
}

/// Runs `attempt` (a read-modify-write of one record) again at once while it meets a record
/// written meanwhile ([`WrittenMeanwhile`]), at most [`CONFLICT_ATTEMPTS`] times; the last answer
/// is returned. The one home of the connection's conflict loops.
pub async fn on_conflict<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: WrittenMeanwhile,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut made = 1;
    loop {
        match attempt().await {
            Err(e) if e.written_meanwhile() && made < CONFLICT_ATTEMPTS => made += 1,
            answer => return answer,
        }
    }
}

/// Runs `op` until it succeeds, fails with an error `retryable` refuses, or `backoff` is spent
/// (then the last error is returned).
pub async fn retry<T, E, F, Fut>(mut backoff: Backoff, retryable: impl Fn(&E) -> bool, mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        match op().await {
            Err(e) if retryable(&e) => {
                if !backoff.wait().await {
                    return Err(e);
                }
                tracing::debug!("retrying after a transient failure");
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::StoreError;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_conflict_is_tried_again_at_most_five_times_and_another_error_not_at_all() {
        let made = AtomicU32::new(0);
        let third_time = on_conflict(|| async {
            match made.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(StoreError::Conflict),
                _ => Ok("written"),
            }
        })
        .await;
        assert_eq!((third_time.ok(), made.load(Ordering::SeqCst)), (Some("written"), 3));
        made.store(0, Ordering::SeqCst);
        let never: Result<(), _> = on_conflict(|| async {
            made.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Conflict)
        })
        .await;
        assert!(matches!(never, Err(StoreError::Conflict)));
        assert_eq!(made.load(Ordering::SeqCst), CONFLICT_ATTEMPTS);
        made.store(0, Ordering::SeqCst);
        let down: Result<(), _> = on_conflict(|| async {
            made.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unavailable("down".into()))
        })
        .await;
        assert!(matches!(down, Err(StoreError::Unavailable(_))));
        assert_eq!(made.load(Ordering::SeqCst), 1, "not a conflict: not tried again");
    }

    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_stop_after_the_retries() {
        let mut b = Backoff::new(Duration::from_millis(25), 8);
        let mut seen = vec![];
        while let Some(c) = b.next_ceiling() {
            seen.push(c.as_millis());
            b.done += 1;
        }
        assert_eq!(seen, [25, 50, 100, 200, 400, 800, 1600, 2000]);
        assert!(jitter(Duration::from_millis(5)) <= Duration::from_millis(5));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_and_others_are_not() {
        let mut calls = 0;
        let r: Result<u8, &str> = retry(
            Backoff::new(Duration::from_millis(1), 3),
            |e| *e == "busy",
            || {
                calls += 1;
                let answer = if calls < 3 { Err("busy") } else { Ok(7) };
                async move { answer }
            },
        )
        .await;
        assert_eq!((r, calls), (Ok(7), 3));
        let mut calls = 0;
        let r: Result<u8, &str> = retry(
            Backoff::new(Duration::from_millis(1), 3),
            |e| *e == "busy",
            || {
                calls += 1;
                async { Err("refused") }
            },
        )
        .await;
        assert_eq!((r, calls), (Err("refused"), 1));
        let r: Result<u8, &str> =
            retry(Backoff::new(Duration::from_millis(1), 2), |_| true, || async { Err("busy") }).await;
        assert_eq!(r, Err("busy"), "gives up after its retries");
    }
}
