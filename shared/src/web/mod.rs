//! Framework-neutral HTTP: request/response types, the signed admin cookie, HTML pages, and the
//! connect function's routes. [`crate::lambda`] converts to and from `lambda_http`.

pub mod confirm_page;
pub mod connect;
pub mod connected;
pub mod cookie;
pub mod fleet;
pub mod format;
pub mod http;
pub mod intake;
pub mod pages;
/// The connect function's routes end to end over the in-memory adapters (a test-only file, so
/// named `tests.rs` like the processor's).
#[cfg(test)]
mod tests;
mod waiting;
