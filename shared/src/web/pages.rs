//! The connect pages, server-rendered in Vietnamese with `maud` (every value is escaped by
//! construction), usable without JavaScript: the page shell, the activation form and the refusal
//! page; the connected page is [`super::connected`].

use crate::domain::ConnectionState;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Escapes text for HTML content and attribute values (for the rare text built outside `maud`).
pub fn escape(raw: &str) -> String {
    html! { (raw) }.into_string()
}

/// The one stylesheet, served inside every page (no download, no build step): system fonts, no
/// fixed widths (the page sits in the Hub's admin, in an iframe or alone), WCAG 2.1 AA colours,
/// a visible focus ring, tables that become stacked rows on a phone.
const STYLE: &str = include_str!("page.css");

/// Reloads a page whose work runs (the initial sync, waiting events) every `data-refresh`
/// seconds, while the tab is visible. Without JavaScript the page is simply reloaded by hand:
/// a `<meta http-equiv="refresh">` would reload it for keyboard and screen-reader users too,
/// mid-task, which WCAG 2.2.1 forbids.
const REFRESH_SCRIPT: &str = "(function(){var s=+document.body.dataset.refresh;if(!s)return;\
setTimeout(function tick(){if(document.visibilityState==='visible'&&!document.querySelector('details[open],input:focus')){location.reload();}\
else{setTimeout(tick,s*1000);}},s*1000);})();";

/// Copies the text of `data-copy`'s element; without JavaScript the text stays selectable.
pub(super) const COPY_SCRIPT: &str =
    "document.querySelectorAll('button[data-copy]').forEach(function(b){b.hidden=false;\
b.addEventListener('click',function(){var t=document.getElementById(b.dataset.copy).textContent;\
if(navigator.clipboard){navigator.clipboard.writeText(t).then(function(){b.textContent='Đã sao chép';});}});});";

/// The `script-src` sources of the pages' content security policy: the SHA-256 of each inline
/// script, so the browser runs exactly these and nothing injected.
pub fn script_sources() -> &'static str {
    static SOURCES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCES.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        [COPY_SCRIPT, REFRESH_SCRIPT]
            .iter()
            .map(|script| {
                let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
                format!("'sha256-{hash}'")
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The state badge's words.
fn state_vi(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Pending => "chưa kết nối",
        ConnectionState::Syncing => "đang đồng bộ",
        ConnectionState::Active => "hoạt động",
        ConnectionState::NeedsReauth => "cần kết nối lại",
        ConnectionState::Disconnected => "đã ngừng",
    }
}

/// The page shell: Vietnamese, the one stylesheet, a header with `title` and the connection's
/// `state` as a coloured badge, the body in `main`; `refresh_secs` while work runs.
pub(super) fn layout(title: &str, state: Option<ConnectionState>, refresh_secs: Option<u32>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Kết nối Nhanh.vn" }
                style { (PreEscaped(STYLE)) }
            }
            body data-refresh=[refresh_secs] {
                header.top {
                    h1 { (title) }
                    @if let Some(state) = state {
                        span class=(format!("badge {}", state.as_str())) id="state-badge" { (state_vi(state)) }
                    }
                }
                main { (body) }
                @if refresh_secs.is_some() { script { (PreEscaped(REFRESH_SCRIPT)) } }
            }
        }
    }
    .into_string()
}

/// What the activation form shows.
pub struct FormPage<'a> {
    /// The Hub account.
    pub account_id: &'a str,
    /// The Redirect URL pattern to register on Nhanh.
    pub redirect_url: &'a str,
    /// Where the form posts.
    pub action: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// App Id to prefill.
    pub app_id: Option<String>,
    /// A notice above the form (e.g. after a disconnect).
    pub notice: Option<String>,
    /// The state of the account's connection, when it has one (a disconnected one, on this page).
    pub state: Option<ConnectionState>,
}

pub(super) fn activation_form(p: &FormPage<'_>) -> Markup {
    html! {
        form method="post" action=(p.action) id="connect-form" {
            input type="hidden" name="csrf_token" value=(p.csrf);
            label for="app_id" { "App Id" }
            input type="text" id="app_id" name="app_id" inputmode="numeric" required autocomplete="off" value=(p.app_id.as_deref().unwrap_or_default());
            label for="secret_key" { "Secret Key" }
            input type="password" id="secret_key" name="secret_key" required autocomplete="off";
            button.primary type="submit" id="activate" { "Kích hoạt" }
        }
    }
}

/// The page with the activation form (App Id, Secret Key, **Kích hoạt**).
pub fn form_page(p: &FormPage<'_>) -> String {
    let body = html! {
        @if let Some(notice) = &p.notice { p.notice.warn id="notice" role="status" { (notice) } }
        section.card {
            h2 { "Tài khoản Loyalty Hub" }
            p { "Account Id: " code id="account-id" { (p.account_id) } }
        }
        section.card {
            h2 { "Kết nối với Nhanh.vn" }
            ol {
                li {
                    "Trên " a href="https://open.nhanh.vn" { "open.nhanh.vn" } ", tạo ứng dụng với Redirect URL:" br;
                    code id="redirect-url" { (p.redirect_url) } br;
                    "(thay " code { "{app_id}" } " bằng App Id của ứng dụng)."
                }
                li { "Nhập App Id và Secret Key của ứng dụng rồi bấm " b { "Kích hoạt" } ". Bạn sẽ được chuyển sang Nhanh.vn để cấp quyền." }
            }
            (activation_form(p))
        }
    };
    layout("Kết nối Nhanh.vn", p.state, None, body)
}

/// A refusal or error page: what happened and what to do.
pub fn message_page(title: &str, what: &str, todo: &str) -> String {
    let body = html! { section.card { p.notice.err id="error" role="alert" { (what) } p id="todo" { (todo) } } };
    layout(title, None, None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_from_outside() {
        assert_eq!(escape("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;'&amp;");
        let page = message_page("t", "<script>", "x");
        assert!(!page.contains("<script>"));
        let form = form_page(&FormPage {
            account_id: "a\"><script>",
            redirect_url: "r",
            action: "/x",
            csrf: "c",
            app_id: Some("\"onfocus=".into()),
            notice: None,
            state: None,
        });
        assert!(!form.contains("<script>") && !form.contains("\"onfocus="));
    }
}
