//! The Nhanh.vn connector of the Loyalty Hub: domain, ports, adapters and use cases.
//!
//! Function binaries under `functions/` only wire configuration and adapters and translate events;
//! everything else lives here. Only the [`lambda`] module knows about `lambda_*` types, and only
//! the [`nhanh`] module knows a Nhanh API version's shapes (v2 and v3 adapters behind one port).

pub mod aws_audit;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
/// Entry points of the fuzz targets and the replay of their saved inputs; not in production builds.
#[cfg(any(test, feature = "testing"))]
pub mod fuzzing;
pub mod hub;
pub mod lambda;
pub mod lenient;
pub mod mapping;
pub mod metrics;
pub mod nhanh;
pub mod queue;
pub mod retry;
pub mod secrets;
pub mod services;
pub mod store;
pub mod telemetry;
/// Fixtures over the in-memory fakes, for unit tests and benchmarks; not in production builds.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod web;

pub use error::{Error, Result};
