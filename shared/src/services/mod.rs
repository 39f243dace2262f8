pub mod connect;
pub mod intake;
pub mod process;
