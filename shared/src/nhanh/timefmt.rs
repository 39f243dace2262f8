//! Nhanh's date formats. v2 does not state a timezone; all evidence points to naive
//! Asia/Ho_Chi_Minh local time (UTC+7), which is what this module assumes.

use crate::clock::VIETNAM;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// Parses `Y-m-d H:i:s` or `Y-m-d` (local Vietnam time), or a Unix timestamp in text.
pub fn parse(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    if let Ok(dt) = PrimitiveDateTime::parse(raw, format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
    {
        return Some(dt.assume_offset(VIETNAM));
    }
    if let Ok(d) = Date::parse(raw, format_description!("[year]-[month]-[day]")) {
        return Some(d.midnight().assume_offset(VIETNAM));
    }
    raw.parse::<i64>().ok().and_then(from_unix)
}

/// A Unix timestamp (seconds) as an instant.
pub fn from_unix(secs: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// Formats as `Y-m-d H:i:s` in Vietnam time.
pub fn datetime(t: OffsetDateTime) -> String {
    t.checked_to_offset(VIETNAM)
        .unwrap_or(t)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_default()
}

/// Formats as `Y-m-d` in Vietnam time.
pub fn date(t: OffsetDateTime) -> String {
    day(t.checked_to_offset(VIETNAM).unwrap_or(t).date())
}

/// Formats a calendar day as `Y-m-d` (the one home of Nhanh's date format).
pub fn day(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_vietnam_time() {
        let t = parse("2026-11-28 15:30:00").unwrap();
        assert_eq!(t.unix_timestamp(), 1_795_854_600);
        assert_eq!(datetime(t), "2026-11-28 15:30:00");
        assert_eq!(date(t), "2026-11-28");
        assert_eq!(parse("2026-11-28").map(date).as_deref(), Some("2026-11-28"));
        assert_eq!(parse("1733387520").map(|t| t.unix_timestamp()), Some(1_733_387_520));
        assert!(parse("28/11/2026").is_none());
        assert!(parse("").is_none());
    }
}
