//! The committee's meetings as records: scheduled by the secretariat with their day,
//! each application on one meeting's agenda, and expedited reviews with the members
//! designated to decide them, reported to the full committee afterwards.

use crate::AccessError;
use crate::flow::State;
use crate::service::{Applications, SecretariatDesk, format_date, parse_date};
use renkei_core::{Action, Outcome};
use renkei_store::sqlx::{self, Row as _};
use serde::Serialize;
use time::Date;

/// A meeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Meeting {
    /// Its id.
    pub id: String,
    /// Its title (第3回 審査委員会).
    pub title: String,
    /// The day it is held.
    pub held_on: Date,
    /// An expedited review by designated members rather than a full meeting.
    pub expedited: bool,
    /// The members designated (expedited reviews only; user ids).
    pub designated: Vec<String>,
    /// When an expedited review's decisions were reported to the full committee.
    pub reported_at: Option<i64>,
    /// Applications on its agenda now (in review).
    pub agenda: Vec<String>,
}

impl Applications {
    /// Meeting `id`, with its agenda.
    pub(crate) async fn meeting(&self, id: &str) -> Result<Option<Meeting>, AccessError> {
        let row = sqlx::query(
            "SELECT id, title, held_on, expedited, designated, reported_at FROM meetings WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        match row {
            Some(r) => Ok(Some(self.meeting_from(&r).await?)),
            None => Ok(None),
        }
    }

    async fn meeting_from(&self, r: &sqlx::any::AnyRow) -> Result<Meeting, AccessError> {
        let id: String = r.try_get(0)?;
        let held: String = r.try_get(2)?;
        let expedited: i64 = r.try_get(3)?;
        let designated: String = r.try_get(4)?;
        let in_review: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, state_json FROM applications WHERE state = 'in_review' ORDER BY created_at, id",
        )
        .fetch_all(self.store.pool())
        .await?;
        let agenda = in_review
            .into_iter()
            .filter(|(_, s)| {
                serde_json::from_str::<State>(s)
                    .is_ok_and(|s| matches!(s, State::InReview { meeting, .. } if meeting == id))
            })
            .map(|(a, _)| a)
            .collect();
        Ok(Meeting {
            title: r.try_get(1)?,
            held_on: parse_date(&held).unwrap_or(Date::MIN),
            expedited: expedited != 0,
            designated: serde_json::from_str(&designated).unwrap_or_default(),
            reported_at: r.try_get(5)?,
            agenda,
            id,
        })
    }
}

impl SecretariatDesk {
    /// Schedules a meeting on `held_on`; with `designated` members, an expedited review
    /// (amendments only) that they alone decide. Each designated member must be on the
    /// roster; a full meeting is refused, naming every unmet requirement, while the
    /// committee fails the guideline.
    pub async fn schedule(
        &self,
        title: &str,
        held_on: Date,
        designated: &[String],
    ) -> Result<Meeting, AccessError> {
        let (roster, unmet) = self.roster().await?;
        let problem = if title.trim().is_empty() || title.len() > 200 {
            Some(AccessError::BadInput(
                "a meeting needs a title of 1 to 200 bytes".into(),
            ))
        } else if designated.is_empty() && !unmet.is_empty() {
            // A full meeting is not opened with a committee that fails the guideline;
            // each decision checks again who is present after recusals.
            Some(AccessError::Quorum(unmet))
        } else {
            designated
                .iter()
                .find(|d| !roster.iter().any(|m| &m.id == *d))
                .map(|d| AccessError::NotMember(d.clone()))
        };
        if let Some(e) = problem {
            return self
                .s
                .refuse(&self.caller, Action::CommitteeMember, "meetings", e)
                .await;
        }
        let mut designated = designated.to_vec();
        designated.sort();
        designated.dedup();
        let id = format!("mtg-{}", uuid::Uuid::now_v7());
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        sqlx::query(
            "INSERT INTO meetings (id, title, held_on, expedited, designated, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(title.trim())
        .bind(format_date(held_on))
        .bind(i64::from(!designated.is_empty()))
        .bind(serde_json::to_string(&designated).unwrap_or_default())
        .bind(now)
        .bind(self.caller.actor().id)
        .execute(&mut *tx)
        .await?;
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(
                        Action::CommitteeMember,
                        format!("meeting:{id}"),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({
                        "title": title.trim(),
                        "held_on": format_date(held_on),
                        "designated": designated,
                    }))],
            )
            .await?;
        tx.commit().await?;
        Ok(Meeting {
            id,
            title: title.trim().to_owned(),
            held_on,
            expedited: !designated.is_empty(),
            designated,
            reported_at: None,
            agenda: Vec::new(),
        })
    }

    /// Every meeting, the latest first, with its agenda.
    pub async fn meetings(&self) -> Result<Vec<Meeting>, AccessError> {
        let rows = sqlx::query(
            "SELECT id, title, held_on, expedited, designated, reported_at FROM meetings \
             ORDER BY held_on DESC, created_at DESC",
        )
        .fetch_all(self.s.store.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.s.meeting_from(r).await?);
        }
        Ok(out)
    }

    /// Records that an expedited review's decisions were reported to the full
    /// committee (once).
    pub async fn report(&self, meeting: &str) -> Result<(), AccessError> {
        let object = format!("meeting:{meeting}");
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        let n = sqlx::query(
            "UPDATE meetings SET reported_at = $1 WHERE id = $2 AND expedited = 1 AND reported_at IS NULL",
        )
        .bind(now)
        .bind(meeting)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            drop(tx);
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::CommitteeMember,
                    object,
                    AccessError::BadInput(
                        "only an expedited review not yet reported can be reported".into(),
                    ),
                )
                .await;
        }
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(Action::CommitteeMember, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "reported": true }))],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
