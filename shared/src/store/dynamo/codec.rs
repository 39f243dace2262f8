//! Attribute codecs: the small conversions between DynamoDB attribute values and Rust values.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;

/// Name of the TTL attribute in the table.
pub const TTL_ATTRIBUTE: &str = "ttl_epoch";

/// One item as the SDK gives it.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn text_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(super) fn alive(item: &Item, now: OffsetDateTime) -> bool {
    item.get(TTL_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_none_or(|ttl| ttl > now.unix_timestamp())
}

pub(super) fn epoch(item: &Item, name: &str) -> Option<OffsetDateTime> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
}

pub(super) fn members_of(item: &Item) -> u64 {
    item.get("members").and_then(|v| v.as_ns().ok()).map_or(0, |m| m.len() as u64)
}

pub(super) fn count_of(item: &Item, name: &str) -> u64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}
