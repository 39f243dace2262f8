//! A record of every AWS call a function makes, for the local stack's IAM check.
//!
//! moto does not enforce IAM, so a policy in `template.yaml` that lacks an action passes every
//! local test and fails in AWS. When `AWS_ACTION_LOG` names a file, the SDK's HTTP client is
//! wrapped: each request appends one JSON line `{"function", "action", "resources"}` (for example
//! `dynamodb:GetItem` on `table/<name>`; KMS calls add their `encryption_context`), and `scripts/check_iam.py` compares the lines with each
//! function's policy. Unset (as in AWS), nothing is wrapped and nothing is written.
//!
//! The action comes from the `X-Amz-Target` header that the JSON protocols of DynamoDB, SQS and
//! KMS send; the resources from the body's `TableName`, `IndexName`, `RequestItems`,
//! `TransactItems`, `QueueUrl`, `KeyId` and `SecretId`.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

/// Where the lines go and which function writes them.
#[derive(Debug)]
struct ActionLog {
    path: std::path::PathBuf,
    function: String,
}

impl ActionLog {
    fn record(&self, request: &HttpRequest) {
        let Some(action) = request.headers().get("x-amz-target").and_then(iam_action) else { return };
        let body: Value = request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        let mut line = json!({"function": self.function, "action": action, "iam": iam_actions(&action, &body), "resources": resources(&body)});
        // KMS grants are conditioned on the encryption context (issue 22): the check needs it.
        if let Some(context) = body.get("EncryptionContext").filter(|c| c.is_object()) {
            line["encryption_context"] = context.clone();
        }
        // One short write per line with O_APPEND: lines of concurrent processes do not interleave.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not record an AWS action");
        }
    }
}

/// `DynamoDB_20120810.GetItem` → `dynamodb:GetItem`; `AmazonSQS.SendMessage` → `sqs:SendMessage`;
/// `TrentService.Encrypt` → `kms:Encrypt`; `secretsmanager.GetSecretValue` → itself.
pub fn iam_action(target: &str) -> Option<String> {
    let (service, operation) = target.split_once('.')?;
    let prefix = match service {
        s if s.starts_with("DynamoDB") => "dynamodb",
        "AmazonSQS" => "sqs",
        "TrentService" => "kms",
        "secretsmanager" => "secretsmanager",
        _ => return None,
    };
    Some(format!("{prefix}:{operation}"))
}

/// The IAM actions a call needs, which are not always its own name: `SendMessageBatch` needs
/// `sqs:SendMessage`, `TransactWriteItems` the action of each item it carries (`Put` →
/// `dynamodb:PutItem`, `ConditionCheck` → `dynamodb:ConditionCheckItem`, …).
pub fn iam_actions(action: &str, body: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    match action {
        "dynamodb:TransactWriteItems" | "dynamodb:TransactGetItems" => {
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for op in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    let name = match op.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        other => other,
                    };
                    out.insert(format!("dynamodb:{name}"));
                }
            }
        }
        other => {
            out.insert(other.strip_suffix("Batch").filter(|_| other.starts_with("sqs:")).unwrap_or(other).to_owned());
        }
    }
    out.into_iter().collect()
}

/// The resources a JSON request body names: `table/<name>`, `table/<name>/index/<index>`,
/// `queue/<name>` and `key/<id>`.
pub fn resources(body: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut table = |name: &str, index: Option<&str>| {
        out.insert(match index {
            Some(i) => format!("table/{name}/index/{i}"),
            None => format!("table/{name}"),
        });
    };
    if let Some(name) = body["TableName"].as_str() {
        table(name, body["IndexName"].as_str());
    }
    if let Some(items) = body["RequestItems"].as_object() {
        items.keys().for_each(|name| table(name, None));
    }
    for item in body["TransactItems"].as_array().into_iter().flatten() {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            if let Some(name) = op["TableName"].as_str() {
                table(name, None);
            }
        }
    }
    if let Some(url) = body["QueueUrl"].as_str() {
        out.insert(format!("queue/{}", url.rsplit('/').next().unwrap_or(url)));
    }
    if let Some(key) = body["KeyId"].as_str() {
        out.insert(format!("key/{key}"));
    }
    if let Some(secret) = body["SecretId"].as_str() {
        out.insert(format!("secret/{secret}"));
    }
    out.into_iter().collect()
}

#[derive(Debug)]
struct AuditedConnector {
    inner: SharedHttpConnector,
    log: Arc<ActionLog>,
}

impl HttpConnector for AuditedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.log.record(&request);
        self.inner.call(request)
    }
}

#[derive(Debug)]
struct AuditedClient {
    inner: SharedHttpClient,
    log: Arc<ActionLog>,
}

impl HttpClient for AuditedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(AuditedConnector {
            inner: self.inner.http_connector(settings, components),
            log: self.log.clone(),
        })
    }
}

/// `client` itself, or, when `AWS_ACTION_LOG` is set, `client` recording every call to that file
/// under this function's name (`AWS_LAMBDA_FUNCTION_NAME`, else the executable's name).
pub fn wrap_from_env(client: SharedHttpClient) -> SharedHttpClient {
    let Some(path) = std::env::var_os("AWS_ACTION_LOG").filter(|p| !p.is_empty()) else { return client };
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".to_owned())
    });
    SharedHttpClient::new(AuditedClient { inner: client, log: Arc::new(ActionLog { path: path.into(), function }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_resources_of_the_json_protocols() {
        assert_eq!(iam_action("DynamoDB_20120810.BatchWriteItem").as_deref(), Some("dynamodb:BatchWriteItem"));
        assert_eq!(iam_action("AmazonSQS.SendMessage").as_deref(), Some("sqs:SendMessage"));
        assert_eq!(iam_action("TrentService.Decrypt").as_deref(), Some("kms:Decrypt"));
        assert_eq!(iam_action("Unknown.Op"), None);
        assert_eq!(iam_action("no-dot"), None);
        let query = json!({"TableName": "t", "IndexName": "connections"});
        assert_eq!(resources(&query), vec!["table/t/index/connections"]);
        let batch = json!({"RequestItems": {"t": [], "u": []}});
        assert_eq!(resources(&batch), vec!["table/t", "table/u"]);
        let tx = json!({"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]});
        assert_eq!(resources(&tx), vec!["table/t"]);
        assert_eq!(
            iam_actions("dynamodb:TransactWriteItems", &tx),
            vec!["dynamodb:ConditionCheckItem", "dynamodb:PutItem"]
        );
        assert_eq!(iam_actions("sqs:SendMessageBatch", &Value::Null), vec!["sqs:SendMessage"]);
        assert_eq!(iam_actions("dynamodb:BatchWriteItem", &Value::Null), vec!["dynamodb:BatchWriteItem"]);
        let send = json!({"QueueUrl": "http://127.0.0.1:4566/123456789012/local-work.fifo"});
        assert_eq!(resources(&send), vec!["queue/local-work.fifo"]);
        assert_eq!(resources(&json!({"KeyId": "k-1"})), vec!["key/k-1"]);
        assert_eq!(iam_action("secretsmanager.GetSecretValue").as_deref(), Some("secretsmanager:GetSecretValue"));
        assert_eq!(resources(&json!({"SecretId": "arn:s"})), vec!["secret/arn:s"]);
        assert!(resources(&Value::Null).is_empty());
    }
}
