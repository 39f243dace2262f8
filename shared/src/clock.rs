//! Time as a port, so rules about expiry and connected periods are testable.

use time::OffsetDateTime;

/// Vietnam's offset, UTC+7 (Asia/Ho_Chi_Minh has had no daylight saving since 1975): Nhanh's
/// local times and the page's times are in it. The one home of the offset.
pub const VIETNAM: time::UtcOffset = time::macros::offset!(+7);

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

tokio::task_local! {
    /// The instant the current Lambda invocation must have answered by.
    static INVOCATION_DEADLINE: OffsetDateTime;
}

/// Runs `work` under the invocation's `deadline`, which [`invocation_deadline`] then tells every
/// code path of the invocation (a pass's budget, a record's time, a wait for a rate lock).
pub async fn within_deadline<F: std::future::Future>(deadline: Option<OffsetDateTime>, work: F) -> F::Output {
    match deadline {
        Some(d) => INVOCATION_DEADLINE.scope(d, work).await,
        None => work.await,
    }
}

/// The deadline of the invocation this task runs in, if it has one.
pub fn invocation_deadline() -> Option<OffsetDateTime> {
    INVOCATION_DEADLINE.try_with(|d| *d).ok()
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock fixed at a given instant (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// Formats an instant as RFC 3339 in UTC (`…Z`), as the Hub contract wants every timestamp;
/// empty if the instant is out of range.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.checked_to_offset(time::UtcOffset::UTC)
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Serde for `Option<OffsetDateTime>` written as RFC 3339 in UTC (Nhanh times carry +07:00, the
/// Hub takes UTC only) and read from any RFC 3339 offset.
pub mod utc_rfc3339_option {
    use time::OffsetDateTime;

    /// Writes the instant in UTC, or null.
    pub fn serialize<S: serde::Serializer>(value: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        // An instant whose UTC form leaves the calendar (a far-future stamp with a negative
        // offset) is written as it came, rather than panicking.
        time::serde::rfc3339::option::serialize(
            &value.map(|t| t.checked_to_offset(time::UtcOffset::UTC).unwrap_or(t)),
            s,
        )
    }

    /// Reads an RFC 3339 instant, or null.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
        time::serde::rfc3339::option::deserialize(d)
    }
}
