//! The password policy, after NIST SP 800-63B: length matters, composition rules do not;
//! known-bad passwords are refused. The policy is pure so it can be property-tested and
//! shown to users in plain words.

/// Why a password was refused. Each variant has a message key in the UI catalogue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Shorter than [`MIN_LEN`] characters.
    #[error("a password has at least {MIN_LEN} characters")]
    TooShort,
    /// Longer than [`MAX_LEN`] characters (bounds the hashing cost an attacker can cause).
    #[error("a password has at most {MAX_LEN} characters")]
    TooLong,
    /// Contains the username.
    #[error("a password must not contain the username")]
    ContainsUsername,
    /// Appears on the list of common passwords, or is one character repeated or a simple run.
    #[error("this password is too common or too easy to guess")]
    TooCommon,
}

impl PasswordProblem {
    /// Stable code for messages and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            PasswordProblem::TooShort => "password_too_short",
            PasswordProblem::TooLong => "password_too_long",
            PasswordProblem::ContainsUsername => "password_contains_username",
            PasswordProblem::TooCommon => "password_too_common",
        }
    }
}

/// Minimum length in characters.
pub const MIN_LEN: usize = 12;
/// Maximum length in characters.
pub const MAX_LEN: usize = 256;

/// A short list of the most common passwords of 12+ characters (from public breach
/// corpora). Shorter ones are already refused by the length rule.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789abc",
    "1q2w3e4r5t6y",
    "qwertyuiopas",
    "qwerty123456",
    "password1234",
    "password12345",
    "passw0rd1234",
    "iloveyou1234",
    "administrator",
    "adminadmin12",
    "welcome12345",
    "letmein12345",
    "qwertyuiop12",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "abcdefghijkl",
    "abc123456789",
    "changeme1234",
    "trustno11234",
    "football1234",
    "baseball1234",
    "monkey123456",
    "sunshine1234",
    "princess1234",
    "dragon123456",
    "superman1234",
    "master123456",
    "p@ssw0rd1234",
    "p@ssword1234",
    "passwordpassword",
    "qwertyqwerty",
    "asdfghjkl123",
];

/// Checks a candidate password. Returns the first problem found.
pub fn check(password: &str, username: &str) -> Result<(), PasswordProblem> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(PasswordProblem::TooShort);
    }
    if n > MAX_LEN {
        return Err(PasswordProblem::TooLong);
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err(PasswordProblem::ContainsUsername);
    }
    if COMMON.contains(&lower.as_str()) || is_trivial(&lower) {
        return Err(PasswordProblem::TooCommon);
    }
    // Against the large lists (tens of thousands of breached passwords, names and
    // words, keyboard patterns, dates, l33t substitutions) and a guess count: anything
    // an attacker would try within about 10^10 guesses is refused, as NIST SP 800-63B
    // asks of a blocklist. The username and the platform's name count as known words.
    let estimate = zxcvbn::zxcvbn(password, &[username, "renkei", "連携"]);
    if estimate.score() < zxcvbn::Score::Four {
        return Err(PasswordProblem::TooCommon);
    }
    Ok(())
}

/// One repeated character, or a run of consecutive code points ("abcdefghijkl",
/// "987654321098" is not a run but "123456789..." is).
fn is_trivial(p: &str) -> bool {
    let cs: Vec<u32> = p.chars().map(u32::from).collect();
    let all_same = cs.windows(2).all(|w| w[0] == w[1]);
    let ascending = cs.windows(2).all(|w| w[1] == w[0] + 1);
    let descending = cs.windows(2).all(|w| w[0] == w[1] + 1);
    all_same || ascending || descending
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_large_lists_and_the_guess_count_refuse_what_attackers_try() {
        for weak in [
            "iloveyou2024!",
            "Summer2023Summer",
            "qazwsxedcrfvtgb",
            "monkeymonkey12",
            "p4ssw0rd12345",
            "dragon19871987",
            "jordan23jordan23",
        ] {
            assert_eq!(
                check(weak, "bob"),
                Err(PasswordProblem::TooCommon),
                "{weak}"
            );
        }
        for strong in [
            "correct horse battery staple",
            "tv3g-ncn2-jfss-pjeq",
            "梅雨明けの空に凧を三つ揚げた日曜日",
        ] {
            assert_eq!(check(strong, "bob"), Ok(()), "{strong}");
        }
    }

    #[test]
    fn examples() {
        assert_eq!(check("short", "alice"), Err(PasswordProblem::TooShort));
        assert_eq!(
            check("alice-is-great-2026", "alice"),
            Err(PasswordProblem::ContainsUsername)
        );
        assert_eq!(
            check("Password1234", "bob"),
            Err(PasswordProblem::TooCommon)
        );
        assert_eq!(
            check("aaaaaaaaaaaaaaaa", "bob"),
            Err(PasswordProblem::TooCommon)
        );
        assert_eq!(
            check("abcdefghijklmnop", "bob"),
            Err(PasswordProblem::TooCommon)
        );
        assert_eq!(
            check(&"x".repeat(300), "bob"),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(check("correct horse battery staple", "bob"), Ok(()));
        // Length is counted in characters, so Japanese passphrases are first-class.
        assert_eq!(check("青い空と白い雲と赤い夕日が見える", "bob"), Ok(()));
    }

    proptest! {
        #[test]
        fn accepted_passwords_meet_every_rule(p in "\\PC{0,40}", u in "[a-z]{3,8}") {
            if check(&p, &u).is_ok() {
                let n = p.chars().count();
                prop_assert!((MIN_LEN..=MAX_LEN).contains(&n));
                prop_assert!(!p.to_lowercase().contains(&u));
            }
        }
    }
}
