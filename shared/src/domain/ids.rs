//! Identifier newtypes. Each has a `parse` that accepts only well-formed values from outside.

use super::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A Loyalty Hub account id (`"385"`): 1–64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Parses an account id taken from a path, a body or a session.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        parse_token(raw, "account_id").map(Self)
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Hub record id (product, group, customer, order): opaque text, 1–128 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HubId(String);

impl HubId {
    /// Parses a Hub id. The Hub may send ids as JSON numbers; callers pass their text form.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError::new("hub_id", "must be 1-128 printable ASCII characters"));
        }
        Ok(Self(raw.to_owned()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_token(raw: &str, field: &'static str) -> Result<String, ParseError> {
    if raw.is_empty() || raw.len() > 64 {
        return Err(ParseError::new(field, "must be 1-64 characters"));
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ParseError::new(field, "may contain only letters, digits, '-' and '_'"));
    }
    Ok(raw.to_owned())
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Parses a positive integer id given as text (surrounding spaces allowed).
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                match raw.trim().parse::<u64>() {
                    Ok(0) => Err(ParseError::new($field, "must be a positive integer")),
                    Ok(n) => Ok(Self(n)),
                    Err(_) => Err(ParseError::new($field, "must be a positive integer")),
                }
            }
            /// Wraps a known-positive id; returns `None` for 0.
            pub fn new(value: u64) -> Option<Self> {
                (value > 0).then_some(Self(value))
            }
            /// The numeric value.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

numeric_id!(
    /// A Nhanh app id (the developer app on open.nhanh.vn).
    AppId, "app_id"
);
numeric_id!(
    /// A Nhanh business (merchant) id.
    BusinessId, "business_id"
);
numeric_id!(
    /// A Nhanh record id (product, category, order, customer).
    NhanhId, "nhanh_id"
);

macro_rules! text_id_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
text_id_impls!(AccountId);
text_id_impls!(HubId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        for ok in ["385", "acct_1", "A-b"] {
            assert!(AccountId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "../x", "é", &"x".repeat(65)] {
            assert!(AccountId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_ids() {
        assert_eq!(AppId::parse(" 42 ").map(AppId::get), Ok(42));
        for bad in ["0", "-1", "abc", "", "1.5", "99999999999999999999999"] {
            assert!(BusinessId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hub_ids() {
        assert!(HubId::parse("c_123").is_ok());
        assert!(HubId::parse("a b").is_err());
        assert!(HubId::parse("").is_err());
    }
}
