//! End-to-end tests against the local stack started by `scripts/test.sh` (moto, the simulators,
//! the functions under `cargo lambda watch`). One test binary; [`helpers::TestApp`] drives it.

mod browser;
mod connect;
mod helpers;
mod store;
mod invoke;
mod intake;
mod process;
mod sync;
