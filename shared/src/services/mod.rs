pub mod connect;
pub mod customers;
pub mod intake;
pub mod process;
pub mod reconcile;
pub mod sync;
