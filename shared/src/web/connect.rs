//! Routes of the `connect` function: the connect page, activation, the OAuth callback,
//! disconnect, and the status JSON.

use super::confirm_page;
use super::connected::{self, ConnectedPage};
use super::cookie::{AdminCookie, CookieSigner, COOKIE_NAME, MAX_AGE_SECS};
use super::http::{form_value, HttpRequest, HttpResponse};
use super::pages::{self, FormPage};
use crate::domain::{AccountId, ConnectionState};
use crate::secrets::SecretString;
use crate::services::connect::{ActionOutcome, ConnectError, ConnectService, ConnectedView};
use serde_json::json;

/// Everything the connect routes need.
pub struct ConnectApp {
    /// The use cases.
    pub service: ConnectService,
    /// Admin cookie signer.
    pub signer: CookieSigner,
    /// Token the Hub presents to read the status.
    pub status_token: SecretString,
    /// Whether cookies get `Secure` (when `PUBLIC_BASE_URL` is https).
    pub secure_cookies: bool,
    /// The Hub admin's origins that may show the pages in an iframe (`HUB_ADMIN_ORIGINS`); empty:
    /// the pages refuse every frame.
    pub frame_ancestors: Vec<String>,
}

/// Routes one request; its pages may be framed by the Hub's admin when it is configured.
pub async fn handle(app: &ConnectApp, req: &HttpRequest) -> HttpResponse {
    route(app, req).await.framed_by(&app.frame_ancestors)
}

async fn route(app: &ConnectApp, req: &HttpRequest) -> HttpResponse {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let method = req.method.as_str();
    let result = match (method, segments.as_slice()) {
        ("GET", ["nhanhvn", "connect", "callback", app_id, account]) => {
            with_account(account, |a| callback(app, req, a, app_id)).await
        }
        ("POST", ["nhanhvn", "connect", "callback", app_id, account]) => {
            with_account(account, |a| confirm(app, req, a, app_id)).await
        }
        ("GET", ["nhanhvn", "connect", account]) => with_account(account, |a| page(app, req, a)).await,
        ("POST", ["nhanhvn", "connect", account]) => with_account(account, |a| activate(app, req, a)).await,
        ("POST", ["nhanhvn", "connect", account, "disconnect"]) => {
            with_account(account, |a| disconnect(app, req, a)).await
        }
        ("POST", ["nhanhvn", "connect", account, "retry"]) => with_account(account, |a| retry(app, req, a)).await,
        ("POST", ["nhanhvn", "connect", account, "sync"]) => with_account(account, |a| sync_now(app, req, a)).await,
        ("POST", ["nhanhvn", "connect", account, "dead-letters", "retry"]) => {
            with_account(account, |a| retry_dead_letter(app, req, a)).await
        }
        ("GET", ["nhanhvn", "connections", account]) => return status(app, req, account).await,
        ("GET", ["nhanhvn", "connections"]) => return super::fleet::fleet(&app.service, &app.status_token, req).await,
        (_, ["nhanhvn", "connect", ..]) | (_, ["nhanhvn", "connections", ..]) => {
            return HttpResponse::html(
                405,
                pages::message_page(
                    "Không hỗ trợ",
                    "Phương thức này không được hỗ trợ.",
                    "Mở trang kết nối từ Loyalty Hub.",
                ),
            )
        }
        _ => {
            return HttpResponse::html(
                404,
                pages::message_page("Không tìm thấy", "Không có trang này.", "Mở trang kết nối từ Loyalty Hub."),
            )
        }
    };
    result.unwrap_or_else(|e| error_page(&e))
}

async fn with_account<F, Fut>(raw: &str, f: F) -> Result<HttpResponse, ConnectError>
where
    F: FnOnce(AccountId) -> Fut,
    Fut: std::future::Future<Output = Result<HttpResponse, ConnectError>>,
{
    let account =
        AccountId::parse(raw).map_err(|_| ConnectError::Invalid("Account Id trong đường dẫn không hợp lệ.".into()))?;
    f(account).await
}

fn admin_cookie(app: &ConnectApp, req: &HttpRequest, account: &AccountId) -> Result<AdminCookie, ConnectError> {
    let cookie = req
        .cookie(COOKIE_NAME)
        .and_then(|v| app.signer.verify(&v, app.service.clock.now()))
        .ok_or(ConnectError::SessionInvalid)?;
    if &cookie.account_id != account {
        return Err(ConnectError::SessionInvalid);
    }
    Ok(cookie)
}

fn checked_form(
    app: &ConnectApp,
    req: &HttpRequest,
    account: &AccountId,
) -> Result<(AdminCookie, Vec<(String, String)>), ConnectError> {
    let cookie = admin_cookie(app, req, account)?;
    let form = req.form();
    let csrf = form_value(&form, &["csrf_token", "csrf"]).unwrap_or_default();
    if !app.signer.csrf_ok(&cookie, csrf) {
        return Err(ConnectError::Csrf);
    }
    Ok((cookie, form))
}

fn page_path(account: &AccountId) -> String {
    format!("/nhanhvn/connect/{}", account.as_str())
}

async fn page(app: &ConnectApp, req: &HttpRequest, account: AccountId) -> Result<HttpResponse, ConnectError> {
    if let Some(token) = req.query("session") {
        let session = app.service.admin_session(&account, &SecretString::new(token)).await?;
        let now = app.service.clock.now();
        let mut expires_at = now + time::Duration::seconds(MAX_AGE_SECS);
        if let Some(session_end) = session.expires_at {
            expires_at = expires_at.min(session_end);
        }
        let value = app.signer.issue(&account, &session.user_id, expires_at);
        let max_age = (expires_at - now).whole_seconds().max(1);
        tracing::info!(account_id = account.as_str(), user_id = session.user_id.as_str(), "admin session accepted");
        // In the Hub admin's iframe the cookie is a third party's: `SameSite=None` to be sent at
        // all, `Partitioned` (CHIPS) so browsers that block third-party cookies keep it, for that
        // admin site only. The forms' CSRF tokens guard what `Lax` guarded.
        let framed = !app.frame_ancestors.is_empty();
        let cookie = cookie::Cookie::build((COOKIE_NAME, value))
            .path("/nhanhvn")
            .http_only(true)
            .same_site(if framed { cookie::SameSite::None } else { cookie::SameSite::Lax })
            .max_age(time::Duration::seconds(max_age))
            .secure(app.secure_cookies || framed)
            .partitioned(framed)
            .build();
        return Ok(HttpResponse::redirect(&page_path(&account)).with_header("set-cookie", cookie.to_string()));
    }
    let cookie = admin_cookie(app, req, &account)?;
    let csrf = app.signer.csrf_token(&cookie);
    if let Some(view) = app.service.connected_view(&account).await? {
        return connected(app, &account, &view, &csrf, action_notice(req.query("done"))).await;
    }
    let conn = app.service.connection(&account).await?;
    let notice = conn.as_ref().filter(|c| c.state == ConnectionState::Disconnected).map(|c| {
        let why = match c.disconnect_reason.as_deref() {
            Some(crate::services::connect::APP_UNINSTALLED) => " vì ứng dụng đã bị gỡ khỏi Nhanh.vn (appUninstalled)",
            _ => "",
        };
        // Issue 24: what is kept, and until when.
        let kept = c.data_kept_until.map(super::format::vn_time).map_or_else(String::new, |until| {
            format!(
                " Secret Key và mã truy cập Nhanh.vn đã được xoá. Bảng liên kết mã và bản chụp đơn hàng \
                 được giữ đến {until} để kết nối lại không tạo trùng; sau đó chúng bị xoá."
            )
        });
        format!(
            "Đã ngừng kết nối lúc {}{why}. Dữ liệu trong thời gian ngừng kết nối sẽ không được đồng bộ.{kept}",
            c.disconnected_at.map(super::format::vn_time).unwrap_or_default()
        )
    });
    let state = conn.as_ref().map(|c| c.state).filter(|s| *s == ConnectionState::Disconnected);
    Ok(form(app, &account, &csrf, conn.map(|c| c.app_id.to_string()), notice, state))
}

fn form(
    app: &ConnectApp,
    account: &AccountId,
    csrf: &str,
    app_id: Option<String>,
    notice: Option<String>,
    state: Option<ConnectionState>,
) -> HttpResponse {
    let redirect_url = app.service.urls.callback("{app_id}", account);
    HttpResponse::html(
        200,
        pages::form_page(&FormPage {
            account_id: account.as_str(),
            redirect_url: &redirect_url,
            action: &page_path(account),
            csrf,
            app_id,
            notice,
            state,
        }),
    )
}

/// The connected page, from the same [`crate::services::status::Status`] as the status JSON.
async fn connected(
    app: &ConnectApp,
    account: &AccountId,
    view: &ConnectedView,
    csrf: &str,
    notice: Option<&str>,
) -> Result<HttpResponse, ConnectError> {
    let status = app.service.status(account).await?.ok_or(ConnectError::NotConnected)?;
    let c = &view.connection;
    let path = page_path(account);
    let redirect_url = app.service.urls.callback("{app_id}", account);
    let reconnect = (c.state == ConnectionState::NeedsReauth || c.api_version != crate::nhanh::NEW_CONNECTION_VERSION)
        .then(|| FormPage {
            account_id: account.as_str(),
            redirect_url: &redirect_url,
            action: &path,
            csrf,
            app_id: Some(c.app_id.to_string()),
            notice: None,
            state: None,
        });
    let html = connected::connected_page(&ConnectedPage {
        status: &status,
        verify_token: view.verify_token.expose(),
        csrf,
        path: &path,
        reconnect,
        notice,
        webhook_events: app.service.nhanh.facts(c.api_version).webhook_events,
        now: app.service.clock.now(),
    });
    Ok(HttpResponse::html(200, html))
}

/// The notices an action redirects to (`?done=…`), by name: no text travels in the URL.
fn action_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "connected" => Some("Đã kết nối. Đồng bộ lần đầu bắt đầu ngay."),
        "retry" => Some("Đã đưa bản ghi vào hàng đợi để đồng bộ lại."),
        "sync" => Some("Đã bắt đầu đồng bộ lại. Trang tự cập nhật khi có tiến triển."),
        "too-soon" => Some("Vừa đồng bộ lại cách đây ít phút; hãy thử lại sau."),
        "retry-too-soon" => Some("Bản ghi này vừa được thử lại; hãy đợi một phút rồi thử lại."),
        "gone" => Some("Bản ghi này không còn trong hàng đợi lỗi (có thể đã được thử lại)."),
        _ => None,
    }
}

/// The **Thử lại** form of a failure.
#[derive(serde::Deserialize)]
struct RetryForm {
    entity: String,
    record: String,
}

async fn retry(app: &ConnectApp, req: &HttpRequest, account: AccountId) -> Result<HttpResponse, ConnectError> {
    checked_form(app, req, &account)?;
    let form: RetryForm = serde_urlencoded::from_bytes(&req.body)
        .map_err(|_| ConnectError::Invalid("Thiếu bản ghi cần thử lại.".into()))?;
    let done = match app.service.retry_failure(&account, &form.entity, &form.record).await? {
        ActionOutcome::Queued => "retry",
        ActionOutcome::TooSoon => "retry-too-soon",
    };
    Ok(HttpResponse::redirect(&format!("{}?done={done}", page_path(&account))))
}

/// The **Thử lại** form of a dead letter.
#[derive(serde::Deserialize)]
struct DeadLetterForm {
    message_id: String,
}

async fn retry_dead_letter(
    app: &ConnectApp,
    req: &HttpRequest,
    account: AccountId,
) -> Result<HttpResponse, ConnectError> {
    checked_form(app, req, &account)?;
    let form: DeadLetterForm = serde_urlencoded::from_bytes(&req.body)
        .map_err(|_| ConnectError::Invalid("Thiếu bản ghi cần thử lại.".into()))?;
    let done = if app.service.retry_dead_letter(&account, &form.message_id).await? { "retry" } else { "gone" };
    Ok(HttpResponse::redirect(&format!("{}?done={done}", page_path(&account))))
}

async fn sync_now(app: &ConnectApp, req: &HttpRequest, account: AccountId) -> Result<HttpResponse, ConnectError> {
    checked_form(app, req, &account)?;
    let done = match app.service.pass_now(&account).await? {
        ActionOutcome::Queued => "sync",
        ActionOutcome::TooSoon => "too-soon",
    };
    Ok(HttpResponse::redirect(&format!("{}?done={done}", page_path(&account))))
}

/// The activation form (the camelCase names Nhanh's own pages use are accepted too).
#[derive(serde::Deserialize)]
struct ActivateForm {
    #[serde(default, alias = "appId")]
    app_id: String,
    #[serde(default, alias = "secretKey")]
    secret_key: String,
}

async fn activate(app: &ConnectApp, req: &HttpRequest, account: AccountId) -> Result<HttpResponse, ConnectError> {
    let (cookie, _) = checked_form(app, req, &account)?;
    let form: ActivateForm = serde_urlencoded::from_bytes(&req.body)
        .map_err(|_| ConnectError::Invalid("Biểu mẫu không đọc được.".into()))?;
    let url = app.service.begin(&account, &cookie.user_id, &form.app_id, &form.secret_key).await?;
    Ok(HttpResponse::redirect(&url))
}

/// The callback Nhanh redirects to: the access code is exchanged and the business shown for the
/// admin who started the attempt to confirm (nothing is connected yet).
async fn callback(
    app: &ConnectApp,
    req: &HttpRequest,
    account: AccountId,
    app_id: &str,
) -> Result<HttpResponse, ConnectError> {
    let cookie = admin_cookie(app, req, &account)?;
    let code = req.query("accessCode").unwrap_or_default();
    let confirmation = app.service.exchange(&account, app_id, code, &cookie.user_id).await?;
    let html = confirm_page::confirm_page(&confirm_page::ConfirmPage {
        confirmation: &confirmation,
        account_id: account.as_str(),
        action: &format!("/nhanhvn/connect/callback/{}/{}", confirmation.app_id, account.as_str()),
        page_path: &page_path(&account),
        csrf: &app.signer.csrf_token(&cookie),
    });
    Ok(HttpResponse::html(200, html))
}

/// **Xác nhận kết nối**: the confirming admin's POST claims the business; then the connected page.
async fn confirm(
    app: &ConnectApp,
    req: &HttpRequest,
    account: AccountId,
    app_id: &str,
) -> Result<HttpResponse, ConnectError> {
    let (cookie, _) = checked_form(app, req, &account)?;
    app.service.confirm(&account, app_id, &cookie.user_id).await?;
    Ok(HttpResponse::redirect(&format!("{}?done=connected", page_path(&account))))
}

async fn disconnect(app: &ConnectApp, req: &HttpRequest, account: AccountId) -> Result<HttpResponse, ConnectError> {
    checked_form(app, req, &account)?;
    app.service.disconnect(&account).await?;
    Ok(HttpResponse::redirect(&page_path(&account)))
}

async fn status(app: &ConnectApp, req: &HttpRequest, raw_account: &str) -> HttpResponse {
    let err = |status: u16, code: &str, message: &str| {
        HttpResponse::json(status, &json!({"error": {"code": code, "message": message}}))
    };
    let Ok(account) = AccountId::parse(raw_account) else {
        return err(400, "bad_request", "invalid account id");
    };
    if !super::fleet::by_operator_token(&app.status_token, req) && admin_cookie(app, req, &account).is_err() {
        return err(401, "unauthorized", "the status token or an admin session is required");
    }
    match app.service.status(&account).await {
        Ok(Some(status)) => HttpResponse::json(200, &status),
        Ok(None) => err(404, "not_found", "this account has never connected a Nhanh business"),
        Err(e) => {
            tracing::error!(account_id = account.as_str(), error = %e, "status read failed");
            err(503, "unavailable", "try again")
        }
    }
}

fn stream_label(stream: &str) -> &'static str {
    match stream {
        "products" => "sản phẩm (products)",
        "product_groups" => "nhóm sản phẩm (product_groups)",
        "orders" => "đơn hàng (orders)",
        "customers" => "khách hàng (customers)",
        _ => "khác",
    }
}

/// The page of a refusal: status, what happened, what to do.
pub fn error_page(e: &ConnectError) -> HttpResponse {
    let again = "Quay lại trang kết nối và bấm Kích hoạt lại.";
    let (status, title, what, todo): (u16, &str, String, &str) = match e {
        ConnectError::SessionInvalid => (401, "Cần đăng nhập", "Phiên quản trị không hợp lệ hoặc đã hết hạn.".into(), "Mở lại trang kết nối từ màn hình Cổng kết nối dữ liệu của Loyalty Hub."),
        ConnectError::Csrf => (403, "Yêu cầu bị từ chối", "Biểu mẫu đã hết hạn hoặc không hợp lệ (CSRF).".into(), "Tải lại trang kết nối rồi thử lại."),
        ConnectError::NotAdmin => (403, "Không có quyền", "Chỉ quản trị viên (admin) của tài khoản này mới được kết nối hoặc ngừng kết nối.".into(), "Đăng nhập Loyalty Hub bằng tài khoản admin rồi mở lại trang này."),
        ConnectError::Invalid(m) => (400, "Dữ liệu không hợp lệ", m.clone(), "Kiểm tra lại thông tin rồi thử lại."),
        ConnectError::Frozen => (409, "Đang đồng bộ lần đầu", "Đang chạy đồng bộ lần đầu nên không thể thay đổi App Id hoặc Secret Key.".into(), "Chờ đồng bộ lần đầu hoàn tất rồi thử lại."),
        ConnectError::NotAttemptOwner => (403, "Không phải yêu cầu của bạn", "Yêu cầu kết nối này do một quản trị viên khác bắt đầu; chỉ người đó mới xác nhận được.".into(), "Nếu bạn muốn kết nối, quay lại trang kết nối và bấm Kích hoạt."),
        ConnectError::NoPendingAttempt => (400, "Không có yêu cầu kết nối", "Không tìm thấy yêu cầu kết nối đang chờ cho App Id này (hoặc đã quá 10 phút).".into(), again),
        ConnectError::CodeRejected(m) => (400, "Nhanh.vn từ chối", format!("Nhanh.vn từ chối mã truy cập (accessCode): {m}. Mã chỉ dùng được một lần trong 10 phút, và Secret Key phải đúng."), "Kiểm tra Secret Key, quay lại trang kết nối và bấm Kích hoạt lại."),
        ConnectError::StreamsDenied(streams) => (403, "Thiếu quyền", format!("Ứng dụng chưa được cấp quyền đọc: {}.", streams.iter().map(|s| stream_label(s)).collect::<Vec<_>>().join(", ")), "Trên trang cấp quyền của Nhanh.vn, chọn đủ các quyền này (bằng tài khoản có quyền đó) rồi kết nối lại."),
        ConnectError::BusinessTaken => (409, "Doanh nghiệp đã được kết nối", "Doanh nghiệp Nhanh.vn này đã được kết nối với một tài khoản Loyalty Hub khác. Mỗi doanh nghiệp chỉ kết nối với một tài khoản.".into(), "Ngừng kết nối ở tài khoản đang dùng doanh nghiệp này trước, hoặc chọn doanh nghiệp khác."),
        ConnectError::OtherBusinessConnected => (409, "Tài khoản đang kết nối doanh nghiệp khác", "Tài khoản này đang kết nối với một doanh nghiệp Nhanh.vn khác.".into(), "Ngừng kết nối hiện tại trước rồi kết nối doanh nghiệp mới."),
        ConnectError::NotConnected => (409, "Chưa kết nối", "Tài khoản này chưa kết nối với Nhanh.vn.".into(), "Mở trang kết nối để kết nối."),
        ConnectError::Upstream(err) => {
            tracing::error!(error = %err, retryable = err.is_retryable(), "connect step failed");
            let status = if err.is_retryable() { 503 } else { 502 };
            (status, "Tạm thời không thực hiện được", "Nhanh.vn, Loyalty Hub hoặc kho dữ liệu không phản hồi; chưa có gì được lưu.".into(), "Thử lại sau ít phút.")
        }
    };
    HttpResponse::html(status, pages::message_page(title, &what, todo))
}
