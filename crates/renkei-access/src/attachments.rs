//! Attachments, stored: the applicant adds them while the application is theirs to
//! edit; whoever may read the application (through their own desk's check) may fetch
//! them. See [`crate::attachment`] for the rules.

use crate::AccessError;
use crate::attachment::{AttachmentInfo, MAX_COUNT, clean_name, sniff};
use crate::flow::State;
use crate::service::{ApplicantDesk, Applications};
use renkei_core::role::AccessDenied;
use renkei_core::{Action, Caller, Outcome, Permission};
use renkei_store::sqlx::{self, Row as _};

impl Applications {
    pub(crate) async fn attachment_list(
        &self,
        id: &str,
    ) -> Result<Vec<AttachmentInfo>, AccessError> {
        let rows: Vec<(i64, String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT seq, name, content_type, size, sha256, added_at FROM application_attachments \
             WHERE application_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(seq, name, content_type, size, sha256, added_at)| AttachmentInfo {
                    seq,
                    name,
                    content_type,
                    size,
                    sha256,
                    added_at,
                },
            )
            .collect())
    }

    /// Attachment `seq` of application `id`, for a caller who may read the application
    /// through their desk (the applicant; the secretariat once submitted; committee
    /// members once it is before them; custodians once it is approved). The desk's
    /// check refuses and audits anyone else; the fetch itself is audited.
    pub async fn attachment(
        &self,
        caller: &Caller,
        id: &str,
        seq: i64,
    ) -> Result<(AttachmentInfo, Vec<u8>), AccessError> {
        let readable = if caller.has(Permission::Apply)
            && self
                .load(id)
                .await
                .is_ok_and(|v| caller.user_id().is_some_and(|u| u.as_str() == v.applicant))
        {
            self.applicant(caller).await?.view(id).await.map(|_| ())
        } else if caller.has(Permission::ManageReview) {
            self.secretariat(caller).await?.view(id).await.map(|_| ())
        } else if caller.has(Permission::Review) {
            self.member(caller).await?.view(id).await.map(|_| ())
        } else if caller.has(Permission::ManageDatasets) {
            self.custodian(caller).await?.view(id).await.map(|_| ())
        } else {
            self.refuse(
                caller,
                Action::ApplicationRead,
                format!("application:{id}"),
                AccessDenied::Object("not_own_application").into(),
            )
            .await
        };
        readable?;
        let row = sqlx::query(
            "SELECT seq, name, content_type, size, sha256, added_at, content FROM application_attachments \
             WHERE application_id = $1 AND seq = $2",
        )
        .bind(id)
        .bind(seq)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(r) = row else {
            return self
                .refuse(
                    caller,
                    Action::ApplicationRead,
                    format!("application:{id}/attachment:{seq}"),
                    AccessDenied::Object("no_such_attachment").into(),
                )
                .await;
        };
        let info = AttachmentInfo {
            seq: r.try_get(0)?,
            name: r.try_get(1)?,
            content_type: r.try_get(2)?,
            size: r.try_get(3)?,
            sha256: r.try_get(4)?,
            added_at: r.try_get(5)?,
        };
        let content: Vec<u8> = r.try_get(6)?;
        self.audit
            .record(
                caller
                    .event(
                        Action::ApplicationRead,
                        format!("application:{id}/attachment:{seq}"),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({ "sha256": info.sha256 })),
            )
            .await?;
        Ok((info, content))
    }
}

impl ApplicantDesk {
    /// Attaches `bytes` under `name` to the caller's application `id` while it is a
    /// draft or returned for changes. The type is detected from the content; the hash
    /// is kept beside it, and the attachment is audited with it.
    pub async fn attach(
        &self,
        id: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<AttachmentInfo, AccessError> {
        let object = format!("application:{id}");
        let v = self.own(id, Action::ApplicationSave).await?;
        let problem = if !matches!(v.state, State::Draft | State::Returned { .. }) {
            Some(AccessError::Flow(crate::flow::FlowError::Illegal {
                state: v.state.code(),
                step: "attach",
            }))
        } else if v.attachments.len() as i64 >= MAX_COUNT {
            Some(AccessError::BadInput(format!(
                "an application holds at most {MAX_COUNT} attachments"
            )))
        } else {
            match (clean_name(name), sniff(bytes)) {
                (Err(e), _) | (_, Err(e)) => Some(AccessError::BadInput(e.to_string())),
                _ => None,
            }
        };
        if let Some(e) = problem {
            return self
                .s
                .refuse(&self.caller, Action::ApplicationSave, object, e)
                .await;
        }
        let name = clean_name(name).unwrap_or_default();
        let content_type = sniff(bytes).unwrap_or_default();
        let sha256 = renkei_crypto::sha256_hex(bytes);
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM application_attachments WHERE application_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO application_attachments \
             (application_id, seq, name, content_type, size, sha256, content, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(seq)
        .bind(&name)
        .bind(content_type)
        .bind(bytes.len() as i64)
        .bind(&sha256)
        .bind(bytes.to_vec())
        .bind(now)
        .bind(self.user.as_str())
        .execute(&mut *tx)
        .await?;
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(Action::ApplicationSave, object, Outcome::Allowed)
                    .detail(serde_json::json!({
                        "attachment": seq,
                        "name": name,
                        "content_type": content_type,
                        "size": bytes.len(),
                        "sha256": sha256,
                    }))],
            )
            .await?;
        tx.commit().await?;
        Ok(AttachmentInfo {
            seq,
            name,
            content_type: content_type.to_owned(),
            size: bytes.len() as i64,
            sha256,
            added_at: now,
        })
    }
}
