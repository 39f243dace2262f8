//! Status counters and the error log of an account.

use super::codec::*;
use super::keys::*;
use super::*;

#[async_trait]
impl StatsStore for DynamoStore {
    async fn add(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        amount: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (expression, stamp) = match counter {
            Counter::Applied => ("ADD applied :n SET last_applied_at = :at", true),
            Counter::Failed => ("ADD failed :n", false),
            Counter::Dropped => ("ADD dropped :n SET last_event_at = :at", true),
            Counter::Ignored => ("ADD ignored :n SET last_event_at = :at", true),
            Counter::Received => ("SET last_event_at = :at", true),
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(stat_sk(stream)))
            .update_expression(expression);
        if counter != Counter::Received {
            request = request.expression_attribute_values(":n", n(amount));
        }
        if stamp {
            request = request.expression_attribute_values(":at", n(at.unix_timestamp()));
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    /// One `UpdateItem`: the counter, `last_applied_at` (when applied) and `last_event_at`.
    async fn count_event(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        received_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let expression = match counter {
            Counter::Applied => "ADD applied :n SET last_applied_at = :at, last_event_at = :ev",
            Counter::Dropped => "ADD dropped :n SET last_event_at = :ev",
            Counter::Failed => "ADD failed :n SET last_event_at = :ev",
            Counter::Ignored => "ADD ignored :n SET last_event_at = :ev",
            Counter::Received => "SET last_event_at = :ev",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(stat_sk(stream)))
            .update_expression(expression)
            .expression_attribute_values(":ev", n(received_at.unix_timestamp()));
        if counter != Counter::Received {
            request = request.expression_attribute_values(":n", n(1));
        }
        if counter == Counter::Applied {
            request = request.expression_attribute_values(":at", n(at.unix_timestamp()));
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn advance(
        &self,
        account: &AccountId,
        stream: Stream,
        page: u32,
        count: u64,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        // One conditional update: the page joins the set and its count the counter, unless the
        // page is in the set already (a retried page), which is then only read.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(stat_sk(stream)))
            .update_expression("ADD pages :page, applied :count SET last_applied_at = :at")
            .condition_expression("attribute_not_exists(pages) OR NOT contains(pages, :seq)")
            .expression_attribute_values(":page", AttributeValue::Ns(vec![page.to_string()]))
            .expression_attribute_values(":seq", n(page))
            .expression_attribute_values(":count", n(count))
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes.as_ref().map_or(0, |item| count_of(item, "applied"))),
            Err(e) => {
                let e = e.into_service_error();
                if !e.is_conditional_check_failed_exception() {
                    return Err(unavailable(e));
                }
                let item = self.get_item(account_pk(account), &stat_sk(stream)).await?;
                Ok(item.as_ref().map_or(0, |item| count_of(item, "applied")))
            }
        }
    }

    async fn reset(&self, account: &AccountId, stream: Stream) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(stat_sk(stream)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn set_webhooks_live(&self, account: &AccountId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(webhooks_stat_sk()))
            .update_expression("SET live = :t, enabled_at = :at")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn stats(&self, account: &AccountId) -> Result<Stats, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account)))
            .expression_attribute_values(":prefix", s(STAT_PREFIX))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?
            .items
            .unwrap_or_default();
        let mut stats = Stats::default();
        for item in &items {
            let Some(stream) = text_attr(item, "SK").and_then(|sk| sk.strip_prefix(STAT_PREFIX)) else { continue };
            if stream == Stream::Webhooks.as_str() {
                // One item holds the liveness and the counters of the webhooks stream.
                stats.webhooks_live = item.get("live").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
                stats.webhooks_enabled_at = epoch(item, "enabled_at");
            }
            stats.streams.insert(
                stream.to_owned(),
                crate::domain::StreamCounters {
                    // `members`: the product ids an initial sync kept before it kept pages.
                    applied: count_of(item, "applied").max(members_of(item)),
                    dropped: count_of(item, "dropped"),
                    failed: count_of(item, "failed"),
                    ignored: count_of(item, "ignored"),
                    last_applied_at: epoch(item, "last_applied_at"),
                    last_event_at: epoch(item, "last_event_at"),
                },
            );
        }
        Ok(stats)
    }
}

/// How long failures stay on the error log.
const FAILURE_TTL_DAYS: i64 = 30;
#[async_trait]
impl FailureLog for DynamoStore {
    async fn record_failure(&self, account: &AccountId, failure: &FailureRecord) -> Result<(), StoreError> {
        let data = serde_json::to_string(failure).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let millis = failure.at.unix_timestamp_nanos() / 1_000_000;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(error_sk(millis, &failure.entity, &failure.record)))
            .item("data", s(data))
            .item(TTL_ATTRIBUTE, n((failure.at + time::Duration::days(FAILURE_TTL_DAYS)).unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn recent_failures(&self, account: &AccountId, limit: usize) -> Result<Vec<FailureRecord>, StoreError> {
        self.account_documents(account, ERROR_PREFIX, true, limit).await
    }
}
