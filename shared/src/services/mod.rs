pub mod connect;
pub mod customers;
pub mod intake;
pub mod pass;
pub mod process;
pub mod reconcile;
pub mod sync;
