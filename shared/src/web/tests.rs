//! The connect routes and service in-process, over the in-memory stores and the fake Nhanh and
//! Hub: the rules the end-to-end suite checks on the full stack (R1, R4, admin only, CSRF, the
//! signed cookie, the status's two ways in), in milliseconds.

use super::connect::{handle, ConnectApp};
use super::cookie::{CookieSigner, COOKIE_NAME};
use super::http::{HttpRequest, HttpResponse};
use crate::clock::FixedClock;
use crate::domain::{AccountId, ApiVersion, BusinessId, ConnectionState};
use crate::hub::HubSession;
use crate::nhanh::TokenGrant;
use crate::queue::memory::MemoryQueue;
use crate::secrets::local::LocalSecretBox;
use crate::secrets::SecretString;
use crate::services::connect::{ConnectService, Urls};
use crate::store::memory::MemoryStore;
use crate::store::ConnectionStore;
use crate::testing::fakes::{FakeHub, FakeNhanh};
use crate::testing::TEST_KEY_HEX;
use std::sync::Arc;
use time::OffsetDateTime;

const STATUS_TOKEN: &str = "status-api-token-of-the-hubs-operators";
const SECRET_KEY: &str = "app-secret-key-value";

struct World {
    app: ConnectApp,
    nhanh: Arc<FakeNhanh>,
    hub: Arc<FakeHub>,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
}

fn world() -> World {
    let now = OffsetDateTime::from_unix_timestamp(1_795_850_000).unwrap();
    let (store, nhanh, hub, queue) = (
        Arc::new(MemoryStore::default()),
        Arc::new(FakeNhanh::default()),
        Arc::new(FakeHub::default()),
        Arc::new(MemoryQueue::default()),
    );
    let service = ConnectService {
        connections: store.clone(),
        pending: store.clone(),
        stats: store.clone(),
        failures: store.clone(),
        cursors: store.clone(),
        backlog: store.clone(),
        outages: store.clone(),
        dead_letters: Some(Arc::new(crate::queue::dead_letters::TableDeadLetters {
            store: store.clone(),
            work: queue.clone(),
        })),
        queue: Some(queue.clone()),
        nhanh: nhanh.clone(),
        hub: hub.clone(),
        secrets: Arc::new(LocalSecretBox::from_key_text(TEST_KEY_HEX).unwrap()),
        clock: Arc::new(FixedClock(now)),
        urls: Urls { public_base_url: "https://connector.example".into() },
        data_retention: crate::services::connect::DEFAULT_DATA_RETENTION,
        fleet: store.clone(),
    };
    let app = ConnectApp {
        service,
        signer: CookieSigner::new(&SecretString::new("cookie-secret")),
        status_token: SecretString::new(STATUS_TOKEN),
        secure_cookies: true,
        frame_ancestors: Vec::new(),
    };
    World { app, nhanh, hub, store, queue }
}

impl World {
    fn session(&self, token: &str, account: &str, role: &str) {
        let session = HubSession {
            account_id: AccountId::parse(account).unwrap(),
            user_id: format!("u-{token}"),
            role: role.into(),
            expires_at: None,
        };
        self.hub.sessions.lock().unwrap().insert(token.into(), session);
    }

    fn grant(&self, business: u64) {
        *self.nhanh.grant.lock().unwrap() = Some(TokenGrant {
            access_token: SecretString::new(format!("access-{business}")),
            business_id: BusinessId::new(business).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_827_000_000).unwrap(),
            depot_ids: vec![],
            permissions: vec![],
            api_version: ApiVersion::V3,
        });
    }

    async fn send(&self, method: &str, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> HttpResponse {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = vec![];
        if let Some(c) = cookie {
            headers.push(("cookie".to_owned(), format!("{COOKIE_NAME}={c}")));
        }
        let body = serde_urlencoded::to_string(form).unwrap().into_bytes();
        if !form.is_empty() {
            headers.push(("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()));
        }
        let request = HttpRequest {
            method: method.into(),
            path: path.into(),
            query: serde_urlencoded::from_str(query).unwrap(),
            headers,
            body,
        };
        handle(&self.app, &request).await
    }

    /// Opens the page with a Hub session: the signed cookie, and the page's CSRF token.
    async fn admin(&self, account: &str, token: &str) -> (String, String) {
        let landed = self.send("GET", &format!("/nhanhvn/connect/{account}?session={token}"), None, &[]).await;
        assert_eq!(landed.status, 303, "{}", landed.body);
        let set = header(&landed, "set-cookie").unwrap();
        assert!(set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Lax"), "{set}");
        let cookie = set.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
        let page = self.send("GET", &format!("/nhanhvn/connect/{account}"), Some(&cookie), &[]).await;
        assert_eq!(page.status, 200);
        (cookie, csrf_of(&page.body))
    }

    /// Account 385's admin connects app 7001 to `business`; the admin's cookie and form token.
    async fn connected_385(&self, business: u64) -> (String, String) {
        self.session("t-admin", "385", "admin");
        self.grant(business);
        let (cookie, csrf) = self.admin("385", "t-admin").await;
        assert_eq!(self.connect("385", &cookie, &csrf, "7001").await.status, 200);
        (cookie, csrf)
    }

    /// Presses **Thử lại** on the record `entity`/`record` of account 385 with the form token `csrf`.
    async fn retry(&self, cookie: &str, csrf: &str, entity: &str, record: &str) -> HttpResponse {
        let form = [("csrf_token", csrf), ("entity", entity), ("record", record)];
        self.send("POST", "/nhanhvn/connect/385/retry", Some(cookie), &form).await
    }

    /// The access token `account`'s connection holds, opened with the world's secret box.
    async fn access_token_of(&self, account: &AccountId) -> SecretString {
        use crate::secrets::{seal_context, SealedField};
        let conn = self.store.get(account).await.unwrap().unwrap();
        let context = seal_context(account, SealedField::AccessToken);
        self.app.service.secrets.open(conn.access_token_sealed.as_deref().unwrap(), &context).await.unwrap()
    }

    /// Presses **Thử lại** on the dead letter `id` of account 385 with the form token `csrf`.
    async fn retry_dead_letter(&self, cookie: &str, csrf: &str, id: &str) -> HttpResponse {
        let form = [("csrf_token", csrf), ("message_id", id)];
        self.send("POST", "/nhanhvn/connect/385/dead-letters/retry", Some(cookie), &form).await
    }

    /// Activates, opens the callback (the confirmation) and confirms as the same admin; the
    /// connected page, or the first answer that is not a step forward.
    async fn connect(&self, account: &str, cookie: &str, csrf: &str, app_id: &str) -> HttpResponse {
        let form = [("csrf_token", csrf), ("app_id", app_id), ("secret_key", SECRET_KEY)];
        let started = self.send("POST", &format!("/nhanhvn/connect/{account}"), Some(cookie), &form).await;
        if started.status != 303 {
            return started;
        }
        assert!(header(&started, "location").unwrap().contains(&format!("appId={app_id}")));
        let callback = format!("/nhanhvn/connect/callback/{app_id}/{account}");
        let shown = self.send("GET", &format!("{callback}?accessCode=c1"), Some(cookie), &[]).await;
        if shown.status != 200 {
            return shown;
        }
        let confirmed = self.send("POST", &callback, Some(cookie), &[("csrf_token", &csrf_of(&shown.body))]).await;
        if confirmed.status != 303 {
            return confirmed;
        }
        let page = header(&confirmed, "location").unwrap().to_owned();
        self.send("GET", &page, Some(cookie), &[]).await
    }
}

fn header<'a>(r: &'a HttpResponse, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf_token\"").expect("a CSRF field");
    let value = &html[at..];
    let start = value.find("value=\"").unwrap() + 7;
    value[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_admin_connects_and_the_page_and_status_never_show_the_secret_key() {
    let w = world();
    w.session("t-admin", "385", "admin");
    w.grant(88_001);
    let (cookie, csrf) = w.admin("385", "t-admin").await;
    let connected = w.connect("385", &cookie, &csrf, "7001").await;
    assert_eq!(connected.status, 200, "{}", connected.body);
    assert!(connected.body.contains("https://connector.example/nhanhvn/hook/7001"));
    let conn = w.store.get(&AccountId::parse("385").unwrap()).await.unwrap().unwrap();
    assert_eq!((conn.state, conn.api_version), (ConnectionState::Syncing, ApiVersion::V3));
    assert_eq!(w.queue.messages().len(), 1, "the first pass is queued");
    let by_token = HttpRequest {
        method: "GET".into(),
        path: "/nhanhvn/connections/385".into(),
        query: vec![],
        headers: vec![("authorization".into(), format!("TOKEN {STATUS_TOKEN}"))],
        body: vec![],
    };
    let status = handle(&w.app, &by_token).await;
    assert_eq!(status.status, 200);
    let json: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(json["business_id"], 88_001);
    for body in [&connected.body, &status.body] {
        assert!(!body.contains(SECRET_KEY) && !body.contains("access-88001"), "no secret leaves");
    }
    let anonymous = w.send("GET", "/nhanhvn/connections/385", None, &[]).await;
    assert_eq!(anonymous.status, 401);
    let by_cookie = w.send("GET", "/nhanhvn/connections/385", Some(&cookie), &[]).await;
    assert_eq!(by_cookie.status, 200);
}

#[tokio::test]
async fn only_an_admin_with_the_cookie_and_the_form_token_may_act() {
    let w = world();
    w.session("t-staff", "385", "staff");
    w.session("t-other", "386", "admin");
    w.grant(88_001);
    let staff = w.send("GET", "/nhanhvn/connect/385?session=t-staff", None, &[]).await;
    assert_eq!(staff.status, 403, "staff may not connect");
    let wrong_account = w.send("GET", "/nhanhvn/connect/385?session=t-other", None, &[]).await;
    assert!(matches!(wrong_account.status, 401 | 403), "another account's admin");
    let unknown = w.send("GET", "/nhanhvn/connect/385?session=nope", None, &[]).await;
    assert_eq!(unknown.status, 401);
    w.session("t-admin", "385", "admin");
    let (cookie, csrf) = w.admin("385", "t-admin").await;
    let forged = w.connect("385", &cookie, "forged", "7001").await;
    assert_eq!(forged.status, 403, "CSRF");
    let no_cookie = w.connect("385", "", &csrf, "7001").await;
    assert_eq!(no_cookie.status, 401);
    let (other_cookie, other_csrf) = {
        w.session("t-b", "386", "admin");
        w.admin("386", "t-b").await
    };
    assert_eq!(w.connect("385", &other_cookie, &other_csrf, "7001").await.status, 401, "a cookie is per account");
    let callback_forged = w.send("GET", "/nhanhvn/connect/callback/7001/385?accessCode=c1", Some(&cookie), &[]).await;
    assert_eq!(callback_forged.status, 400, "a callback without a pending attempt");
    // Dot segments reach the router as written when the front passes them on (the local front,
    // cargo lambda watch, resolves them first): refused, never resolved to another route.
    for path in ["/nhanhvn/connect/callback/%2e%2e/385", "/nhanhvn/connect/callback/../385", "/nhanhvn/connect/%2e%2e"]
    {
        let answer = w.send("GET", path, Some(&cookie), &[]).await;
        assert!(matches!(answer.status, 400 | 404), "{path}: {}", answer.status);
    }
    assert!(w.store.get(&AccountId::parse("385").unwrap()).await.unwrap().is_none(), "nothing written");
}

#[tokio::test]
async fn one_business_one_account_and_details_frozen_during_the_initial_sync() {
    let w = world();
    w.grant(88_002);
    w.session("t-a", "385", "admin");
    w.session("t-b", "386", "admin");
    let (cookie_a, csrf_a) = w.admin("385", "t-a").await;
    assert_eq!(w.connect("385", &cookie_a, &csrf_a, "7001").await.status, 200);
    // R1: the same business for another account.
    let (cookie_b, csrf_b) = w.admin("386", "t-b").await;
    let taken = w.connect("386", &cookie_b, &csrf_b, "7001").await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(w.store.get(&AccountId::parse("386").unwrap()).await.unwrap().is_none());
    // R4: while the initial sync runs, another App Id or Secret Key is refused.
    let (cookie_a, csrf_a) = w.admin("385", "t-a").await;
    let form = [("csrf_token", csrf_a.as_str()), ("app_id", "7002"), ("secret_key", "another-secret-key")];
    let frozen = w.send("POST", "/nhanhvn/connect/385", Some(&cookie_a), &form).await;
    assert_eq!(frozen.status, 409, "{}", frozen.body);
    // A disconnect needs the form token too, and then frees the business.
    let refused = w.send("POST", "/nhanhvn/connect/385/disconnect", Some(&cookie_a), &[("csrf_token", "x")]).await;
    assert_eq!(refused.status, 403);
    let done = w.send("POST", "/nhanhvn/connect/385/disconnect", Some(&cookie_a), &[("csrf_token", &csrf_a)]).await;
    assert_eq!(done.status, 303);
    // Issue 22: nothing that opens the merchant's Nhanh stays after a disconnect.
    let ended = w.store.get(&AccountId::parse("385").unwrap()).await.unwrap().unwrap();
    assert!(ended.secret_key_sealed.is_empty() && ended.access_token_sealed.is_none(), "{ended:?}");
    let (cookie_b, csrf_b) = w.admin("386", "t-b").await;
    assert_eq!(w.connect("386", &cookie_b, &csrf_b, "7001").await.status, 200, "the business is free again");
}

#[tokio::test]
async fn bad_paths_get_a_clear_4xx() {
    let w = world();
    assert_eq!(w.send("GET", "/nhanhvn/connect/..%2f..", None, &[]).await.status, 400);
    assert_eq!(w.send("GET", "/nhanhvn/connections/a%20b", None, &[]).await.status, 400);
    assert_eq!(w.send("DELETE", "/nhanhvn/connect/385", None, &[]).await.status, 405);
    assert_eq!(w.send("GET", "/elsewhere", None, &[]).await.status, 404);
}

#[tokio::test]
async fn the_page_shows_progress_streams_and_failures_and_its_actions_queue_work() {
    use crate::store::{FailureLog, FailureRecord, StatsStore};
    let w = world();
    let (cookie, csrf) = w.connected_385(88_003).await;
    let account = AccountId::parse("385").unwrap();
    let now = w.app.service.clock.now();
    // The reason is chosen by the kind: a text that names no status still reads as the Hub's refusal.
    let reason = "customer.phone: must be 10 digits";
    let kind = crate::domain::FailureKind::HubRefused;
    let failure = FailureRecord { at: now, entity: "order".into(), record: "5001".into(), kind, reason: reason.into() };
    w.store.record_failure(&account, &failure).await.unwrap();
    w.store.add(&account, crate::domain::Stream::Orders, crate::domain::Counter::Applied, 7, now).await.unwrap();
    let page = w.send("GET", "/nhanhvn/connect/385", Some(&cookie), &[]).await;
    assert_eq!(page.status, 200);
    for wanted in [
        "id=\"initial-sync-bar\"",
        "id=\"stream-orders\"",
        "Loyalty Hub từ chối dữ liệu",
        "Thử lại",
        "Đồng bộ lại ngay",
        "vừa xong",
        "data-refresh=\"10\"",
        "<code>appUninstalled</code>",
        "id=\"state-badge\"",
        "id=\"disconnect-confirm\"",
    ] {
        assert!(page.body.contains(wanted), "{wanted} missing");
    }
    assert!(page.body.contains("<td class=\"n applied\" data-label=\"Đã đồng bộ\">7</td>"), "the orders count");
    assert!(!page.body.contains("http-equiv=\"refresh\""), "no timed reload a keyboard user cannot stop (WCAG 2.2.1)");
    assert!(!page.body.contains(SECRET_KEY) && !page.body.contains("access-88003"));
    let before = w.queue.messages().len();
    let retried = w.retry(&cookie, &csrf, "order", "5001").await;
    assert_eq!(retried.status, 303);
    let queued = w.queue.messages();
    assert_eq!(queued.len(), before + 1);
    assert!(
        queued[before].body.contains("\"change\":\"order_changed\"")
            && queued[before].body.contains("\"record_id\":5001")
    );
    // Issue 22: Thử lại is throttled: the same record again within a minute queues nothing.
    let again = w.retry(&cookie, &csrf, "order", "5001").await;
    assert_eq!(header(&again, "location"), Some("/nhanhvn/connect/385?done=retry-too-soon"));
    assert_eq!(w.queue.messages().len(), before + 1, "one re-read for two presses");
    let forged = w.retry(&cookie, "x", "order", "1").await;
    assert_eq!(forged.status, 403);
    // Thử lại on a record a pass reaches queues the pass under the pass's own throttle.
    let first = w.retry(&cookie, &csrf, "bill", "77").await;
    assert_eq!(header(&first, "location"), Some("/nhanhvn/connect/385?done=retry"));
    let again = w.send("POST", "/nhanhvn/connect/385/sync", Some(&cookie), &[("csrf_token", &csrf)]).await;
    assert_eq!(header(&again, "location"), Some("/nhanhvn/connect/385?done=too-soon"), "rate-limited");
    let bill_again = w.retry(&cookie, &csrf, "bill", "78").await;
    assert_eq!(header(&bill_again, "location"), Some("/nhanhvn/connect/385?done=retry-too-soon"));
    assert_eq!(w.queue.messages().len(), before + 2, "one pass queued, not three");
    let notice = w.send("GET", "/nhanhvn/connect/385?done=too-soon", Some(&cookie), &[]).await;
    assert!(notice.body.contains("Vừa đồng bộ lại"));
}

#[tokio::test]
async fn the_page_lists_only_its_own_dead_letters_and_thu_lai_moves_one_back() {
    let w = world();
    let (cookie, csrf) = w.connected_385(88_004).await;
    let body = |account: &str| {
        format!(
            r#"{{"kind":"nhanh_change","account_id":"{account}","api_version":"3.0","received_at":"2026-12-02T06:00:00Z","event":"orderUpdate","change":"order_changed","record_id":9}}"#
        )
    };
    let letter = |id: &str, account: &str| crate::store::StoredDeadLetter {
        id: id.into(),
        group_id: format!("{account}:order:9"),
        kind: "nhanh_change".into(),
        body: body(account),
        reason: "Hub unavailable (503)".into(),
        failure: crate::domain::FailureKind::Other,
        deliveries: 5,
        first_failed_at: OffsetDateTime::UNIX_EPOCH,
        last_failed_at: OffsetDateTime::UNIX_EPOCH,
    };
    for (id, account) in [("dl-own", "385"), ("dl-other", "386")] {
        let account_id = AccountId::parse(account).unwrap();
        crate::store::DeadLetterStore::put_dead_letter(w.store.as_ref(), &account_id, &letter(id, account))
            .await
            .unwrap();
    }
    let queued_before = w.queue.messages().len();
    let page = w.send("GET", "/nhanhvn/connect/385", Some(&cookie), &[]).await;
    assert!(page.body.contains("data-message=\"dl-own\""), "its own dead letter is listed");
    assert!(!page.body.contains("dl-other"), "another account's is not");
    let by_token = HttpRequest {
        method: "GET".into(),
        path: "/nhanhvn/connections/385".into(),
        query: vec![],
        headers: vec![("authorization".into(), format!("TOKEN {STATUS_TOKEN}"))],
        body: vec![],
    };
    let status: serde_json::Value = serde_json::from_str(&handle(&w.app, &by_token).await.body).unwrap();
    assert_eq!(status["dead_letters"][0]["message_id"], "dl-own");
    let other = w.retry_dead_letter(&cookie, &csrf, "dl-other").await;
    assert_eq!(header(&other, "location"), Some("/nhanhvn/connect/385?done=gone"), "not this account's");
    let own = w.retry_dead_letter(&cookie, &csrf, "dl-own").await;
    assert_eq!(header(&own, "location"), Some("/nhanhvn/connect/385?done=retry"));
    let queued = w.queue.messages();
    assert_eq!(queued.len(), queued_before + 1, "queued again once");
    assert_eq!(
        (queued[queued_before].group_id.as_str(), queued[queued_before].body.clone()),
        ("385:order:9", body("385"))
    );
    let again = w.retry_dead_letter(&cookie, &csrf, "dl-own").await;
    assert_eq!(header(&again, "location"), Some("/nhanhvn/connect/385?done=gone"), "a second press queues nothing");
}

/// Issue 21: an App Id change after the initial sync moves the webhook route to the new app; the
/// old app's route, which still held a connected copy with the same verify token, is gone.
#[tokio::test]
async fn an_app_id_change_removes_the_old_apps_route() {
    use crate::domain::{AppId, InitialSyncState};
    let w = world();
    w.connected_385(88_003).await;
    let account = AccountId::parse("385").unwrap();
    let mut conn = w.store.get(&account).await.unwrap().unwrap();
    conn.state = crate::domain::ConnectionState::Active;
    if let Some(sync) = conn.initial_sync.as_mut() {
        sync.state = InitialSyncState::Done;
    }
    w.store.put(&conn).await.unwrap();
    let business = BusinessId::new(88_003).unwrap();
    let route = |app: u64| w.store.route(AppId::new(app).unwrap(), business);
    assert!(route(7001).await.unwrap().is_some());
    let (cookie, csrf) = w.admin("385", "t-admin").await;
    assert_eq!(w.connect("385", &cookie, &csrf, "7002").await.status, 200);
    assert_eq!(route(7001).await.unwrap(), None, "the old app's route is removed");
    assert_eq!(route(7002).await.unwrap().map(|c| c.app_id.get()), Some(7002));
}

/// Issue 22: the callback binds nothing by itself. It names the business the code was consented
/// for; only the admin who started the attempt, with the page's form token, claims it.
#[tokio::test]
async fn the_callback_shows_the_business_and_only_the_attempts_admin_confirms_it() {
    use crate::domain::Depot;
    let w = world();
    w.session("t-admin", "385", "admin");
    w.session("t-other", "385", "admin");
    w.grant(168_900);
    *w.nhanh.depots.lock().unwrap() = vec![Depot { id: 31_010, name: "Kho Hà Nội".into() }];
    let (cookie, csrf) = w.admin("385", "t-admin").await;
    let (other_cookie, other_csrf) = w.admin("385", "t-other").await;
    let form = [("csrf_token", csrf.as_str()), ("app_id", "7001"), ("secret_key", SECRET_KEY)];
    assert_eq!(w.send("POST", "/nhanhvn/connect/385", Some(&cookie), &form).await.status, 303);
    let callback = "/nhanhvn/connect/callback/7001/385";
    let account = AccountId::parse("385").unwrap();
    // Another admin of the account opening the callback URL exchanges nothing.
    let foreign = w.send("GET", &format!("{callback}?accessCode=c1"), Some(&other_cookie), &[]).await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    let shown = w.send("GET", &format!("{callback}?accessCode=c1"), Some(&cookie), &[]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains("168900") && shown.body.contains("Kho Hà Nội (31010)"), "{}", shown.body);
    assert!(!shown.body.contains("access-168900"), "the token stays sealed");
    assert!(w.store.get(&account).await.unwrap().is_none(), "nothing is connected before the confirmation");
    let reloaded = w.send("GET", &format!("{callback}?accessCode=c1"), Some(&cookie), &[]).await;
    assert_eq!(reloaded.status, 200, "a reload shows the same business without a second exchange");
    // The confirmation needs the form token, and the admin who started the attempt.
    assert_eq!(w.send("POST", callback, Some(&cookie), &[("csrf_token", "forged")]).await.status, 403);
    assert_eq!(w.send("POST", callback, None, &[("csrf_token", csrf.as_str())]).await.status, 401);
    let by_other = w.send("POST", callback, Some(&other_cookie), &[("csrf_token", other_csrf.as_str())]).await;
    assert_eq!(by_other.status, 403, "{}", by_other.body);
    assert!(w.store.get(&account).await.unwrap().is_none());
    let confirmed = w.send("POST", callback, Some(&cookie), &[("csrf_token", csrf_of(&shown.body).as_str())]).await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    let conn = w.store.get(&account).await.unwrap().unwrap();
    assert_eq!(conn.business_id, BusinessId::new(168_900));
    assert_eq!(w.send("POST", callback, Some(&cookie), &[("csrf_token", csrf.as_str())]).await.status, 400, "used up");
}

/// Issue 22: Nhanh keeps one live token per app and business. A refused claim of a held business
/// through the same app has just cut the holder's token to 15 minutes: the holder takes the newer
/// one (and a holder waiting for a new consent resumes).
#[tokio::test]
async fn a_refused_exchange_hands_the_newer_token_to_the_holder() {
    let w = world();
    w.connected_385(88_002).await;
    let holder = AccountId::parse("385").unwrap();
    let mut conn = w.store.get(&holder).await.unwrap().unwrap();
    conn.state = ConnectionState::NeedsReauth;
    w.store.put(&conn).await.unwrap();
    w.grant(88_002);
    if let Some(grant) = w.nhanh.grant.lock().unwrap().as_mut() {
        grant.access_token = SecretString::new("access-88002-newer");
        grant.depot_ids = vec![31_010];
    }
    w.session("t-b", "386", "admin");
    let (cookie_b, csrf_b) = w.admin("386", "t-b").await;
    let refused = w.connect("386", &cookie_b, &csrf_b, "7001").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("đã được kết nối với một tài khoản Loyalty Hub khác"), "{}", refused.body);
    assert!(w.store.get(&AccountId::parse("386").unwrap()).await.unwrap().is_none());
    let taken = w.store.get(&holder).await.unwrap().unwrap();
    let token = w.access_token_of(&holder).await;
    assert!(token.ct_eq("access-88002-newer"), "the holder holds the newer token");
    assert_eq!((taken.state, taken.depot_ids.clone()), (ConnectionState::Syncing, vec![31_010]));
    // Another app's exchange leaves the holder's token alone (Nhanh's rule is per app).
    if let Some(grant) = w.nhanh.grant.lock().unwrap().as_mut() {
        grant.access_token = SecretString::new("access-of-another-app");
    }
    assert_eq!(w.connect("386", &cookie_b, &csrf_b, "7009").await.status, 409);
    let kept = w.store.get(&holder).await.unwrap().unwrap();
    assert_eq!(kept.access_token_sealed, taken.access_token_sealed);
}

/// Issue 22: a reconnect's exchange cuts the account's own token to 15 minutes too, so the
/// account takes the newer token at the exchange, whether or not its admin then confirms.
#[tokio::test]
async fn a_reconnect_that_is_never_confirmed_still_leaves_the_newer_token() {
    let w = world();
    let (cookie, csrf) = w.connected_385(88_004).await;
    if let Some(grant) = w.nhanh.grant.lock().unwrap().as_mut() {
        grant.access_token = SecretString::new("access-88004-newer");
    }
    let form = [("csrf_token", csrf.as_str()), ("app_id", "7001"), ("secret_key", SECRET_KEY)];
    assert_eq!(w.send("POST", "/nhanhvn/connect/385", Some(&cookie), &form).await.status, 303);
    let shown = w.send("GET", "/nhanhvn/connect/callback/7001/385?accessCode=c2", Some(&cookie), &[]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let account = AccountId::parse("385").unwrap();
    let token = w.access_token_of(&account).await;
    assert!(token.ct_eq("access-88004-newer"), "the account holds the token Nhanh keeps");
}

/// Issue 23, item 6: the page says what waits and that it resumes by itself: the order changes in
/// the backlog, a Hub outage with the account's parked records, and only its own.
#[tokio::test]
async fn the_page_shows_the_backlog_and_a_hub_outage_with_its_parked_records() {
    use crate::store::{BacklogKey, HubOutage, OrderBacklog, OutageStore, ParkedRecord};
    let w = world();
    let (cookie, _) = w.connected_385(88_006).await;
    let account = AccountId::parse("385").unwrap();
    let conn = w.store.get(&account).await.unwrap().unwrap();
    let business = crate::domain::NhanhBusiness { app_id: conn.app_id, business_id: conn.business_id.unwrap() };
    let key = BacklogKey { account: account.clone(), business };
    let ids: Vec<crate::domain::NhanhId> = (1..=250).map(|i| crate::domain::NhanhId::new(i).unwrap()).collect();
    let now = OffsetDateTime::from_unix_timestamp(1_795_850_000).unwrap();
    w.store.add_orders(&key, &ids, now, now).await.unwrap();
    let page = w.send("GET", "/nhanhvn/connect/385", Some(&cookie), &[]).await;
    assert!(page.body.contains("Đang chờ: <b id=\"waiting-orders\">250</b> đơn hàng"), "{}", page.body);
    assert!(!page.body.contains("id=\"hub-outage\""));
    let outage = HubOutage { since: now, account: account.clone(), reason: "503".into(), probed_at: None };
    w.store.open_hub_outage(&outage).await.unwrap();
    for (n, owner) in ["385", "385", "386"].iter().enumerate() {
        let parked = ParkedRecord {
            parked_at: now,
            account: AccountId::parse(owner).unwrap(),
            message_id: format!("m{n}"),
            group_id: format!("{owner}:product:{n}"),
            body: "{}".into(),
        };
        assert!(w.store.park(&parked).await.unwrap());
    }
    let page = w.send("GET", "/nhanhvn/connect/385", Some(&cookie), &[]).await;
    assert!(page.body.contains("id=\"hub-outage\""), "{}", page.body);
    assert!(page.body.contains("<span id=\"parked\">2</span>"), "its own two parked records: {}", page.body);
}

/// Issue 24: the fleet view answers the operators' credential only (not an admin's cookie, which
/// opens one account), refuses a bad page size, and counts the connections by state.
#[tokio::test]
async fn the_fleet_view_takes_the_operators_token_only_and_counts_connections() {
    let w = world();
    w.session("t-admin", "385", "admin");
    w.grant(88_002);
    let (cookie, csrf) = w.admin("385", "t-admin").await;
    assert_eq!(w.connect("385", &cookie, &csrf, "7002").await.status, 200);
    let fleet = |query: Vec<(String, String)>| HttpRequest {
        method: "GET".into(),
        path: "/nhanhvn/connections".into(),
        query,
        headers: vec![("authorization".into(), format!("TOKEN {STATUS_TOKEN}"))],
        body: vec![],
    };
    let view = handle(&w.app, &fleet(vec![])).await;
    assert_eq!(view.status, 200, "{}", view.body);
    let json: serde_json::Value = serde_json::from_str(&view.body).unwrap();
    assert_eq!(json["counts"]["syncing"], 1, "{json}");
    assert_eq!(json["accounts"][0]["account_id"], "385");
    assert_eq!(json["accounts"][0]["dead_letters"], 0);
    assert!(json["next"].is_null());
    assert_eq!(w.send("GET", "/nhanhvn/connections", None, &[]).await.status, 401);
    assert_eq!(
        w.send("GET", "/nhanhvn/connections", Some(&cookie), &[]).await.status,
        401,
        "an admin sees one account"
    );
    for bad in ["0", "101", "x"] {
        let answer = handle(&w.app, &fleet(vec![("limit".into(), bad.into())])).await;
        assert_eq!(answer.status, 400, "limit={bad}");
    }
    let bad_after = handle(&w.app, &fleet(vec![("after".into(), "a b".into())])).await;
    assert_eq!(bad_after.status, 400);
    assert_eq!(w.send("POST", "/nhanhvn/connections", None, &[]).await.status, 405);
}

/// A store whose first `put_claiming` finds the connection written meanwhile (as the processor
/// does while a sync runs): the write it delegates then meets a newer version.
struct WrittenMeanwhile {
    inner: Arc<MemoryStore>,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl ConnectionStore for WrittenMeanwhile {
    async fn get(&self, account: &AccountId) -> Result<Option<crate::domain::Connection>, crate::store::StoreError> {
        self.inner.get(account).await
    }
    async fn put(
        &self,
        conn: &crate::domain::Connection,
    ) -> Result<crate::domain::Connection, crate::store::StoreError> {
        self.inner.put(conn).await
    }
    async fn put_claiming(
        &self,
        conn: &crate::domain::Connection,
        previous_app: Option<crate::domain::AppId>,
    ) -> Result<crate::domain::Connection, crate::store::StoreError> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let mut meanwhile = self.inner.get(&conn.account_id).await?.expect("connected before");
            meanwhile.initial_sync.as_mut().expect("a sync").done = 7;
            self.inner.put(&meanwhile).await?;
        }
        self.inner.put_claiming(conn, previous_app).await
    }
    async fn put_releasing(
        &self,
        conn: &crate::domain::Connection,
        business: BusinessId,
    ) -> Result<crate::domain::Connection, crate::store::StoreError> {
        self.inner.put_releasing(conn, business).await
    }
    async fn route(
        &self,
        app: crate::domain::AppId,
        business: BusinessId,
    ) -> Result<Option<crate::domain::Connection>, crate::store::StoreError> {
        self.inner.route(app, business).await
    }
    async fn accounts_of_app(&self, app: crate::domain::AppId) -> Result<Vec<AccountId>, crate::store::StoreError> {
        self.inner.accounts_of_app(app).await
    }
    async fn connected_accounts(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<AccountId>, Option<String>), crate::store::StoreError> {
        self.inner.connected_accounts(cursor).await
    }
}

/// A reconnect confirmed while the processor writes the connection (a sync page) is stored, not
/// refused with a 503 (CI met it when a v2 connection moved to v3 during its initial sync), and
/// keeps what the processor wrote.
#[tokio::test]
async fn a_confirmation_is_stored_though_the_processor_wrote_the_connection_meanwhile() {
    let mut w = world();
    w.session("t-admin", "385", "admin");
    w.grant(88_003);
    let (cookie, csrf) = w.admin("385", "t-admin").await;
    assert_eq!(w.connect("385", &cookie, &csrf, "7003").await.status, 200);
    w.app.service.connections =
        Arc::new(WrittenMeanwhile { inner: w.store.clone(), armed: std::sync::atomic::AtomicBool::new(true) });
    w.grant(88_003);
    let again = w.connect("385", &cookie, &csrf, "7003").await;
    assert_eq!(again.status, 200, "{}", again.body);
    let conn = w.store.get(&AccountId::parse("385").unwrap()).await.unwrap().unwrap();
    assert_eq!(conn.initial_sync.map(|s| s.done), Some(7), "the processor's write is kept");
}

/// Issue 26: with `HUB_ADMIN_ORIGINS`, the Hub's admin may frame the pages (and only it), and the
/// admin cookie survives being a third party's (`SameSite=None; Secure; Partitioned`); without
/// it, no one may frame them.
#[tokio::test]
async fn the_hub_admin_named_in_the_config_may_frame_the_pages_and_no_one_else() {
    let mut w = world();
    w.session("t-admin", "385", "admin");
    let closed = w.send("GET", "/nhanhvn/connect/385?session=t-admin", None, &[]).await;
    let page = w.send("GET", "/nhanhvn/connect/385", None, &[]).await;
    assert!(header(&page, "content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
    assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
    assert!(header(&closed, "set-cookie").is_some_and(|c| c.contains("SameSite=Lax") && !c.contains("Partitioned")));

    w.app.frame_ancestors = vec!["https://admin.hub.vn".into()];
    let landed = w.send("GET", "/nhanhvn/connect/385?session=t-admin", None, &[]).await;
    let set = header(&landed, "set-cookie").unwrap_or_default().to_owned();
    assert!(set.contains("SameSite=None") && set.contains("Secure") && set.contains("Partitioned"), "{set}");
    let cookie = set.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let page = w.send("GET", "/nhanhvn/connect/385", Some(&cookie), &[]).await;
    assert_eq!(page.status, 200);
    let csp = header(&page, "content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors https://admin.hub.vn") && !csp.contains("'none'; form"), "{csp}");
    assert_eq!(header(&page, "x-frame-options"), None);
}
