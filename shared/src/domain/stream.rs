//! The named streams the status counts on: one per kind of record synced, plus the intake and
//! bookkeeping streams. Their names are the keys of the status document.

use std::fmt;

/// A stream of the status (counters of applied, dropped, failed and ignored records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// Nhanh categories → Hub product groups.
    ProductGroups,
    /// Nhanh products → Hub products.
    Products,
    /// Orders both ways.
    Orders,
    /// Customers both ways.
    Customers,
    /// Nhanh retail bills → Hub orders (R14).
    Bills,
    /// Nhanh webhooks received by the intake.
    Webhooks,
    /// Hub events received by the intake.
    HubEvents,
    /// Scheduled passes.
    Reconcile,
    /// Pages done of the initial sync (progress, not records).
    InitialSync,
}

impl Stream {
    /// The streams of records synced, in the order the status shows them.
    pub const RECORDS: [Self; 5] = [Self::ProductGroups, Self::Products, Self::Orders, Self::Customers, Self::Bills];

    /// The stream's name in the status document and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductGroups => "product_groups",
            Self::Products => "products",
            Self::Orders => "orders",
            Self::Customers => "customers",
            Self::Bills => "bills",
            Self::Webhooks => "webhooks",
            Self::HubEvents => "hub_events",
            Self::Reconcile => "reconcile",
            Self::InitialSync => "initial_sync",
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
