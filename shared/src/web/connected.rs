//! The connected page: state, initial sync progress, streams, webhooks, failures with
//! **Thử lại**, the actions, token expiry; built from the one [`Status`] the status JSON also
//! serialises, one function per section. It refreshes itself while work runs.

use super::format::{relative_vi, vn_time};
use super::pages::{activation_form, layout, FormPage, COPY_SCRIPT};
use crate::domain::{FailureKind, Stream};
use crate::services::status::{Status, StreamStatus};
use maud::{html, Markup, PreEscaped};
use time::OffsetDateTime;

/// What the connected page shows besides the [`Status`].
pub struct ConnectedPage<'a> {
    /// The status (the same document as the status JSON).
    pub status: &'a Status,
    /// The verify token to paste on Nhanh.
    pub verify_token: &'a str,
    /// CSRF token of every form.
    pub csrf: &'a str,
    /// The page's path (`/nhanhvn/connect/{account}`); actions post under it.
    pub path: &'a str,
    /// The activation form, when a new consent is the thing to do (R12) or the connection may
    /// move to a newer API version.
    pub reconnect: Option<FormPage<'a>>,
    /// A notice after an action (re-queued, pass started, …).
    pub notice: Option<&'a str>,
    /// The webhook events to tick on open.nhanh.vn, as the connection's version's adapter names them.
    pub webhook_events: &'a [&'a str],
    /// Now.
    pub now: OffsetDateTime,
}

/// The connected page.
pub fn connected_page(p: &ConnectedPage<'_>) -> String {
    let s = p.status;
    // Due (queued, not started yet) or running: the initial sync is not over.
    let sync_running = s.initial_sync.as_ref().is_some_and(|i| i.state != crate::domain::InitialSyncState::Done);
    let lag = Stream::RECORDS.iter().filter_map(|r| s.streams.get(r.as_str())).any(|st| lagging(st, p.now));
    let body = html! {
        (notices(p))
        (summary(s))
        (initial_sync(s, sync_running))
        (streams(s, lag, p.now))
        (webhooks(p))
        (failures(p))
        (dead_letters(p))
        (actions(p))
        @if let Some(form) = &p.reconnect {
            section.card id="reconnect" {
                h2 { "Kết nối lại" }
                (activation_form(form))
            }
        }
        script { (PreEscaped(COPY_SCRIPT)) }
    };
    let refresh = (sync_running || lag).then_some(10);
    layout("Đã kết nối Nhanh.vn", Some(s.state), refresh, body)
}

/// **Đồng bộ lại ngay**, and **Ngừng kết nối**, which asks for confirmation first: the first
/// press opens the question (a `details`, so it works by keyboard and without JavaScript), the
/// second ends the connection.
fn actions(p: &ConnectedPage<'_>) -> Markup {
    html! {
        section.card id="actions" {
            h2 { "Thao tác" }
            div.actions {
                (action(&format!("{}/sync", p.path), p.csrf, "sync-now", "primary", "Đồng bộ lại ngay", &[]))
                details.confirm id="disconnect-confirm" {
                    summary.button.danger-outline id="disconnect" { "Ngừng kết nối" }
                    p {
                        "Ngừng đồng bộ giữa Nhanh.vn và Loyalty Hub? Secret Key và mã truy cập sẽ bị xoá; "
                        "bảng liên kết mã được giữ một thời gian để kết nối lại không tạo trùng."
                    }
                    (action(&format!("{}/disconnect", p.path), p.csrf, "disconnect-yes", "danger", "Có, ngừng kết nối", &[]))
                }
            }
        }
    }
}

/// What needs the merchant first: the notice of an action, a refused token, an outdated API
/// version, a token about to expire, work that waits.
fn notices(p: &ConnectedPage<'_>) -> Markup {
    let s = p.status;
    let needs_reauth = s.state == crate::domain::ConnectionState::NeedsReauth;
    let outdated = s.api_version != crate::nhanh::NEW_CONNECTION_VERSION;
    html! {
        @if let Some(notice) = p.notice { p.notice.ok id="notice" role="status" { (notice) } }
        @if needs_reauth {
            p.notice.err id="needs-reauth" {
                "Nhanh.vn đã từ chối mã truy cập: đồng bộ tạm dừng, các thay đổi vẫn được giữ lại. "
                b { "Việc cần làm: kết nối lại" } " (nhập App Id và Secret Key bên dưới rồi bấm Kích hoạt)."
            }
        }
        @if outdated {
            p.notice.warn id="version-warning" {
                "Kết nối này dùng Nhanh API v" (s.api_version.as_str()) " — Nhanh đã ngừng hỗ trợ API v2 từ 30/11/2026. "
                "Hãy chuyển sang API v3: nhập lại App Id và Secret Key bên dưới rồi bấm Kích hoạt và đồng ý trên Nhanh.vn. "
                "Thời điểm kết nối, dữ liệu đã đồng bộ và verify token được giữ nguyên; trên open.nhanh.vn hãy chọn Webhooks version 3.0."
            }
        }
        @if let (Some(days), Some(expires)) = (s.token_days_left, s.token_expires_at) {
            @if s.token_warning {
                p.notice.warn id="token-warning" {
                    "Mã truy cập Nhanh.vn sẽ hết hạn lúc " (vn_time(expires)) " (còn " (days.max(0)) " ngày). "
                    b { "Hãy kết nối lại trước thời điểm này." }
                }
            }
        }
        (super::waiting::waiting_notices(s, p.now))
    }
}

/// The connection: its state and its ids.
fn summary(s: &Status) -> Markup {
    html! {
        section.card id="connection" {
            h2 { "Kết nối" }
            p id="status" { b { "Đã kết nối" } " (trạng thái: " code id="state" { (s.state.as_str()) } ")" }
            dl.facts {
                dt { "Account Id" } dd { code id="account-id" { (s.account_id.as_str()) } }
                dt { "Nhanh Business Id" } dd { code id="business-id" { (s.business_id.map(|b| b.to_string()).unwrap_or_default()) } }
                dt { "App Id" } dd { code id="app-id" { (s.app_id.to_string()) } }
                dt { "Nhanh API" } dd { code id="api-version" { (s.api_version.as_str()) } }
                dt { "Kết nối lúc" } dd { span id="connected-at" { (s.connected_at.map(vn_time).unwrap_or_default()) } }
                dt { "Mã truy cập hết hạn" }
                dd {
                    span id="token-expires-at" { (s.token_expires_at.map(vn_time).unwrap_or_default()) }
                    @if let Some(days) = s.token_days_left { " (" span id="token-days-left" { (days.max(0)) } " ngày nữa)" }
                }
            }
        }
    }
}

/// The initial sync's progress, while it runs and once done.
fn initial_sync(s: &Status, sync_running: bool) -> Markup {
    html! {
        @if let Some(sync) = &s.initial_sync {
            section.card id="initial-sync-card" {
            h2 { "Đồng bộ lần đầu" }
            @let percent = sync.total.filter(|t| *t > 0).map(|t| sync.done.min(t) * 100 / t).or((!sync_running).then_some(100));
            div id="initial-sync" data-state=(if sync_running { "running" } else { "done" }) {
                @match (percent, sync.total) {
                    (Some(pc), _) => progress id="initial-sync-bar" max="100" value=(pc) aria-label="Tiến độ đồng bộ lần đầu" { (pc) "%" },
                    (None, _) => progress id="initial-sync-bar" max="100" aria-label="Tiến độ đồng bộ lần đầu" {},
                }
                p {
                    span id="initial-sync-done" { (sync.done) }
                    @if let Some(total) = sync.total { " / " span id="initial-sync-total" { (total) } }
                    " " (if sync.unit == "products" { "sản phẩm" } else { "trang" })
                    @if let Some(pc) = percent { " — " span id="initial-sync-percent" { (pc) "%" } }
                    @if let Some(eta) = sync.eta_secs.filter(|_| sync_running) { " — còn khoảng " span id="initial-sync-eta" { (eta_vi(eta)) } }
                    @if let Some(rate) = sync.per_minute { " — " span id="initial-sync-rate" { (rate) } " sản phẩm/phút" }
                    @if !sync_running { " — " b { "đã xong" } }
                }
                @if sync_running { p.more { "Trang tự cập nhật trong khi đồng bộ." } }
            }
            }
        }
    }
}

/// Each stream's counts and times, and a warning when events wait unapplied.
fn streams(s: &Status, lag: bool, now: OffsetDateTime) -> Markup {
    html! {
        section.card id="streams-card" {
        h2 { "Đồng bộ theo loại dữ liệu" }
        @if lag { p.notice.warn id="lag-warning" { "Có sự kiện mới nhưng chưa được áp dụng hơn 10 phút. Đồng bộ có thể đang chậm hoặc gặp lỗi." } }
        table.stack id="streams" {
            thead { tr { th scope="col" { "Loại" } th scope="col" { "Đã đồng bộ" } th scope="col" { "Lỗi" } th scope="col" { "Bỏ qua" } th scope="col" { "Không đồng bộ" } th scope="col" { "Sự kiện gần nhất" } th scope="col" { "Áp dụng gần nhất" } } }
            tbody {
                @for (name, st) in &s.streams {
                    tr id=(format!("stream-{name}")) {
                        td data-label="Loại" { b { (stream_name(name)) } @if lagging(st, now) { " ⚠" } }
                        td.n.applied data-label="Đã đồng bộ" { (st.applied) }
                        td.n.failed data-label="Lỗi" { (st.failed) }
                        td.n.dropped data-label="Bỏ qua" { (st.dropped) }
                        td.n.ignored data-label="Không đồng bộ" { (st.ignored) }
                        td data-label="Sự kiện gần nhất" { (when(st.last_event_at, now)) }
                        td data-label="Áp dụng gần nhất" { (when(st.last_applied_at, now)) }
                    }
                }
            }
        }
        }
    }
}

/// Webhooks: live or not, the callback URL and verify token to paste, the events to tick.
fn webhooks(p: &ConnectedPage<'_>) -> Markup {
    let (s, now) = (p.status, p.now);
    html! {
        section.card id="webhooks-card" {
        h2 { "Webhooks" }
        p id="webhooks" {
            "Trạng thái: "
            @if s.webhooks.live { b id="webhooks-live" { "đang hoạt động" } } @else { b id="webhooks-live" { "chưa nhận được sự kiện bật webhooks" } }
            " · bật lần cuối (webhooksEnabled): " span id="webhooks-enabled-at" { (when(s.webhooks.enabled_at, now)) }
            " · sự kiện gần nhất: " (when(s.webhooks.last_event_at, now))
        }
        (copyable("webhook-url", "Webhooks callback URL", &s.webhooks.url))
        (copyable("verify-token", "Webhooks verify token", p.verify_token))
        p id="webhook-events" {
            "Trên open.nhanh.vn chọn Webhooks version " (s.api_version.as_str()) ", bật \"Enable webhooks\" và chọn các sự kiện: "
            @for (i, e) in p.webhook_events.iter().enumerate() { @if i > 0 { ", " } code { (e) } }
            "."
        }
        }
    }
}

/// The recent failures, each with its reason and **Thử lại**.
fn failures(p: &ConnectedPage<'_>) -> Markup {
    let (s, now) = (p.status, p.now);
    html! {
        section.card id="failures-card" {
        h2 { "Lỗi gần đây" }
        @if s.recent_failures.is_empty() { p id="no-failures" { "Không có lỗi." } }
        @else {
            table.stack id="failures" {
                thead { tr { th scope="col" { "Bản ghi" } th scope="col" { "Lý do" } th scope="col" { "Lúc" } th scope="col" { "Thao tác" } } }
                tbody {
                    @for f in &s.recent_failures {
                        @let id = format!("retry-{}-{}", f.entity, f.record);
                        tr.failure data-record=(format!("{}:{}", f.entity, f.record)) {
                            td data-label="Bản ghi" { (f.entity) " " code { (f.record) } }
                            td.reason data-label="Lý do" { span { (failure_reason_vi(f.kind)) } details.more { summary { "Chi tiết" } (f.reason) } }
                            td data-label="Lúc" { (when(Some(f.at), now)) }
                            td data-label="Thao tác" { (action(&format!("{}/retry", p.path), p.csrf, &id, "small", "Thử lại", &[("entity", &f.entity), ("record", &f.record)])) }
                        }
                    }
                }
            }
        }
        }
    }
}

/// The records given up after many deliveries, each with **Thử lại**.
fn dead_letters(p: &ConnectedPage<'_>) -> Markup {
    let s = p.status;
    html! {
        @if !s.dead_letters.is_empty() {
            section.card id="dead-letters-card" {
            h2 { "Hàng đợi lỗi" }
            p { "Các bản ghi đã thử nhiều lần không thành công. Khi nguyên nhân đã được khắc phục, bấm Thử lại." }
            table.stack id="dead-letters" {
                thead { tr { th scope="col" { "Bản ghi" } th scope="col" { "Số lần thử" } th scope="col" { "Thao tác" } } }
                tbody {
                    @for d in &s.dead_letters {
                        @let id = format!("retry-dead-letter-{}", d.message_id);
                        tr.dead-letter data-message=(d.message_id) {
                            td data-label="Bản ghi" { (d.kind) " " code { (d.group_id) } br; (failure_reason_vi(d.failure)) }
                            td.n data-label="Số lần thử" { (d.receive_count) }
                            td data-label="Thao tác" { (action(&format!("{}/dead-letters/retry", p.path), p.csrf, &id, "small", "Thử lại", &[("message_id", &d.message_id)])) }
                        }
                    }
                }
            }
            }
        }
    }
}

fn stream_name(stream: &str) -> &'static str {
    match stream {
        "product_groups" => "Nhóm sản phẩm",
        "products" => "Sản phẩm",
        "orders" => "Đơn hàng",
        "customers" => "Khách hàng",
        "bills" => "Hóa đơn bán lẻ",
        "webhooks" => "Webhooks",
        "hub_events" => "Sự kiện Loyalty Hub",
        "reconcile" => "Đồng bộ định kỳ",
        _ => "Khác",
    }
}

/// How long events may arrive with nothing applied before the page warns of a lag.
pub const LAG_WARNING: time::Duration = time::Duration::minutes(10);

/// Events came and nothing was applied since, for more than [`LAG_WARNING`] (within the last day).
fn lagging(s: &StreamStatus, now: OffsetDateTime) -> bool {
    match (s.last_event_at, s.last_applied_at) {
        (Some(event), applied) => {
            let waiting = now - event;
            waiting > LAG_WARNING && waiting < time::Duration::days(1) && applied.is_none_or(|a| a < event)
        }
        (None, _) => false,
    }
}

/// A failure's reason in words a merchant understands, by its kind; the technical text stays
/// folded away beside it.
pub fn failure_reason_vi(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::HubRefused => "Loyalty Hub từ chối dữ liệu của bản ghi này (không hợp lệ).",
        FailureKind::HubConflict => "Loyalty Hub báo bản ghi bị trùng.",
        FailureKind::HubUnavailable => "Loyalty Hub không phản hồi.",
        FailureKind::RateLimited => "Bị giới hạn tần suất gọi quá lâu.",
        FailureKind::GoneFromNhanh => "Nhanh.vn không còn bản ghi này.",
        FailureKind::NhanhRefused => "Nhanh.vn từ chối bản ghi này.",
        FailureKind::NhanhUnavailable => "Nhanh.vn không phản hồi.",
        FailureKind::NotAuthorized => "Kết nối cần được cấp quyền lại.",
        FailureKind::InvalidPhone => "Khách hàng không có số điện thoại Việt Nam hợp lệ.",
        FailureKind::NeverSynced => "Bản ghi chưa từng được đồng bộ nên không thể cập nhật.",
        FailureKind::Other => "Không đồng bộ được bản ghi này.",
    }
}

fn when(t: Option<OffsetDateTime>, now: OffsetDateTime) -> Markup {
    html! {
        @match t {
            Some(t) => time datetime=(crate::clock::rfc3339(t)) title=(vn_time(t)) { (relative_vi(t, now)) },
            None => "—",
        }
    }
}

/// A value to paste elsewhere, under its `label`, with a **Sao chép** button beside it (shown
/// only with JavaScript; without it the text stays selectable).
fn copyable(id: &str, label: &str, text: &str) -> Markup {
    html! {
        p.copy-label { (label) ":" }
        div.copy {
            code id=(id) { (text) }
            button.small type="button" data-copy=(id) aria-label=(format!("Sao chép {label}")) hidden { "Sao chép" }
        }
    }
}

/// A one-button form posting `fields` to `path`; `class` styles the button (`primary`,
/// `danger`, `small`).
fn action(path: &str, csrf: &str, id: &str, class: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form method="post" action=(path) id=(format!("{id}-form")) {
            input type="hidden" name="csrf_token" value=(csrf);
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            button type="submit" id=(id) class=(class) { (label) }
        }
    }
}

/// A duration left in words (`2 phút`, `1 giờ 5 phút`).
fn eta_vi(secs: u64) -> String {
    match secs {
        0..=59 => "dưới 1 phút".into(),
        60..=3599 => format!("{} phút", secs.div_ceil(60)),
        _ => format!("{} giờ {} phút", secs / 3600, (secs % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_lags_when_events_wait_unapplied_for_ten_minutes() {
        let now = OffsetDateTime::from_unix_timestamp(1_796_191_558).unwrap();
        let stream = |event: Option<i64>, applied: Option<i64>| StreamStatus {
            applied: 0,
            dropped: 0,
            failed: 0,
            ignored: 0,
            last_event_at: event.map(|m| now - time::Duration::minutes(m)),
            last_applied_at: applied.map(|m| now - time::Duration::minutes(m)),
        };
        assert!(!lagging(&stream(Some(1), None), now), "just arrived");
        assert!(lagging(&stream(Some(11), None), now), "waiting 11 minutes");
        assert!(lagging(&stream(Some(11), Some(30)), now), "applied only before it");
        assert!(!lagging(&stream(Some(30), Some(11)), now), "applied after it");
        assert!(!lagging(&stream(None, None), now));
    }

    #[test]
    fn reasons_read_in_vietnamese() {
        assert!(failure_reason_vi(FailureKind::HubRefused).contains("Loyalty Hub"));
        assert!(failure_reason_vi(FailureKind::GoneFromNhanh).contains("Nhanh.vn không còn"));
        assert_eq!(eta_vi(61), "2 phút");
        assert_eq!(eta_vi(3_700), "1 giờ 1 phút");
    }
}
