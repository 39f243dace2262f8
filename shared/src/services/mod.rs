//! Use cases: connect, intake, the processor (with its initial sync, scheduled pass and bills), the schedule.

pub mod connect;
pub mod fleet;
pub mod intake;
pub mod process;
pub mod reconcile;
pub mod status;
