//! Attachments to an application (a protocol, an ethics approval, a data flow chart):
//! size-limited, hashed, and typed by their content, never by their name.
//!
//! The type is read from the bytes (`infer`'s magic numbers) and must be one reviewers
//! can open safely: PDF, PNG, JPEG, the Office Open XML documents, or UTF-8 text. A
//! file named `protocol.pdf` that is really an executable is refused as what it is.

use serde::Serialize;

/// The largest attachment.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// The most attachments on one application.
pub const MAX_COUNT: i64 = 20;
/// The longest file name kept.
pub const MAX_NAME: usize = 200;

/// The types accepted, as detected.
pub const ACCEPTED: [&str; 7] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/plain; charset=utf-8",
];

/// An attachment as listed (its content is fetched on its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    /// Its number on the application.
    pub seq: i64,
    /// The name it was uploaded under (shown, never trusted).
    pub name: String,
    /// The type detected from its content.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content (hex).
    pub sha256: String,
    /// When it was added (microseconds).
    pub added_at: i64,
}

/// Why an attachment was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentProblem {
    /// Empty.
    #[error("the file is empty")]
    Empty,
    /// Larger than [`MAX_BYTES`].
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// Its content is of a type not accepted (named as detected).
    #[error(
        "the file's content is {0}, which is not accepted (PDF, PNG, JPEG, Word, Excel, PowerPoint or UTF-8 text)"
    )]
    Unsupported(String),
    /// The name is empty or unusable.
    #[error(
        "the file needs a name of 1 to {MAX_NAME} characters, without path or control characters"
    )]
    BadName,
}

/// The content type of `bytes`, detected from the content, or why it is refused.
pub fn sniff(bytes: &[u8]) -> Result<&'static str, AttachmentProblem> {
    if bytes.is_empty() {
        return Err(AttachmentProblem::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(AttachmentProblem::TooLarge);
    }
    match infer::get(bytes) {
        Some(t) => ACCEPTED
            .iter()
            .find(|a| **a == t.mime_type())
            .copied()
            .ok_or_else(|| AttachmentProblem::Unsupported(t.mime_type().to_owned())),
        // No magic number: text, if it is UTF-8 with no control characters but
        // whitespace.
        None => match std::str::from_utf8(bytes) {
            Ok(s)
                if !s
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
            {
                Ok("text/plain; charset=utf-8")
            }
            _ => Err(AttachmentProblem::Unsupported(
                "application/octet-stream".into(),
            )),
        },
    }
}

/// The name to keep: its last path component, trimmed; refused when empty, too long
/// or holding control characters.
pub fn clean_name(name: &str) -> Result<String, AttachmentProblem> {
    let base = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if base.is_empty()
        || base == "."
        || base == ".."
        || base.chars().count() > MAX_NAME
        || base.chars().any(char::is_control)
    {
        return Err(AttachmentProblem::BadName);
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_type_comes_from_the_content() {
        assert_eq!(sniff(b"%PDF-1.7\n%...").unwrap(), "application/pdf");
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            "image/png"
        );
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF").unwrap(), "image/jpeg");
        assert_eq!(
            sniff("研究計画書\n第1版\n".as_bytes()).unwrap(),
            "text/plain; charset=utf-8"
        );
        // An executable named like a PDF is what it is.
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"),
            Err(AttachmentProblem::Unsupported(
                "application/vnd.microsoft.portable-executable".into()
            ))
        );
        assert!(matches!(
            sniff(b"\x7fELF\x02\x01\x01\0"),
            Err(AttachmentProblem::Unsupported(_))
        ));
        assert!(matches!(
            sniff(b"text with a \0 byte"),
            Err(AttachmentProblem::Unsupported(_))
        ));
        assert_eq!(sniff(b""), Err(AttachmentProblem::Empty));
        assert_eq!(
            sniff(&vec![b'a'; MAX_BYTES + 1]),
            Err(AttachmentProblem::TooLarge)
        );
    }

    #[test]
    fn names_lose_their_path() {
        assert_eq!(clean_name("C:\\tmp\\計画書.pdf").unwrap(), "計画書.pdf");
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_name("a/.."), Err(AttachmentProblem::BadName));
        assert_eq!(clean_name("  "), Err(AttachmentProblem::BadName));
        assert_eq!(clean_name("a\u{7}b"), Err(AttachmentProblem::BadName));
    }

    proptest! {
        /// Whatever the bytes, the answer is an accepted type or a refusal, and it
        /// never panics.
        #[test]
        fn sniff_accepts_only_what_it_lists(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(t) = sniff(&bytes) {
                prop_assert!(ACCEPTED.contains(&t));
            }
        }
    }
}
