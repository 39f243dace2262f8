pub mod connect;
pub mod intake;
pub mod process;
pub mod reconcile;
pub mod sync;
