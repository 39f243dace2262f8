//! Times as people in Vietnam read them: in Vietnam's time zone (UTC+7, no daylight saving), as
//! `02/12/2026 13:25`, and relative (`2 phút trước`).

use crate::clock::VIETNAM;
use time::OffsetDateTime;

/// `dd/mm/yyyy HH:MM` in Vietnam's time.
pub fn vn_time(t: OffsetDateTime) -> String {
    // At the calendar's edge (a stamp from outside near 9999-12-31) the shift would overflow.
    let t = t.checked_to_offset(VIETNAM).unwrap_or(t);
    format!("{:02}/{:02}/{} {:02}:{:02}", t.day(), u8::from(t.month()), t.year(), t.hour(), t.minute())
}

/// How long ago (or, for a future instant, in how long) `t` is from `now`, in Vietnamese.
pub fn relative_vi(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - t).whole_seconds();
    let (amount, future) = (secs.unsigned_abs(), secs < 0);
    let text = match amount {
        0..=44 => return "vừa xong".into(),
        45..=3_599 => format!("{} phút", amount.div_ceil(60).max(1)),
        3_600..=86_399 => format!("{} giờ", amount / 3_600),
        86_400..=2_591_999 => format!("{} ngày", amount / 86_400),
        _ => return vn_time(t),
    };
    if future {
        format!("{text} nữa")
    } else {
        format!("{text} trước")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vietnam_time_and_relative_words() {
        let t = OffsetDateTime::from_unix_timestamp(1_796_191_558).unwrap(); // 2026-12-02T06:05:58Z
        assert_eq!(vn_time(t), "02/12/2026 13:05");
        assert_eq!(relative_vi(t, t + time::Duration::seconds(10)), "vừa xong");
        assert_eq!(relative_vi(t, t + time::Duration::minutes(2)), "2 phút trước");
        assert_eq!(relative_vi(t, t + time::Duration::hours(3)), "3 giờ trước");
        assert_eq!(relative_vi(t + time::Duration::days(2), t), "2 ngày nữa");
        assert_eq!(relative_vi(t, t + time::Duration::days(90)), "02/12/2026 13:05");
    }

    /// Issue 21: a token expiry from outside at the calendar's edge (`expiredAt` of 9999-12-31)
    /// renders, without panicking in the shift to Vietnam's time.
    #[test]
    fn the_calendars_edges_format_without_panicking() {
        let (max, min) = (
            OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX),
            OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT),
        );
        assert!(vn_time(max).starts_with("31/12/"));
        assert!(!relative_vi(max, min).is_empty() && !relative_vi(min, max).is_empty());
    }

    proptest! {
        #[test]
        fn any_instant_formats_without_panicking(secs in 0i64..4_000_000_000i64, delta in any::<i32>()) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            prop_assert_eq!(vn_time(t).len(), 16);
            let _ = relative_vi(t, t + time::Duration::seconds(i64::from(delta)));
        }
    }
}
