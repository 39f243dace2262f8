//! Nhanh's answer envelope, the same in both versions: `{"code": 1, "data": …}` on success,
//! `{"code": 0, "errorCode": …, "messages"|"message": …}` on failure, mapped to [`NhanhError`].

use super::lenient::{int, text};
use super::{timefmt, NhanhError};
use serde_json::Value;
use time::OffsetDateTime;

/// The longest rate-limit lock taken as real. Nhanh documents a 10-second lock (extended while
/// called); an `unlockedAt` or `lockedSeconds` beyond a day, or outside the calendar, is a broken
/// answer: a permanent, logged failure of that record, not a wait of years (and never a panic in
/// time arithmetic, which would abort a whole batch of several accounts).
pub const MAX_PLAUSIBLE_LOCK: time::Duration = time::Duration::hours(24);

/// Checks the envelope: `code: 1` gives `data`; `code: 0` gives the typed error. `warning` (v3;
/// a string, object or list) is logged. Rate limits without `unlockedAt` lock for
/// `lockedSeconds`, else 30 s (nhanh-api-v3.md §9 #8).
pub fn envelope(body: &Value, path: &str) -> Result<Value, NhanhError> {
    if int(&body["code"]) == Some(1) {
        if let Some(warning) = body.get("warning").filter(|w| !w.is_null()) {
            tracing::info!(path, warning = %warning, "Nhanh answered with a warning");
        }
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let code = text(&body["errorCode"]);
    match code.as_deref() {
        Some("ERR_429") | Some("ERR_EXCEEDED_RATE_LIMIT") => {
            let data = &body["data"];
            let now = OffsetDateTime::now_utc();
            let unlocked_at = match (int(&data["unlockedAt"]), int(&data["lockedSeconds"])) {
                (Some(at), _) => timefmt::from_unix(at),
                (None, Some(secs)) => now.checked_add(time::Duration::seconds(secs)),
                (None, None) => Some(now + time::Duration::seconds(30)),
            };
            match unlocked_at.filter(|at| *at <= now + MAX_PLAUSIBLE_LOCK) {
                Some(unlocked_at) => Err(NhanhError::RateLimited { path: path.to_owned(), unlocked_at }),
                None => {
                    tracing::warn!(path, data = %data, "Nhanh's rate-limit answer names an absurd unlock time");
                    Err(NhanhError::Malformed(format!(
                        "rate-limit answer with an unlock time beyond {} hours: {data}",
                        MAX_PLAUSIBLE_LOCK.whole_hours()
                    )))
                }
            }
        }
        // The token, the app or the business is no longer valid for this version: a new consent
        // is needed (R12; nhanh-api-v3.md §2.4).
        Some("ERR_INVALID_ACCESS_TOKEN")
        | Some("ERR_INVALID_VERSION")
        | Some("ERR_INVALID_APP_ID")
        | Some("ERR_INVALID_BUSINESS_ID") => {
            if code.as_deref() == Some("ERR_INVALID_VERSION") {
                tracing::warn!(path, "Nhanh refused the token's API version (ERR_INVALID_VERSION)");
            }
            Err(NhanhError::InvalidAccessToken)
        }
        Some("ERR_403") | Some("ERR_PAGE_403") => Err(NhanhError::Forbidden { path: path.to_owned() }),
        // The merchant switched Open API off: nothing is lost, the work waits (and retries).
        Some("ERR_BUSINESS_NOT_ENABLE_API") => Err(NhanhError::Unavailable(
            "the merchant switched Nhanh's Open API off (ERR_BUSINESS_NOT_ENABLE_API)".into(),
        )),
        _ => Err(NhanhError::Rejected { code, message: messages(body) }),
    }
}

/// Nhanh's `messages` and `message` (a string, a list of strings or of `{code, message}`, or a
/// `{field: message}` map), as one line.
pub fn messages(body: &Value) -> String {
    let mut parts = Vec::new();
    for key in ["messages", "message"] {
        match &body[key] {
            Value::String(s) if !s.trim().is_empty() => parts.push(s.trim().to_owned()),
            Value::Array(items) => parts.extend(items.iter().filter_map(|i| text(i).or_else(|| text(&i["message"])))),
            Value::Object(map) => {
                parts.extend(map.iter().map(|(k, v)| format!("{k}: {}", text(v).unwrap_or_default())))
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        "no message".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_messages_shape_flattens_to_one_line() {
        let cases = [
            (json!({"code": 0, "messages": "bad"}), "bad"),
            (json!({"code": 0, "messages": ["a", "b"]}), "a; b"),
            (
                json!({"code": 0, "messages": [{"code": "X", "message": "appOrderId đã tồn tại"}]}),
                "appOrderId đã tồn tại",
            ),
            (json!({"code": 0, "messages": {"customer.mobile": "is required"}}), "customer.mobile: is required"),
            (json!({"code": 0, "messages": "one", "message": "two"}), "one; two"),
            (json!({"code": 0}), "no message"),
        ];
        for (body, want) in cases {
            assert_eq!(messages(&body), want, "{body}");
        }
    }

    #[test]
    fn version_app_and_business_refusals_ask_for_a_new_consent() {
        for code in ["ERR_INVALID_ACCESS_TOKEN", "ERR_INVALID_VERSION", "ERR_INVALID_APP_ID", "ERR_INVALID_BUSINESS_ID"]
        {
            assert!(
                matches!(envelope(&json!({"code": 0, "errorCode": code}), "/p"), Err(NhanhError::InvalidAccessToken)),
                "{code}"
            );
        }
        let limited = json!({"code": 0, "errorCode": "ERR_EXCEEDED_RATE_LIMIT"});
        assert!(matches!(envelope(&limited, "/p"), Err(NhanhError::RateLimited { .. })));
        for data in [
            json!({"lockedSeconds": i64::MAX}),
            json!({"lockedSeconds": 90_000}),
            json!({"unlockedAt": i64::MAX}),
            json!({"unlockedAt": 253_402_300_799_i64}),
        ] {
            let absurd = envelope(&json!({"code": 0, "errorCode": "ERR_429", "data": data}), "/p");
            assert!(matches!(absurd, Err(NhanhError::Malformed(_))), "{data}: {absurd:?}");
        }
        let off = json!({"code": 0, "errorCode": "ERR_BUSINESS_NOT_ENABLE_API"});
        assert!(envelope(&off, "/p").unwrap_err().is_retryable());
        assert_eq!(envelope(&json!({"code": 1, "data": [1], "warning": ["x"]}), "/p").unwrap(), json!([1]));
    }
}
