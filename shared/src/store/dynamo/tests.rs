//! The adapter's requests checked offline: a replaying HTTP client records what the SDK would send
//! to DynamoDB (operation and JSON body) and answers with canned bodies, so key formats,
//! conditions and update expressions are pinned without an emulator.

use super::DynamoStore;
use crate::domain::{AccountId, ApiVersion, AppId, BusinessId, Connection, ConnectionState, Counter, HubId, Stream};
use crate::store::{ConnectionStore, Entity, IdMapStore, StatsStore, StoreError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Records each request as (operation, body) and answers the next canned (status, body).
#[derive(Debug, Default)]
struct Replay {
    sent: Mutex<Vec<(String, Value)>>,
    answers: Mutex<VecDeque<(u16, Value)>>,
}

#[derive(Debug)]
struct ReplayConnector(Arc<Replay>);

impl HttpConnector for ReplayConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body = request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        self.0.sent.lock().unwrap().push((operation, body));
        let (status, answer) = self.0.answers.lock().unwrap().pop_front().unwrap_or((200, json!({})));
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(answer.to_string()));
        response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
        HttpConnectorFuture::ready(Ok(response))
    }
}

#[derive(Debug)]
struct ReplayClient(Arc<Replay>);

impl HttpClient for ReplayClient {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(ReplayConnector(self.0.clone()))
    }
}

fn store(answers: Vec<(u16, Value)>) -> (DynamoStore, Arc<Replay>) {
    let replay = Arc::new(Replay { sent: Mutex::default(), answers: Mutex::new(answers.into()) });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("ap-southeast-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("k", "s", None, None, "test"))
        .endpoint_url("http://dynamodb.local")
        .http_client(SharedHttpClient::new(ReplayClient(replay.clone())))
        .build();
    (DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "tbl"), replay)
}

fn connection(state: ConnectionState) -> Connection {
    Connection {
        account_id: AccountId::parse("385").unwrap(),
        state,
        app_id: AppId::new(7001).unwrap(),
        business_id: BusinessId::new(88_001),
        api_version: ApiVersion::V3,
        secret_key_sealed: "sealed".into(),
        access_token_sealed: None,
        verify_token_sealed: None,
        token_expires_at: None,
        depot_ids: vec![],
        permissions: vec![],
        connected_at: Some(OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()),
        disconnected_at: None,
        disconnect_reason: None,
        data_kept_until: None,
        initial_sync: None,
        version: 0,
    }
}

#[tokio::test]
async fn connecting_claims_the_business_writes_the_route_and_the_connection_in_one_transaction() {
    let (store, replay) = store(vec![]);
    store.put_claiming(&connection(ConnectionState::Syncing), None).await.unwrap();
    let sent = replay.sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "one call");
    let (operation, body) = &sent[0];
    assert_eq!(operation, "TransactWriteItems");
    let keys: Vec<(String, String)> = body["TransactItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let item = &i["Put"]["Item"];
            (item["PK"]["S"].as_str().unwrap().to_owned(), item["SK"]["S"].as_str().unwrap().to_owned())
        })
        .collect();
    for wanted in
        [("ACCT#385", "CONN"), ("BIZ#88001", "CLAIM"), ("APP#7001#BIZ#88001", "ROUTE"), ("APP#7001", "ACCT#385")]
    {
        assert!(keys.contains(&(wanted.0.to_owned(), wanted.1.to_owned())), "{wanted:?} in {keys:?}");
    }
    let claim =
        body["TransactItems"].as_array().unwrap().iter().find(|i| i["Put"]["Item"]["SK"]["S"] == "CLAIM").unwrap();
    assert_eq!(claim["Put"]["ConditionExpression"], "attribute_not_exists(PK) OR account_id = :a", "R1");
    assert!(body["TransactItems"].as_array().unwrap().iter().all(|i| i["Put"]["TableName"] == "tbl"));
}

#[tokio::test]
async fn a_cancelled_claim_reads_as_business_taken_and_is_not_retried() {
    let cancelled = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled",
        "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}, {"Code": "None"}, {"Code": "None"}]
    });
    let (store, replay) = store(vec![(400, cancelled)]);
    let result = store.put_claiming(&connection(ConnectionState::Syncing), None).await;
    let order: Vec<String> = replay.sent.lock().unwrap()[0].1["TransactItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Put"]["Item"]["SK"]["S"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(order[1], "CLAIM", "the reasons are matched by position");
    assert!(matches!(result, Err(StoreError::BusinessTaken)), "{result:?}");
    assert_eq!(replay.sent.lock().unwrap().len(), 1, "a condition failure is an answer, not a transient error");
}

#[tokio::test]
async fn counters_are_one_atomic_update_per_call() {
    let (store, replay) = store(vec![]);
    let account = AccountId::parse("385").unwrap();
    let at = OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap();
    store.add(&account, Stream::Products, Counter::Applied, 50, at).await.unwrap();
    let sent = replay.sent.lock().unwrap();
    let (operation, body) = &sent[0];
    assert_eq!(operation, "UpdateItem");
    assert_eq!(body["Key"], json!({"PK": {"S": "ACCT#385"}, "SK": {"S": "STAT#products"}}));
    assert_eq!(body["UpdateExpression"], "ADD applied :n SET last_applied_at = :at");
    assert_eq!(body["ExpressionAttributeValues"][":n"], json!({"N": "50"}));
    assert_eq!(body["ExpressionAttributeValues"][":at"], json!({"N": "1796000000"}));
}

#[tokio::test]
async fn initial_sync_progress_keeps_pages_and_a_page_marked_twice_is_only_read() {
    let conditional =
        json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "failed"});
    let (store, replay) = store(vec![
        (200, json!({"Attributes": {"applied": {"N": "100"}, "pages": {"NS": ["1", "2"]}}})),
        (400, conditional),
        (200, json!({"Item": {"PK": {"S": "ACCT#385"}, "SK": {"S": "STAT#initial_sync"}, "applied": {"N": "100"}}})),
    ]);
    let account = AccountId::parse("385").unwrap();
    let at = OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap();
    assert_eq!(store.advance(&account, Stream::InitialSync, 2, 50, at).await.unwrap(), 100);
    assert_eq!(store.advance(&account, Stream::InitialSync, 2, 50, at).await.unwrap(), 100, "counted once");
    let sent = replay.sent.lock().unwrap();
    let (operation, body) = &sent[0];
    assert_eq!(operation, "UpdateItem");
    assert_eq!(body["Key"], json!({"PK": {"S": "ACCT#385"}, "SK": {"S": "STAT#initial_sync"}}));
    assert_eq!(body["UpdateExpression"], "ADD pages :page, applied :count SET last_applied_at = :at");
    assert_eq!(body["ConditionExpression"], "attribute_not_exists(pages) OR NOT contains(pages, :seq)");
    assert_eq!(body["ExpressionAttributeValues"][":page"], json!({"NS": ["2"]}));
    assert_eq!(body["ExpressionAttributeValues"][":seq"], json!({"N": "2"}));
    assert_eq!(body["ExpressionAttributeValues"][":count"], json!({"N": "50"}));
    assert_eq!(sent[2].0, "GetItem", "the refused second mark reads the count");
}

#[tokio::test]
async fn id_maps_link_both_ways_and_read_consistently() {
    let (store, replay) =
        store(vec![(200, json!({})), (200, json!({})), (200, json!({"Item": {"hub": {"S": "h-1"}}}))]);
    let account = AccountId::parse("385").unwrap();
    let hub = HubId::parse("h-1").unwrap();
    store.link(&account, Entity::Order, "77", &hub).await.unwrap();
    let _ = store.hub_id(&account, Entity::Order, "77").await;
    let sent = replay.sent.lock().unwrap();
    let (writes, reads) = sent.split_at(sent.len() - 1);
    let written: Vec<String> = writes
        .iter()
        .map(|(operation, body)| {
            assert_eq!(operation, "PutItem");
            body["Item"]["SK"]["S"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(written.contains(&"MAP#order#N#77".to_owned()) && written.contains(&"MAP#order#H#h-1".to_owned()));
    let (operation, read) = &reads[0];
    assert_eq!(operation, "GetItem");
    assert_eq!(read["Key"], json!({"PK": {"S": "ACCT#385"}, "SK": {"S": "MAP#order#N#77"}}));
    assert_eq!(read["ConsistentRead"], true);
}
