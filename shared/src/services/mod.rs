//! Use cases: connect, intake, the processor (with its initial sync, scheduled pass and bills), the schedule.

pub mod bills;
pub mod connect;
pub mod customers;
pub mod intake;
pub mod pass;
pub mod process;
pub mod reconcile;
pub mod sync;
