pub mod connect;
pub mod intake;
