//! R2: after the token exchange, one small page of each stream tells which permissions the
//! merchant denied.

use super::{ConnectError, ConnectService};
use crate::domain::Stream;
use crate::nhanh::{BillQuery, Credentials, CustomerQuery, NhanhError, OrderFilter, OrderQuery, ProductQuery};
use crate::Error;
use time::Duration;

/// The streams probed after the token exchange (R2), by their names on the status.
pub const PROBED_STREAMS: [Stream; 5] =
    [Stream::Products, Stream::ProductGroups, Stream::Orders, Stream::Customers, Stream::Bills];

impl ConnectService {
    /// Reads one small page of each stream; returns the streams answering `ERR_403`.
    pub(super) async fn probe(&self, creds: &Credentials) -> Result<Vec<&'static str>, ConnectError> {
        let now = self.clock.now();
        let results = [
            self.nhanh.products(creds, &ProductQuery { per_page: 1, ..Default::default() }).await.map(|_| ()),
            self.nhanh.categories(creds).await.map(|_| ()),
            self.nhanh
                .orders(
                    creds,
                    &OrderQuery {
                        after: None,
                        per_page: 1,
                        filter: OrderFilter::CreatedBetween(now - Duration::days(1), now),
                    },
                )
                .await
                .map(|_| ()),
            self.nhanh.customers(creds, &CustomerQuery { after: None, per_page: 1, mobile: None }).await.map(|_| ()),
            self.nhanh
                .retail_bills(
                    creds,
                    &BillQuery { after: None, per_page: 1, from: (now - Duration::days(1)).date(), to: now.date() },
                )
                .await
                .map(|_| ()),
        ];
        let mut denied = Vec::new();
        for (stream, result) in PROBED_STREAMS.into_iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(NhanhError::Forbidden { .. }) => denied.push(stream.as_str()),
                Err(NhanhError::InvalidAccessToken) => {
                    return Err(ConnectError::CodeRejected("Nhanh rejected the new access token".into()))
                }
                Err(e) => return Err(Error::from(e).into()),
            }
        }
        Ok(denied)
    }
}
