//! The connect pages: plain HTML forms, Vietnamese, no JavaScript.

use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Kết nối Nhanh.vn</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
code{{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}}label{{display:block;margin-top:.8rem}}\
input[type=text],input[type=password]{{width:100%;padding:.4rem}}button{{margin-top:1rem;padding:.5rem 1rem}}\
.warn{{background:#fff4e5;padding:.6rem}}.err{{background:#fdecea;padding:.6rem}}</style></head>\
<body><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title)
    )
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

/// The page with the activation form (App Id, Secret Key, **Kích hoạt**).
pub fn form_page(p: &FormPage<'_>) -> String {
    let mut body = String::new();
    if let Some(notice) = &p.notice {
        let _ = write!(body, "<p class=\"warn\" id=\"notice\">{}</p>", escape(notice));
    }
    let _ = write!(
        body,
        "<p>Tài khoản Loyalty Hub (Account Id): <code id=\"account-id\">{account}</code></p>\
<p>1. Trên <a href=\"https://open.nhanh.vn\">open.nhanh.vn</a>, tạo ứng dụng với Redirect URL:<br>\
<code id=\"redirect-url\">{redirect}</code><br>(thay <code>{{app_id}}</code> bằng App Id của ứng dụng).</p>\
<p>2. Nhập App Id và Secret Key của ứng dụng rồi bấm <b>Kích hoạt</b>. Bạn sẽ được chuyển sang Nhanh.vn để cấp quyền.</p>\
<form method=\"post\" action=\"{action}\" id=\"connect-form\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<label for=\"app_id\">App Id</label><input type=\"text\" id=\"app_id\" name=\"app_id\" inputmode=\"numeric\" required value=\"{app}\">\
<label for=\"secret_key\">Secret Key</label><input type=\"password\" id=\"secret_key\" name=\"secret_key\" required autocomplete=\"off\">\
<button type=\"submit\" id=\"activate\">Kích hoạt</button></form>",
        account = escape(p.account_id),
        redirect = escape(p.redirect_url),
        action = escape(p.action),
        csrf = escape(p.csrf),
        app = escape(p.app_id.as_deref().unwrap_or_default()),
    );
    layout("Kết nối Nhanh.vn", &body)
}

/// What the connected page shows.
pub struct ConnectedPage<'a> {
    /// The Hub account.
    pub account_id: &'a str,
    /// The Nhanh business.
    pub business_id: String,
    /// The app.
    pub app_id: String,
    /// Start of the connected period.
    pub connected_at: String,
    /// Token expiry.
    pub token_expires_at: String,
    /// Whether the token expires within 30 days.
    pub token_warning: bool,
    /// Whether the connection needs a new consent.
    pub needs_reauth: bool,
    /// Whether Nhanh confirmed webhooks.
    pub webhooks_live: bool,
    /// The webhook callback URL.
    pub webhook_url: &'a str,
    /// The verify token.
    pub verify_token: &'a str,
    /// Where the disconnect form posts.
    pub disconnect_action: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// State name.
    pub state: &'a str,
    /// The Nhanh API version the connection speaks (`2.0`, `3.0`).
    pub api_version: &'a str,
    /// Whether it speaks an older version than new connections (a v2 connection may move).
    pub outdated_version: bool,
}

/// The connected page: **Đã kết nối**, webhook URL and verify token, **Ngừng kết nối**.
pub fn connected_page(p: &ConnectedPage<'_>) -> String {
    let mut body = String::new();
    if p.needs_reauth {
        body.push_str("<p class=\"err\" id=\"needs-reauth\">Nhanh.vn đã từ chối mã truy cập: đồng bộ tạm dừng, các thay đổi vẫn được giữ lại. Hãy kết nối lại (nhập App Id và Secret Key rồi bấm Kích hoạt).</p>");
    }
    if p.outdated_version {
        let _ = write!(body, "<p class=\"warn\" id=\"version-warning\">Kết nối này dùng Nhanh API v{} — Nhanh đã ngừng hỗ trợ API v2 từ 30/11/2026. \
Hãy chuyển sang API v3: nhập lại App Id và Secret Key bên dưới rồi bấm Kích hoạt và đồng ý trên Nhanh.vn. \
Thời điểm kết nối, dữ liệu đã đồng bộ và verify token được giữ nguyên; trên open.nhanh.vn hãy chọn Webhooks version 3.0.</p>", escape(p.api_version));
    }
    if p.token_warning {
        let _ = write!(body, "<p class=\"warn\" id=\"token-warning\">Mã truy cập Nhanh.vn sẽ hết hạn lúc {}. Hãy kết nối lại trước thời điểm này.</p>", escape(&p.token_expires_at));
    }
    let _ = write!(
        body,
        "<p id=\"status\"><b>Đã kết nối</b> (trạng thái: <code id=\"state\">{state}</code>)</p>\
<ul><li>Account Id: <code id=\"account-id\">{account}</code></li>\
<li>Nhanh Business Id: <code id=\"business-id\">{business}</code></li>\
<li>App Id: <code id=\"app-id\">{app}</code></li>\
<li>Nhanh API: <code id=\"api-version\">{version}</code></li>\
<li>Kết nối lúc: <code id=\"connected-at\">{connected}</code></li>\
<li>Mã truy cập hết hạn: <code id=\"token-expires-at\">{expires}</code></li>\
<li>Webhooks: <span id=\"webhooks-live\">{live}</span></li></ul>\
<h2>Cấu hình webhooks trên open.nhanh.vn</h2>\
<p>Webhooks callback URL:<br><code id=\"webhook-url\">{webhook}</code></p>\
<p>Webhooks verify token:<br><code id=\"verify-token\">{verify}</code></p>\
<p id=\"webhook-events\">Chọn Webhooks version {version}, các sự kiện: đơn hàng (thêm, sửa, xóa) và sản phẩm (thêm, sửa, xóa), bật \"Enable webhooks\" rồi lưu.</p>\
<form method=\"post\" action=\"{action}\" id=\"disconnect-form\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<button type=\"submit\" id=\"disconnect\">Ngừng kết nối</button></form>",
        state = escape(p.state),
        account = escape(p.account_id),
        business = escape(&p.business_id),
        app = escape(&p.app_id),
        connected = escape(&p.connected_at),
        expires = escape(&p.token_expires_at),
        live = if p.webhooks_live { "đang hoạt động" } else { "chưa nhận được sự kiện bật webhooks" },
        webhook = escape(p.webhook_url),
        verify = escape(p.verify_token),
        action = escape(p.disconnect_action),
        csrf = escape(p.csrf),
        version = escape(p.api_version),
    );
    layout("Đã kết nối Nhanh.vn", &body)
}

/// A refusal or error page: what happened and what to do.
pub fn message_page(title: &str, what: &str, todo: &str) -> String {
    layout(title, &format!("<p class=\"err\" id=\"error\">{}</p><p id=\"todo\">{}</p>", escape(what), escape(todo)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_from_outside() {
        assert_eq!(escape("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
        let page = message_page("t", "<script>", "x");
        assert!(!page.contains("<script>"));
    }
}
