//! How far a listing of a pass goes: the window of one stream, where it stopped, the page cap
//! every listing keeps to, and one invocation's time budget.

use crate::domain::{AccountId, PassStream};
use crate::nhanh::PageToken;
use time::OffsetDateTime;

/// What is left to read of one stream: its window and where to go on reading it.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) from: OffsetDateTime,
    pub(crate) after: Option<PageToken>,
    pub(crate) until: OffsetDateTime,
    /// Pages of this window read before (by earlier invocations of the pass).
    pub(crate) pages: u32,
}

/// Where a stream stopped because the budget was spent.
#[derive(Debug, Clone)]
pub(crate) struct Stopped {
    pub(crate) from: OffsetDateTime,
    pub(crate) after: Option<PageToken>,
    pub(crate) pages: u32,
}

/// The most pages one stream's window is read in, across continuations: 10 000 pages are 1 000 000
/// orders or bills, 500 000 products, or a million Hub records, far beyond a window of a real
/// business. A source that keeps announcing more (a Hub that always answers `has_more`, Nhanh
/// page tokens that cycle) is cut there, logged, and its cursor stays, so nothing is skipped: the
/// next pass reads the window again, at a bounded cost.
pub(crate) const MAX_PAGES_PER_WINDOW: u32 = 10_000;

/// Whether a listing of `stream` has read its cap of pages (logged when it has).
pub(crate) fn at_page_cap(account: &AccountId, stream: PassStream, pages: u32) -> bool {
    if pages < MAX_PAGES_PER_WINDOW {
        return false;
    }
    tracing::error!(
        account_id = account.as_str(),
        stream = stream.as_str(),
        pages,
        "listing cut at its page cap: the source keeps announcing more pages; its cursor stays"
    );
    true
}

/// A Hub listing's page number as a token (Hub listings page by number).
pub(crate) fn hub_page(after: Option<&PageToken>) -> u32 {
    after.and_then(|t| t.as_str().parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1)
}

/// One invocation's time for a pass.
pub(crate) struct Budget {
    deadline: OffsetDateTime,
    pub(crate) pages: u32,
}

impl Budget {
    /// A budget that ends at `deadline`.
    pub(crate) fn until(deadline: OffsetDateTime) -> Self {
        Self { deadline, pages: 0 }
    }

    /// Spent once the deadline passed, but never before a first page, so every invocation progresses.
    pub(crate) fn spent(&self, now: OffsetDateTime) -> bool {
        self.pages > 0 && now >= self.deadline
    }
}
