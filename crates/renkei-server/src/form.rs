//! URL-encoded form bodies.
//!
//! Written by hand (over `url::form_urlencoded`) rather than with serde because forms
//! here repeat keys (role checkboxes), and a missing or malformed field must become our
//! own localized 400 page, not a framework rejection.

use crate::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;

/// Most bytes a form may have.
pub(crate) const MAX_FORM: usize = 64 * 1024;

/// A parsed form.
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses `application/x-www-form-urlencoded` bytes.
    pub fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `key`.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(AppError::BadRequest(
                "expected a form (application/x-www-form-urlencoded)".into(),
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::BadRequest("form too large or unreadable".into()))?;
        if body.len() > MAX_FORM {
            return Err(AppError::BadRequest("form too large".into()));
        }
        Ok(Self::parse(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys() {
        let f = FormData::parse(b"role=admin&role=auditor&name=%E7%A0%94%E7%A9%B6&empty=");
        assert_eq!(f.all("role").collect::<Vec<_>>(), ["admin", "auditor"]);
        assert_eq!(f.get("name"), Some("研究"));
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("nope"), None);
    }
}
