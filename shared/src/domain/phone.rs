//! Vietnamese phone normalisation (rule R6).
//!
//! Keep digits; `+84`/`84` + 9 digits → `0` + 9 digits; a 9-digit number without its leading 0 gets
//! it back; legacy 11-digit mobile prefixes map to the 2018 ones; 11-digit landlines starting `02`
//! stay as they are; anything else is invalid and never used to match a customer.
//!
//! Decisions where R6 is silent: `84` followed by a legacy or landline number (12 or 11 digits) is
//! treated like `+84` + that number without its 0; a 10-digit result must not start with `00`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A normalised Vietnamese phone number: `0` + 9 digits, or an 11-digit `02…` landline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// Legacy 11-digit mobile prefixes (2018 renumbering) and their 3-digit replacements.
const LEGACY_PREFIXES: &[(&str, &str)] = &[
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

impl Phone {
    /// Normalises any user-typed phone; `None` means "invalid" (R6) and must not be used to match.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 64 {
            return None;
        }
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let national = match digits.len() {
            11 | 12 if digits.starts_with("84") => {
                let rest = &digits[2..];
                if rest.starts_with('0') {
                    rest.to_owned()
                } else {
                    format!("0{rest}")
                }
            }
            9 | 10 if !digits.starts_with('0') => format!("0{digits}"),
            _ => digits,
        };
        Self::from_national(national)
    }

    fn from_national(n: String) -> Option<Self> {
        match n.len() {
            10 if n.starts_with('0') && !n.starts_with("00") => Some(Self(n)),
            11 if n.starts_with("02") => Some(Self(n)),
            11 => LEGACY_PREFIXES
                .iter()
                .find(|(old, _)| n.starts_with(old))
                .map(|(old, new)| Self(format!("{new}{}", &n[old.len()..]))),
            _ => None,
        }
    }

    /// The normalised digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as the Hub stores phones (`0XXXXXXXXX`, 10 digits), or `None` for an 11-digit
    /// landline. Decision: R6 keeps `02…` landlines valid for matching, but the Hub contract stores
    /// only 10-digit phones and refuses any other form, so such a number is never sent to the Hub
    /// and its order syncs without a customer link (R5), like an order without a valid phone.
    pub fn for_hub(&self) -> Option<&str> {
        (self.0.len() == 10).then_some(self.0.as_str())
    }

    /// Normalises `raw` (R6) and keeps it only when the Hub can store it (see [`Phone::for_hub`]).
    pub fn parse_for_hub(raw: &str) -> Option<Self> {
        Self::parse(raw).filter(|p| p.for_hub().is_some())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Phone {
    type Error = super::ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| super::ParseError::new("phone", "not a valid Vietnamese phone number"))
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(raw: &str) -> Option<String> {
        Phone::parse(raw).map(String::from)
    }

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("0912345678", Some("0912345678")),
            ("+84 912 345 678", Some("0912345678")),
            ("84912345678", Some("0912345678")),
            ("912345678", Some("0912345678")),
            ("(+84) 0912.345.678", Some("0912345678")),
            ("01691234567", Some("0391234567")),
            ("+84 169 123 4567", Some("0391234567")),
            ("1691234567", Some("0391234567")),
            ("01201234567", Some("0701234567")),
            ("01211234567", Some("0791234567")),
            ("01231234567", Some("0831234567")),
            ("01861234567", Some("0561234567")),
            ("01991234567", Some("0591234567")),
            ("02438123456", Some("02438123456")),
            ("+84 24 3812 3456", Some("02438123456")),
            ("01301234567", None),
            ("0012345678", None),
            ("12345", None),
            ("", None),
            ("không có", None),
            ("091234567890", None),
        ];
        for (raw, want) in cases {
            assert_eq!(norm(raw).as_deref(), *want, "input {raw:?}");
        }
    }

    const LEGACY_CASES: &[(&str, &str)] = LEGACY_PREFIXES;

    proptest! {
        #[test]
        fn formats_of_one_mobile_agree(second in "[35789]", rest in "[0-9]{8}", sep in "[ .-]?") {
            let nine = format!("{second}{rest}");
            let want = format!("0{nine}");
            let spaced = format!("{}{sep}{}{sep}{}", &nine[..3], &nine[3..6], &nine[6..]);
            for raw in [format!("+84 {spaced}"), format!("84{nine}"), format!("0{spaced}"), nine.clone(), format!("+840{nine}")] {
                prop_assert_eq!(norm(&raw), Some(want.clone()), "input {}", raw);
            }
        }

        #[test]
        fn legacy_numbers_map_to_new(idx in 0..LEGACY_CASES.len(), rest in "[0-9]{7}") {
            let (old, new) = LEGACY_CASES[idx];
            let want = format!("{new}{rest}");
            prop_assert_eq!(norm(&format!("{old}{rest}")), Some(want.clone()));
            prop_assert_eq!(norm(&format!("+84{}{rest}", &old[1..])), Some(want.clone()));
            prop_assert_eq!(norm(&want), Some(want));
        }

        #[test]
        fn normalising_is_idempotent_and_total(raw in ".{0,40}") {
            if let Some(p) = norm(&raw) {
                prop_assert_eq!(norm(&p), Some(p.clone()));
                prop_assert!(p.len() == 10 || (p.len() == 11 && p.starts_with("02")));
                // What reaches the Hub is exactly its `0XXXXXXXXX` form, or nothing.
                match Phone::parse_for_hub(&raw) {
                    Some(h) => prop_assert!(h.as_str().len() == 10 && h.as_str().starts_with('0') && h.as_str().bytes().all(|b| b.is_ascii_digit())),
                    None => prop_assert_eq!(p.len(), 11),
                }
            } else {
                prop_assert_eq!(Phone::parse_for_hub(&raw), None);
            }
        }
    }
}
