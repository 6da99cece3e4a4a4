//! Identifiers. Ids are opaque text (UUIDv7, so they sort by creation time); usernames are
//! validated at the edge so the rest of the system only ever sees well-formed ones.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user's permanent id. Never reused, never shown as a login name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// A new id from a UUIDv7 (time-ordered).
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
    /// Wraps an id read back from the store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name: 3–64 characters of `a-z 0-9 . _ -`, starting with a letter.
///
/// Restricting the alphabet keeps names unambiguous in logs and URLs and rules out
/// look-alike Unicode names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Fewer than 3 or more than 64 characters.
    #[error("a username has 3 to 64 characters")]
    Length,
    /// Does not start with a lowercase ASCII letter.
    #[error("a username starts with a letter a-z")]
    Start,
    /// Contains a character outside `a-z 0-9 . _ -`.
    #[error("a username uses only a-z, 0-9, '.', '_' and '-'")]
    Charset,
}

impl Username {
    /// Validates a username. Upper-case input is refused rather than folded, so that what
    /// the admin typed is exactly what is stored.
    pub fn parse(s: &str) -> Result<Self, UsernameError> {
        let n = s.chars().count();
        if !(3..=64).contains(&n) {
            return Err(UsernameError::Length);
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(UsernameError::Start);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            return Err(UsernameError::Charset);
        }
        Ok(Self(s.to_owned()))
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_refuses() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("r.tanaka-2").is_ok());
        assert_eq!(Username::parse("al"), Err(UsernameError::Length));
        assert_eq!(Username::parse("Alice"), Err(UsernameError::Start));
        assert_eq!(Username::parse("1alice"), Err(UsernameError::Start));
        assert_eq!(Username::parse("ali ce"), Err(UsernameError::Charset));
        assert_eq!(Username::parse("たなか"), Err(UsernameError::Start));
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(s in "[a-z][a-z0-9._-]{2,63}") {
            let u = Username::parse(&s).unwrap();
            prop_assert_eq!(u.as_str(), s.as_str());
        }

        #[test]
        fn parse_never_accepts_outside_alphabet(s in "\\PC{0,80}") {
            if let Ok(u) = Username::parse(&s) {
                prop_assert!(u.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)));
                prop_assert!((3..=64).contains(&u.as_str().len()));
            }
        }
    }
}
