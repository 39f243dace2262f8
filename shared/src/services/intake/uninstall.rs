//! Nhanh's `appUninstalled` (R15): the merchant removed the app, so the connection ends like a
//! disconnect, and its kept data is left to expire (issue 24).

use super::{IntakeError, IntakeService};
use crate::domain::AccountId;
use crate::services::connect::{end_connection, queue_data_expiry, ConnectError, APP_UNINSTALLED};
use crate::Error;

impl IntakeService {
    /// Ends the account's connection (already ended: nothing to do) and queues the walk that
    /// gives its kept data the retention period's expiry.
    pub(super) async fn app_uninstalled(&self, account: &AccountId) -> Result<(), IntakeError> {
        let ended = end_connection(
            self.connections.as_ref(),
            self.clock.as_ref(),
            account,
            Some(APP_UNINSTALLED),
            self.data_retention,
        )
        .await;
        match ended {
            Ok(ended) => {
                queue_data_expiry(self.queue.as_ref(), &ended).await;
                Ok(())
            }
            Err(ConnectError::NotConnected) => Ok(()),
            Err(e) => Err(IntakeError::Unavailable(Error::Invalid(e.to_string()))),
        }
    }
}
