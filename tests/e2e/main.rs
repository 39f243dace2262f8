//! End-to-end tests against the local stack started by `scripts/test.sh` (moto, the simulators,
//! the functions under `cargo lambda watch`). One test binary; [`helpers::TestApp`] drives it.

/// Runs `async fn $name(api: Api)` as two tests, `$name::v2` and `$name::v3` (one body, both
/// versions of the Nhanh API).
macro_rules! on_both_versions {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn v2() {
                super::$name(crate::helpers::Api::V2).await
            }
            #[tokio::test]
            async fn v3() {
                super::$name(crate::helpers::Api::V3).await
            }
        }
    )+};
}

mod bills;
mod browser;
mod clicks;
mod confirm;
mod connect;
mod helpers;
mod intake;
mod invoke;
mod measure;
mod operations;
mod process;
mod robustness;
mod sale;
mod secrets;
mod security;
mod store;
mod sync;
