//! The connection, its R1 claim, its webhook route and the pending connect attempts.

use super::codec::*;
use super::keys::*;
use super::*;

impl DynamoStore {
    /// The route item of (`conn`'s app, `business`) holding `conn` (the connection as written),
    /// so intake reads the route and the connection state in one `GetItem`. `owned_only`: only
    /// if the route is absent or already this account's (a claim takes it over unconditionally).
    fn route_copy(&self, conn: &Connection, business: BusinessId, owned_only: bool) -> Result<Put, StoreError> {
        let data = serde_json::to_string(conn).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let account = s(conn.account_id.as_str());
        let mut builder = Put::builder()
            .table_name(&self.table)
            .item("PK", s(route_pk(conn.app_id, business)))
            .item("SK", s(ROUTE_SK))
            .item("account_id", account.clone())
            .item("data", s(data));
        if owned_only {
            builder = builder
                .condition_expression("attribute_not_exists(PK) OR account_id = :a")
                .expression_attribute_values(":a", account);
        }
        build(builder.build())
    }
}

/// The connection an item holds.
fn connection_of(item: &Item) -> Result<Connection, StoreError> {
    let data = text_attr(item, "data").ok_or_else(|| StoreError::Corrupt("connection without data".into()))?;
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn get(&self, account: &AccountId) -> Result<Option<Connection>, StoreError> {
        let Some(item) = self.get_item(account_pk(account), CONNECTION_SK).await? else { return Ok(None) };
        connection_of(&item).map(Some)
    }

    /// One `BatchGetItem` of the connection and the business's lock item.
    async fn get_with_rate_locks(
        &self,
        account: &AccountId,
        business: crate::domain::NhanhBusiness,
        now: OffsetDateTime,
    ) -> Result<(Option<Connection>, Option<crate::store::RateLockSnapshot>), StoreError> {
        let (item, locks) = self.connection_and_locks(account, business, now).await?;
        Ok((item.as_ref().map(connection_of).transpose()?, Some(locks)))
    }

    /// While the connection holds its business, the route's copy is written in the same
    /// transaction (see [`ConnectionStore::route`]); otherwise one conditional `PutItem`.
    async fn put(&self, conn: &Connection) -> Result<Connection, StoreError> {
        let (put, next) = self.connection_put(conn)?;
        if let (true, Some(business)) = (next.state.is_connected(), next.business_id) {
            let route = self.route_copy(&next, business, true)?;
            let items =
                vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().put(route).build()];
            self.transact(items, &[StoreError::Conflict, StoreError::Conflict]).await?;
            return Ok(next);
        }
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(put.item().clone()));
        request = request.set_condition_expression(put.condition_expression().map(str::to_owned));
        request = request.set_expression_attribute_values(put.expression_attribute_values().cloned());
        match request.send().await {
            Ok(_) => Ok(next),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Err(StoreError::Conflict)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn put_claiming(&self, conn: &Connection, previous_app: Option<AppId>) -> Result<Connection, StoreError> {
        let business = conn.business_id.ok_or_else(|| StoreError::Corrupt("claim without a business".into()))?;
        let (put, next) = self.connection_put(conn)?;
        let account = s(conn.account_id.as_str());
        let claim = build(
            Put::builder()
                .table_name(&self.table)
                .item("PK", s(claim_pk(business)))
                .item("SK", s(CLAIM_SK))
                .item("account_id", account.clone())
                .condition_expression("attribute_not_exists(PK) OR account_id = :a")
                .expression_attribute_values(":a", account.clone())
                .build(),
        )?;
        // The claim is this account's now: so is the route, whoever held it before.
        let route = self.route_copy(&next, business, false)?;
        let app_route = build(
            Put::builder()
                .table_name(&self.table)
                .item("PK", s(app_pk(conn.app_id)))
                .item("SK", s(account_pk(&conn.account_id)))
                .item("account_id", account)
                .build(),
        )?;
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().put(claim).build(),
            TransactWriteItem::builder().put(route).build(),
            TransactWriteItem::builder().put(app_route).build(),
        ];
        if let Some(old) = previous_app.filter(|old| *old != conn.app_id) {
            // Unconditional: while this account claims the business, no other account is
            // connected to it, so the old route holds at most a disconnected copy.
            let stale = build(
                Delete::builder()
                    .table_name(&self.table)
                    .key("PK", s(route_pk(old, business)))
                    .key("SK", s(ROUTE_SK))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().delete(stale).build());
        }
        self.transact(items, &[StoreError::Conflict, StoreError::BusinessTaken]).await?;
        Ok(next)
    }

    async fn put_releasing(&self, conn: &Connection, business: BusinessId) -> Result<Connection, StoreError> {
        let (put, next) = self.connection_put(conn)?;
        let release = build(
            Delete::builder()
                .table_name(&self.table)
                .key("PK", s(claim_pk(business)))
                .key("SK", s(CLAIM_SK))
                .condition_expression("attribute_not_exists(PK) OR account_id = :a")
                .expression_attribute_values(":a", s(conn.account_id.as_str()))
                .build(),
        )?;
        let route = self.route_copy(&next, business, true)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().delete(release).build(),
            TransactWriteItem::builder().put(route).build(),
        ];
        self.transact(items, &[StoreError::Conflict, StoreError::Conflict, StoreError::Conflict]).await?;
        Ok(next)
    }

    /// One `GetItem`. A route written before routes held a copy names only the account: its
    /// connection is read then (a second read, until the connection is next written).
    async fn route(&self, app: AppId, business: BusinessId) -> Result<Option<Connection>, StoreError> {
        let Some(item) = self.get_item(route_pk(app, business), ROUTE_SK).await? else { return Ok(None) };
        if let Some(data) = text_attr(&item, "data") {
            return serde_json::from_str(data).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()));
        }
        match text_attr(&item, "account_id").and_then(|a| AccountId::parse(a).ok()) {
            Some(account) => self.get(&account).await,
            None => Ok(None),
        }
    }

    async fn accounts_of_app(&self, app: AppId) -> Result<Vec<AccountId>, StoreError> {
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :acct)")
            .expression_attribute_values(":pk", s(app_pk(app)))
            .expression_attribute_values(":acct", s("ACCT#"))
            .limit(100)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(answer
            .items()
            .iter()
            .filter_map(|i| text_attr(i, "account_id"))
            .filter_map(|a| AccountId::parse(a).ok())
            .collect())
    }

    /// A Query of the sparse `connections` index (only connection items carry its key), so the
    /// cost follows the number of accounts, not the size of the table. The cursor is the last
    /// account's `PK`: index items are one per account, and their table `SK` is always `CONN`.
    async fn connected_accounts(&self, cursor: Option<String>) -> Result<(Vec<AccountId>, Option<String>), StoreError> {
        let out = self
            .connections_index(cursor, 500)
            .filter_expression("#st IN (:s1, :s2, :s3)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":s1", s("syncing"))
            .expression_attribute_values(":s2", s("active"))
            .expression_attribute_values(":s3", s("needs_reauth"))
            .send()
            .await
            .map_err(unavailable)?;
        let accounts =
            out.items.unwrap_or_default().iter().filter_map(|i| text_attr(i, "PK")).filter_map(account_of_pk).collect();
        let next = out.last_evaluated_key.as_ref().and_then(|k| text_attr(k, "PK")).map(str::to_owned);
        Ok((accounts, next))
    }
}

#[async_trait]
impl PendingStore for DynamoStore {
    async fn put_pending(&self, attempt: &PendingAttempt) -> Result<(), StoreError> {
        let data = serde_json::to_string(attempt).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(pending_pk(&attempt.account_id, attempt.app_id)))
            .item("SK", s(PENDING_SK))
            .item("data", s(data))
            .item(TTL_ATTRIBUTE, n(attempt.expires_at.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_pending(
        &self,
        account: &AccountId,
        app: AppId,
        now: OffsetDateTime,
    ) -> Result<Option<PendingAttempt>, StoreError> {
        let Some(item) = self.get_item(pending_pk(account, app), PENDING_SK).await? else { return Ok(None) };
        if !alive(&item, now) {
            return Ok(None);
        }
        let data = text_attr(&item, "data").ok_or_else(|| StoreError::Corrupt("pending without data".into()))?;
        let attempt: PendingAttempt = serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((attempt.expires_at > now).then_some(attempt))
    }

    async fn delete_pending(&self, account: &AccountId, app: AppId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(pending_pk(account, app)))
            .key("SK", s(PENDING_SK))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl DynamoStore {
    /// A Query of the sparse `connections` index from after the account of `after_pk` (its
    /// table `PK`; index items are one per account, and their `SK` is always `CONN`).
    pub(super) fn connections_index(
        &self,
        after_pk: Option<String>,
        limit: i32,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CONNECTIONS_INDEX)
            .key_condition_expression("#list = :conn")
            .expression_attribute_names("#list", CONNECTIONS_INDEX_KEY)
            .expression_attribute_values(":conn", s(CONNECTION_SK))
            .limit(limit);
        match after_pk {
            Some(pk) => request
                .exclusive_start_key(CONNECTIONS_INDEX_KEY, s(CONNECTION_SK))
                .exclusive_start_key("PK", s(pk))
                .exclusive_start_key("SK", s(CONNECTION_SK)),
            None => request,
        }
    }
}

/// The account of an account item's `PK` (`ACCT#{account}`).
pub(super) fn account_of_pk(pk: &str) -> Option<AccountId> {
    pk.strip_prefix(ACCOUNT_PREFIX).and_then(|a| AccountId::parse(a).ok())
}
