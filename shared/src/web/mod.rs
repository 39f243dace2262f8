//! Framework-neutral HTTP: request/response types, the signed admin cookie, HTML pages, and the
//! connect function's routes. [`crate::lambda`] converts to and from `lambda_http`.

pub mod connect;
#[cfg(test)]
mod connect_tests;
pub mod cookie;
pub mod format;
pub mod http;
pub mod intake;
pub mod pages;
