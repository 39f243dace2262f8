//! The per-(app, business, URL) limiter answering `ERR_429`, and the call log.

use super::*;

/// How long an excess call locks its URL (nhanh-api-v3.md §2.5: `lockedSeconds: 10`); each call
/// while locked adds 5 s more (the documents say only that the lock grows).
pub(super) const LOCKED_SECONDS: i64 = 10;

/// Checks and counts a call against the limiter; `Some(body)` is the ERR_429 answer, and the
/// call's log entry (the last one) is marked `"limited": true`.
pub(super) fn limiter(sim: &mut NhanhSim, key: (u64, u64, String)) -> Option<Value> {
    let answer = limit(sim, key);
    if answer.is_some() {
        if let Some(call) = sim.calls.last_mut() {
            call["limited"] = json!(true);
        }
    }
    answer
}

fn limit(sim: &mut NhanhSim, key: (u64, u64, String)) -> Option<Value> {
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
        // The documented lock: 10 s, whatever the window (a compressed window keeps the real lock).
        let until = now + LOCKED_SECONDS;
        sim.locks.insert(key, until);
        return Some(
            json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds": LOCKED_SECONDS,"unlockedAt": until}}),
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
    let key = (app_id, business_id, path.to_owned());
    let locked = sim.locks.get(&key).is_some_and(|u| *u > now);
    let mut call =
        json!({"path": path, "app_id": app_id, "business_id": business_id, "at": now, "while_locked": locked});
    let app_fault = sim.faults.get_mut(&format!("{app_id}:{path}")).and_then(VecDeque::pop_front);
    let queued = app_fault.or_else(|| sim.faults.get_mut(path).and_then(VecDeque::pop_front));
    let random = if queued.is_none() { random_fault(sim, app_id) } else { None };
    let Some(fault) = queued.clone().or(random.clone()) else {
        sim.calls.push(call);
        return Ok(false);
    };
    call["fault"] = json!(fault);
    sim.calls.push(call);
    match fault.as_str() {
        // Nhanh does the work, the answer is lost on the way back.
        "commit_then_500" => Ok(true),
        "http500" => Err((StatusCode::INTERNAL_SERVER_ERROR, "simulated failure").into_response()),
        "garbage" => Err((StatusCode::OK, "<html>oops</html>").into_response()),
        "timeout" => Err(lost_answer()),
        // A random ERR_429 is the limiter's own: the URL stays locked for a second.
        "ERR_429" if random.is_some() => {
            let until = sim.locks.get(&key).copied().unwrap_or(now).max(now + 1);
            sim.locks.insert(key, until);
            Err(Json(json!({"code": 0, "errorCode": "ERR_429", "message": "Your app exceeded the API Rate Limit",
                "data": {"lockedSeconds": until - now, "unlockedAt": until}}))
            .into_response())
        }
        other => Err(fail(Some(other), json!([format!("simulated {other}")])).into_response()),
    }
}

/// The kind of a random fault for this call, if the dice say so (`/_sim/faults/rate`).
fn random_fault(sim: &NhanhSim, app_id: u64) -> Option<String> {
    let rate = sim.fault_rate.as_ref().filter(|r| r.app_id.is_none_or(|a| a == app_id))?;
    let mut dice = [0u8; 4];
    getrandom::fill(&mut dice).ok()?;
    let dice = u32::from_le_bytes(dice);
    ((dice % 100) < rate.percent).then(|| rate.kinds[(dice / 100) as usize % rate.kinds.len()].clone())
}

/// An answer that never arrives: headers, a second of silence, then the connection breaks (to the
/// client, the same as a read timeout: it cannot know whether the call was carried out).
fn lost_answer() -> Response {
    let body = futures::stream::once(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Err::<Vec<u8>, std::io::Error>(std::io::Error::new(std::io::ErrorKind::TimedOut, "simulated timeout"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
