//! What the `cargo fuzz` targets (`fuzz/`, run by `make measure`) call, and what the replay of
//! their saved inputs (`fuzz/regressions/`, run by `make test`) calls: each entry point takes
//! arbitrary bytes and must return, whatever they hold. A panic, an overflow or a broken invariant
//! (asserted here) is a finding.
//!
//! The decoders are called directly and through the use cases over in-memory adapters (intake and
//! the processor), so a finding in the glue between them counts too.

use crate::domain::{ApiVersion, Phone, WorkItem};
use crate::nhanh::{v2, v3};
use crate::testing::{intake_fixture, processor_fixture, IntakeFixture, ProcessorFixture, HUB_SECRET};
use serde_json::Value;
use std::cell::RefCell;
use time::OffsetDateTime;

/// How many inputs one set of in-memory adapters serves before it is rebuilt (they keep what
/// they were sent).
const FIXTURE_USES: u32 = 2_000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    intake: Option<(IntakeFixture, u32)>,
    processor: Option<(ProcessorFixture, u32)>,
}

thread_local! {
    static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's runtime with a fresh-enough intake fixture.
fn with_intake(f: impl AsyncFnOnce(&IntakeFixture)) {
    HARNESS.with_borrow_mut(|h| {
        let Some(h) = harness(h) else { return };
        if h.intake.as_ref().is_none_or(|(_, uses)| *uses >= FIXTURE_USES) {
            let fixture = intake_fixture();
            h.runtime.block_on(fixture.connect("acct", 1, 10, "tok", crate::domain::ConnectionState::Active));
            h.intake = Some((fixture, 0));
        }
        if let Some((fixture, uses)) = h.intake.as_mut() {
            *uses += 1;
            h.runtime.block_on(f(fixture));
        }
    });
}

/// Runs `f` on this thread's runtime with a fresh-enough processor fixture.
fn with_processor(f: impl AsyncFnOnce(&ProcessorFixture)) {
    HARNESS.with_borrow_mut(|h| {
        let Some(h) = harness(h) else { return };
        if h.processor.as_ref().is_none_or(|(_, uses)| *uses >= FIXTURE_USES) {
            h.processor = Some((h.runtime.block_on(processor_fixture()), 0));
        }
        if let Some((fixture, uses)) = h.processor.as_mut() {
            *uses += 1;
            h.runtime.block_on(f(fixture));
        }
    });
}

fn harness(slot: &mut Option<Harness>) -> Option<&mut Harness> {
    if slot.is_none() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        *slot = Some(Harness { runtime, intake: None, processor: None });
    }
    slot.as_mut()
}

/// A Nhanh webhook body of either version: the v2 and v3 decoders on its JSON, then the intake
/// use case on the raw bytes (as v3, token in the header, and as v2, token in the body).
pub fn nhanh_webhook(data: &[u8]) {
    if let Ok(body) = serde_json::from_slice::<Value>(data) {
        let _ = v2::webhook::parse(&body);
        let _ = v3::webhook::parse(Some("tok"), &body);
        let _ = v3::webhook::parse(None, &body);
    }
    with_intake(async |f| {
        let _ = f.service.nhanh_webhook("1", Some("tok"), data).await;
        let _ = f.service.nhanh_webhook("1", None, data).await;
    });
}

/// A Nhanh API answer: the envelope check, every list and detail decoder of both versions, and
/// the money and status mapping of whatever orders and bills decode.
pub fn nhanh_response(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let now = OffsetDateTime::UNIX_EPOCH;
    // Instants from outside reach time arithmetic and formatting (issue 21: a far-future
    // `unlockedAt`, `lockedSeconds` or `expiredAt` once panicked there).
    let instant = |t: OffsetDateTime| {
        let _ = crate::web::format::vn_time(t);
        let _ = crate::web::format::relative_vi(t, now);
        let _ = crate::nhanh::timefmt::datetime(t);
        let _ = crate::clock::rfc3339(t);
    };
    if let Err(crate::nhanh::NhanhError::RateLimited { unlocked_at, .. }) =
        crate::nhanh::envelope::envelope(&body, "/v3.0/order/list")
    {
        instant(unlocked_at);
    }
    let _ = crate::nhanh::envelope::messages(&body);
    let inner = &body["data"];
    for grant in
        [v2::decode::token_grant(&body, now, ApiVersion::V2), v3::decode::token_grant(inner, now)].into_iter().flatten()
    {
        instant(grant.expires_at);
    }
    let orders = v2::decode::page(inner, "orders", v2::decode::order)
        .items
        .into_iter()
        .chain(v3::decode::page(&body, Some(&Value::Null), v3::decode::order).items);
    for order in orders {
        let _ = crate::mapping::order_money(&order);
        let _ = crate::mapping::order_status(&order.status);
        if let Ok(snapshot) = crate::mapping::order_snapshot(&order, None, None, &[], false, now) {
            let _ = serde_json::to_string(&snapshot);
        }
        order.created_at.into_iter().chain(order.updated_at).for_each(instant);
    }
    let _ = v2::decode::page(inner, "products", v2::decode::product);
    let _ = v2::decode::page(inner, "customers", v2::decode::customer);
    let _ = v2::decode::product_detail(inner);
    let _ = v2::decode::categories(inner);
    let _ = v2::decode::added_order_id(inner, "hub-1");
    let _ = v3::decode::page(&body, None, v3::decode::product);
    let _ = v3::decode::page(&body, None, v3::decode::customer);
    let _ = v3::decode::added_order_id(inner);
    if let Some(items) = inner.as_array() {
        let _ = v3::decode::category_tree(items);
    }
    let bills = v2::decode::page(inner, "bills", v2::decode::bill)
        .items
        .into_iter()
        .chain(v3::decode::page(&body, None, v3::decode::bill).items);
    for bill in bills {
        let _ = crate::mapping::bill_code(bill.id);
        if let Ok(snapshot) = crate::mapping::bill_snapshot(&bill, None, None, &[], None, false, now) {
            let _ = serde_json::to_string(&snapshot);
        }
        bill.created_at.into_iter().for_each(instant);
    }
}

/// A Hub event body: the intake use case (signed, so its checks are passed) and, as the queued
/// work item, the processor.
pub fn hub_event(data: &[u8]) {
    with_intake(async |f| {
        let signature = crate::services::intake::hub_signature(&crate::secrets::SecretString::new(HUB_SECRET), data);
        let _ = f.service.hub_event("acct", Some(&signature), data).await;
    });
    let Ok(Some(event)) = crate::hub::HubEventBody::parse(data).and_then(|b| b.into_event()) else { return };
    with_processor(async |f| {
        let item = WorkItem::HubEvent { account_id: f.account.clone(), received_at: f.now, event };
        let Ok(body) = serde_json::to_string(&item) else { return };
        let record = crate::services::process::BatchRecord { message_id: "m".into(), group_id: "g".into(), body };
        let _ = f.processor.process_batch(std::slice::from_ref(&record)).await;
    });
}

/// Phone normalisation (R6): a normalised phone is 10 digits starting `0` (not `00`) or 11 digits
/// starting `02`, normalises to itself, and is a Hub phone exactly when it has 10 digits.
pub fn phone(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Some(p) = Phone::parse(raw) else {
        assert!(Phone::parse_for_hub(raw).is_none(), "a Hub phone from an invalid one: {raw:?}");
        return;
    };
    let digits = p.as_str();
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{raw:?} → {digits:?}");
    assert!(
        (digits.len() == 10 && digits.starts_with('0') && !digits.starts_with("00"))
            || (digits.len() == 11 && digits.starts_with("02")),
        "{raw:?} → {digits:?}"
    );
    assert_eq!(Phone::parse(digits).as_ref(), Some(&p), "normalising twice changes {raw:?}");
    assert_eq!(Phone::parse_for_hub(raw).is_some(), digits.len() == 10, "{raw:?}");
}

/// A fuzz target's name and entry point.
type Target = (&'static str, fn(&[u8]));

/// Every saved input of `fuzz/regressions/{target}/` and `fuzz/corpus/{target}/` through its entry
/// point (called by the unit test below and by the tests crate).
pub fn replay_saved_inputs(root: &std::path::Path) -> usize {
    let targets: [Target; 4] = [
        ("nhanh_webhook", nhanh_webhook),
        ("nhanh_response", nhanh_response),
        ("hub_event", hub_event),
        ("phone", phone),
    ];
    let mut replayed = 0;
    for (name, entry) in targets {
        for dir in ["regressions", "corpus"] {
            let Ok(files) = std::fs::read_dir(root.join(dir).join(name)) else { continue };
            for file in files.flatten() {
                if let Ok(bytes) = std::fs::read(file.path()) {
                    entry(&bytes);
                    replayed += 1;
                }
            }
        }
    }
    replayed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_fuzz_inputs_still_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        assert!(replay_saved_inputs(&root) > 0, "no saved input under {}", root.display());
    }

    #[test]
    fn entry_points_take_odd_bytes() {
        for bytes in [
            &b""[..],
            b"{}",
            b"null",
            b"[1,2]",
            b"\xff\xfe",
            b"{\"event\":\"orderAdd\",\"data\":{\"info\":{\"id\":1}}}",
        ] {
            nhanh_webhook(bytes);
            nhanh_response(bytes);
            hub_event(bytes);
            phone(bytes);
        }
    }
}
