//! The connect pages, server-rendered in Vietnamese with `maud` (every value is escaped by
//! construction), usable without JavaScript: the page shell, the activation form and the refusal
//! page; the connected page is [`super::connected`].

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Escapes text for HTML content and attribute values (for the rare text built outside `maud`).
pub fn escape(raw: &str) -> String {
    html! { (raw) }.into_string()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}\
code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}label{display:block;margin-top:.8rem}\
input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:.6rem;padding:.5rem 1rem}\
.warn{background:#fff4e5;padding:.6rem}.err{background:#fdecea;padding:.6rem}.ok{background:#e8f5e9;padding:.6rem}\
table{border-collapse:collapse;width:100%;font-size:.95rem}th,td{text-align:left;padding:.3rem;border-bottom:1px solid #ddd}\
td.n{text-align:right}progress{width:100%;height:1.2rem}.row{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}\
.actions form{display:inline-block;margin-right:.5rem}details{font-size:.9rem;color:#555}\
@media(max-width:36rem){th:nth-child(4),td:nth-child(4),th:nth-child(5),td:nth-child(5){display:none}}";

/// Copies the text of `data-copy`'s element; without JavaScript the text stays selectable.
pub(super) const COPY_SCRIPT: &str =
    "document.querySelectorAll('button[data-copy]').forEach(function(b){b.hidden=false;\
b.addEventListener('click',function(){var t=document.getElementById(b.dataset.copy).textContent;\
if(navigator.clipboard){navigator.clipboard.writeText(t).then(function(){b.textContent='Đã sao chép';});}});});";

/// The page shell: Vietnamese, the one stylesheet, `title` as the heading.
pub(super) fn layout(title: &str, refresh_secs: Option<u32>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(secs) = refresh_secs { meta http-equiv="refresh" content=(secs); }
                title { (title) " · Kết nối Nhanh.vn" }
                style { (PreEscaped(STYLE)) }
            }
            body { h1 { (title) } (body) }
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
}

pub(super) fn activation_form(p: &FormPage<'_>) -> Markup {
    html! {
        form method="post" action=(p.action) id="connect-form" {
            input type="hidden" name="csrf_token" value=(p.csrf);
            label for="app_id" { "App Id" }
            input type="text" id="app_id" name="app_id" inputmode="numeric" required value=(p.app_id.as_deref().unwrap_or_default());
            label for="secret_key" { "Secret Key" }
            input type="password" id="secret_key" name="secret_key" required autocomplete="off";
            button type="submit" id="activate" { "Kích hoạt" }
        }
    }
}

/// The page with the activation form (App Id, Secret Key, **Kích hoạt**).
pub fn form_page(p: &FormPage<'_>) -> String {
    let body = html! {
        @if let Some(notice) = &p.notice { p.warn id="notice" { (notice) } }
        p { "Tài khoản Loyalty Hub (Account Id): " code id="account-id" { (p.account_id) } }
        p {
            "1. Trên " a href="https://open.nhanh.vn" { "open.nhanh.vn" } ", tạo ứng dụng với Redirect URL:" br;
            code id="redirect-url" { (p.redirect_url) } br;
            "(thay " code { "{app_id}" } " bằng App Id của ứng dụng)."
        }
        p { "2. Nhập App Id và Secret Key của ứng dụng rồi bấm " b { "Kích hoạt" } ". Bạn sẽ được chuyển sang Nhanh.vn để cấp quyền." }
        (activation_form(p))
    };
    layout("Kết nối Nhanh.vn", None, body)
}

/// A refusal or error page: what happened and what to do.
pub fn message_page(title: &str, what: &str, todo: &str) -> String {
    layout(title, None, html! { p.err id="error" { (what) } p id="todo" { (todo) } })
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
        });
        assert!(!form.contains("<script>") && !form.contains("\"onfocus="));
    }
}
