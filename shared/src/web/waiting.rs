//! The page's "what waits" notices (issue 23, item 6), in plain Vietnamese: a Hub outage and the
//! records kept for it, a Nhanh rate lock and when calls resume, and the order changes waiting to
//! be read. Nothing here asks the merchant to act: each says that it resumes by itself, and when.

use super::format::vn_time;
use crate::services::status::Status;
use maud::{html, Markup};
use time::OffsetDateTime;

/// "trong khoảng 40 giây" / "lúc 05/12/2026 13:25" for an instant ahead of `now`.
fn resumes_vi(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (at - now).whole_seconds().max(0);
    if secs < 120 {
        format!("sau khoảng {} giây", secs.max(1))
    } else {
        format!("lúc {}", vn_time(at))
    }
}

/// The notices for `s` (empty when nothing waits).
pub(super) fn waiting_notices(s: &Status, now: OffsetDateTime) -> Markup {
    let lock = s.rate_locks.iter().map(|l| l.until).filter(|until| *until > now).max();
    html! {
        @if let Some(outage) = &s.hub_outage {
            p.notice.warn id="hub-outage" role="status" {
                "Loyalty Hub đang gián đoạn từ " (vn_time(outage.since)) ". "
                @if s.waiting.parked > 0 { span id="parked" { (s.waiting.parked) } " thay đổi của bạn đang được giữ lại; " }
                "hệ thống kiểm tra lại Hub sau mỗi vài giây và tự đồng bộ ngay khi Hub hoạt động trở lại — bạn không cần làm gì."
            }
        }
        @if let Some(until) = lock {
            p.notice.warn id="rate-lock" role="status" {
                "Nhanh.vn đang tạm giới hạn tần suất gọi API của kết nối này; đồng bộ tự tiếp tục "
                span id="rate-lock-until" { (resumes_vi(until, now)) } "."
            }
        }
        @if s.waiting.orders > 0 {
            p.notice.info id="backlog" { "Đang chờ: " b id="waiting-orders" { (s.waiting.orders) } " đơn hàng (đọc lại từ Nhanh.vn theo lô 100 đơn)." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_waits_read_in_seconds_and_long_ones_as_a_time() {
        let now = OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap();
        assert_eq!(resumes_vi(now + time::Duration::seconds(40), now), "sau khoảng 40 giây");
        assert_eq!(resumes_vi(now, now), "sau khoảng 1 giây");
        assert!(resumes_vi(now + time::Duration::minutes(10), now).starts_with("lúc "));
    }
}
