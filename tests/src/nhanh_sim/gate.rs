//! The per-(app, business, URL) limiter answering `ERR_429`, and the call log.

use super::*;

/// Checks and counts a call against the limiter; `Some(body)` is the ERR_429 answer.
pub(super) fn limiter(sim: &mut NhanhSim, key: (u64, u64, String)) -> Option<Value> {
    let now = sim.now();
    if let Some(until) = sim.locks.get(&key).copied() {
        if until > now {
            // Calling while locked extends the lock (documented behaviour).
            let until = until + 5;
            sim.locks.insert(key, until);
            return Some(
                json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds": until - now,"unlockedAt": until}}),
            );
        }
        sim.locks.remove(&key);
    }
    let (max, window) = sim.app_limits.get(&key.0).copied().unwrap_or((sim.limit_max, sim.limit_window));
    let calls = sim.windows.entry(key.clone()).or_default();
    while calls.front().is_some_and(|t| *t <= now - window) {
        calls.pop_front();
    }
    if calls.len() >= max {
        let until = now + window.max(1);
        sim.locks.insert(key, until);
        return Some(
            json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds": window,"unlockedAt": until}}),
        );
    }
    calls.push_back(now);
    None
}

/// Logs a call (with whether its URL was locked) and plays the next injected fault for it, in
/// both versions: `Err` is the answer to give instead; `Ok(true)`: do the work, lose the answer.
#[allow(clippy::result_large_err)]
pub(super) fn record_call(sim: &mut NhanhSim, app_id: u64, business_id: u64, path: &str) -> Result<bool, Response> {
    let now = sim.now();
    let locked = sim.locks.get(&(app_id, business_id, path.to_owned())).is_some_and(|u| *u > now);
    sim.calls
        .push(json!({"path": path, "app_id": app_id, "business_id": business_id, "at": now, "while_locked": locked}));
    let app_fault = sim.faults.get_mut(&format!("{app_id}:{path}")).and_then(VecDeque::pop_front);
    let Some(fault) = app_fault.or_else(|| sim.faults.get_mut(path).and_then(VecDeque::pop_front)) else {
        return Ok(false);
    };
    match fault.as_str() {
        // Nhanh does the work, the answer is lost on the way back.
        "commit_then_500" => Ok(true),
        "http500" => Err((StatusCode::INTERNAL_SERVER_ERROR, "simulated failure").into_response()),
        "garbage" => Err((StatusCode::OK, "<html>oops</html>").into_response()),
        other => Err(fail(Some(other), json!([format!("simulated {other}")])).into_response()),
    }
}
