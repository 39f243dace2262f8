//! Fixtures shared by unit tests and benchmarks: a connected account over in-memory adapters.

use crate::clock::FixedClock;
use crate::domain::{AccountId, ApiVersion, AppId, BusinessId, Connection, ConnectionState, InitialSync, InitialSyncState};
use crate::queue::memory::MemoryQueue;
use crate::secrets::local::LocalSecretBox;
use crate::secrets::{SecretBox, SecretString};
use crate::services::connect::seal_context;
use crate::services::intake::IntakeService;
use crate::store::memory::MemoryStore;
use crate::store::ConnectionStore;
use std::sync::Arc;
use time::OffsetDateTime;

/// The key of the fixtures' local secret box.
pub const TEST_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// The Hub webhook secret of the fixtures.
pub const HUB_SECRET: &str = "hub-secret";

/// In-memory adapters wired into an intake service.
pub struct IntakeFixture {
    /// The stores.
    pub store: Arc<MemoryStore>,
    /// The queue.
    pub queue: Arc<MemoryQueue>,
    /// The service under test.
    pub service: IntakeService,
    /// The secret box.
    pub secrets: Arc<LocalSecretBox>,
    /// The fixed now.
    pub now: OffsetDateTime,
}

/// Builds the fixture.
pub fn intake_fixture() -> IntakeFixture {
    let store = Arc::new(MemoryStore::default());
    let queue = Arc::new(MemoryQueue::default());
    #[allow(clippy::expect_used)]
    let secrets = Arc::new(LocalSecretBox::from_key_text(TEST_KEY_HEX).expect("valid key"));
    let now = OffsetDateTime::from_unix_timestamp(1_795_850_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let service = IntakeService::new(
        store.clone(),
        store.clone(),
        queue.clone(),
        secrets.clone(),
        Arc::new(FixedClock(now)),
        SecretString::new(HUB_SECRET),
    );
    IntakeFixture { store, queue, service, secrets, now }
}

impl IntakeFixture {
    /// Connects `account` to (app, business) with `verify_token`, in `state`.
    pub async fn connect(&self, account: &str, app: u64, business: u64, verify_token: &str, state: ConnectionState) -> AccountId {
        #[allow(clippy::expect_used)]
        let account_id = AccountId::parse(account).expect("valid account");
        let sealed = self
            .secrets
            .seal(&SecretString::new(verify_token), &seal_context(&account_id, "verify_token"))
            .await
            .expect("seal");
        let conn = Connection {
            account_id: account_id.clone(),
            state,
            app_id: AppId::new(app).expect("app"),
            business_id: BusinessId::new(business),
            api_version: ApiVersion::V2,
            secret_key_sealed: String::new(),
            access_token_sealed: None,
            verify_token_sealed: Some(sealed),
            token_expires_at: None,
            depot_ids: vec![],
            permissions: vec![],
            connected_at: Some(self.now),
            disconnected_at: None,
            initial_sync: Some(InitialSync { state: InitialSyncState::Done, done: 0, total: Some(0) }),
            version: 0,
        };
        self.store.put_claiming(&conn).await.expect("store");
        account_id
    }
}
