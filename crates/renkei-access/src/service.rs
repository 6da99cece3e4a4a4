//! The access service: applications, the committee's roster, accreditations and the
//! review's steps, stored and audited.
//!
//! Each role reaches it through a desk that only [`Applications`] hands out after
//! checking the caller's permission: [`ApplicantDesk`] (researchers, their own
//! applications only), [`SecretariatDesk`], [`MemberDesk`] (committee members on the
//! roster) and [`CustodianDesk`] (custodians, their own datasets only). Every step runs
//! the pure state machine of [`crate::flow`] inside one transaction with its audit
//! entry and its place in the application's history; every refusal is audited.

use crate::AccessError;
use crate::accreditation::{Accreditation, Standing, standing};
use crate::application::{Application, Problem, validate};
use crate::committee::{Expertise, Member, Recusal, Sex, sitting};
use crate::flow::{Actor, Decision, Facts, State, Step, next};
use crate::schema::CatalogSchema;
use renkei_audit::Audit;
use renkei_core::role::AccessDenied;
use renkei_core::time::SharedClock;
use renkei_core::{Action, Caller, Coded as _, Outcome, Permission, UserId};
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Store, Tx};
use serde::Serialize;
use std::collections::BTreeSet;
use time::Date;

/// The most an application's content may hold, as JSON.
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;

/// The access service. Cheap to clone.
#[derive(Clone)]
pub struct Applications {
    pub(crate) store: Store,
    pub(crate) audit: Audit,
    pub(crate) clock: SharedClock,
}

/// An application as its readers see it.
#[derive(Clone, Debug, Serialize)]
pub struct ApplicationView {
    /// Its id.
    pub id: String,
    /// The applicant's user id.
    pub applicant: String,
    /// Where it stands.
    pub state: State,
    /// The current version of its content.
    pub version: i64,
    /// The content of that version.
    pub content: Application,
    /// When that version was last saved (microseconds).
    pub saved_at: i64,
    /// The content as stored: a submission checks it did not change after it was
    /// validated.
    #[serde(skip)]
    stored: String,
    /// The project it amends (`None`: it is a project's first application).
    pub amendment_of: Option<String>,
    /// For reviewers: what this version changes, against the version submitted before
    /// it or, for an amendment's first submission, the permit in force.
    pub changes: Vec<crate::application::Change>,
    /// What `changes` compares against (`version 1`, `permit 2`), if anything.
    pub compared_with: Option<String>,
    /// How much the request asks, and what it would link (on an application's own
    /// page, for its applicant and its reviewers).
    pub risk: Option<crate::application::RequestSummary>,
    /// Its history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Its attachments (on an application's own page; lists leave them out).
    pub attachments: Vec<crate::attachment::AttachmentInfo>,
}

impl ApplicationView {
    /// The project it belongs to once permitted: the one it amends, or its own id.
    pub fn project(&self) -> &str {
        self.amendment_of.as_deref().unwrap_or(&self.id)
    }
}

/// One step in an application's history.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    /// When (microseconds since the epoch).
    pub at: i64,
    /// Who (`user:<id>`).
    pub actor: String,
    /// The step.
    pub step: String,
    /// The state it led to.
    pub state: String,
    /// What was written with it (reasons, conditions, present and recused members).
    pub detail: serde_json::Value,
}

impl Applications {
    /// The service over `store`, recording to `audit`.
    pub fn new(store: Store, audit: Audit, clock: SharedClock) -> Self {
        Self {
            store,
            audit,
            clock,
        }
    }

    /// Today in Japan, by the service's clock (accreditations and periods of use are
    /// dated in Japan time).
    pub fn today(&self) -> Date {
        let secs = self.clock.now().secs();
        time::OffsetDateTime::from_unix_timestamp(secs)
            .map(|t| t.to_offset(time::macros::offset!(+9)).date())
            .unwrap_or(Date::MIN)
    }

    /// Audits a refusal and hands back the error.
    pub(crate) async fn refuse<T>(
        &self,
        caller: &Caller,
        action: Action,
        object: impl Into<String>,
        err: AccessError,
    ) -> Result<T, AccessError> {
        if err.kind().is_refusal() {
            self.audit
                .record_refusal(caller.event(action, object, Outcome::denied(err.code())))
                .await?;
        }
        Err(err)
    }

    async fn desk(&self, caller: &Caller, p: Permission, object: &str) -> Result<(), AccessError> {
        // A token limited to one project's workspace opens no desk.
        let check = match caller.token_project() {
            Some(_) => Err(AccessDenied::Object("token_project_only")),
            None => caller.require(p),
        };
        match check {
            Ok(()) => Ok(()),
            Err(d) => {
                self.refuse(caller, Action::ApplicationRead, object, d.into())
                    .await
            }
        }
    }

    /// The researcher's desk: their own applications.
    pub async fn applicant(&self, caller: &Caller) -> Result<ApplicantDesk, AccessError> {
        self.desk(caller, Permission::Apply, "applications").await?;
        let user = caller
            .user_id()
            .cloned()
            .ok_or(AccessDenied::Object("not_a_user"))?;
        Ok(ApplicantDesk {
            s: self.clone(),
            caller: caller.clone(),
            user,
        })
    }

    /// The secretariat's desk.
    pub async fn secretariat(&self, caller: &Caller) -> Result<SecretariatDesk, AccessError> {
        self.desk(caller, Permission::ManageReview, "applications")
            .await?;
        Ok(SecretariatDesk {
            s: self.clone(),
            caller: caller.clone(),
        })
    }

    /// A committee member's desk: for members on the roster only.
    pub async fn member(&self, caller: &Caller) -> Result<MemberDesk, AccessError> {
        self.desk(caller, Permission::Review, "applications")
            .await?;
        let user = caller.user_id().cloned();
        let on_roster = match &user {
            Some(u) => self.roster_member(u.as_str()).await?.is_some(),
            None => false,
        };
        match (user, on_roster) {
            (Some(user), true) => Ok(MemberDesk {
                s: self.clone(),
                caller: caller.clone(),
                user,
            }),
            _ => {
                self.refuse(
                    caller,
                    Action::ApplicationRead,
                    "applications",
                    AccessDenied::Object("not_on_roster").into(),
                )
                .await
            }
        }
    }

    /// A custodian's desk: confirmations for the datasets they hold.
    pub async fn custodian(&self, caller: &Caller) -> Result<CustodianDesk, AccessError> {
        self.desk(caller, Permission::ManageDatasets, "applications")
            .await?;
        let scope = renkei_catalog::custody_scope(&self.store, caller)
            .await
            .map_err(Box::new)?;
        let held = match scope {
            renkei_catalog::CustodyScope::All => renkei_catalog::datasets(&self.store)
                .await
                .map_err(Box::new)?
                .into_iter()
                .map(|d| d.declaration.dataset.id)
                .collect(),
            renkei_catalog::CustodyScope::Datasets(d) => d.into_iter().collect(),
        };
        Ok(CustodianDesk {
            s: self.clone(),
            caller: caller.clone(),
            held,
        })
    }

    /// Where the caller stands as an accredited user today.
    pub async fn my_standing(&self, caller: &Caller) -> Result<Standing, AccessError> {
        let Some(user) = caller.user_id() else {
            return Ok(Standing::None);
        };
        Ok(standing(
            self.accreditation(user.as_str()).await?.as_ref(),
            self.today(),
        ))
    }

    /// Application `id` for `caller`'s `action`, a missing one refused and audited.
    pub(crate) async fn load_for(
        &self,
        caller: &Caller,
        action: Action,
        id: &str,
    ) -> Result<ApplicationView, AccessError> {
        match self.load(id).await {
            Ok(v) => Ok(v),
            Err(e) => {
                self.refuse(caller, action, format!("application:{id}"), e)
                    .await
            }
        }
    }

    /// Refuses (and audits) a caller who is the applicant or named on the application:
    /// nobody reviews, confirms or records a decision on their own study.
    pub(crate) async fn not_involved(
        &self,
        caller: &Caller,
        v: &ApplicationView,
        object: &str,
    ) -> Result<(), AccessError> {
        let me = caller.user_id().map(|u| u.as_str().to_owned());
        let involved = me
            .as_deref()
            .is_some_and(|me| v.applicant == me || v.content.handlers.iter().any(|h| h == me));
        if involved {
            return self
                .refuse(
                    caller,
                    Action::ApplicationStep,
                    object,
                    AccessDenied::Object("involved_in_application").into(),
                )
                .await;
        }
        Ok(())
    }

    /// Refuses (and audits) `action` on `user` when no such account exists, or when
    /// the caller would act on themselves.
    async fn other_user(
        &self,
        caller: &Caller,
        action: Action,
        user: &str,
    ) -> Result<(), AccessError> {
        let object = format!("user:{user}");
        if caller.user_id().is_some_and(|me| me.as_str() == user) {
            return self
                .refuse(
                    caller,
                    action,
                    object,
                    AccessDenied::Object("not_for_oneself").into(),
                )
                .await;
        }
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(self.store.pool())
            .await?;
        if known.is_none() {
            return self
                .refuse(
                    caller,
                    action,
                    object,
                    AccessError::BadInput(format!("no user {user}")),
                )
                .await;
        }
        Ok(())
    }

    // ----- reading -------------------------------------------------------------------

    async fn roster_member(&self, user: &str) -> Result<Option<Member>, AccessError> {
        let row = sqlx::query(
            "SELECT user_id, expertise, external, sex FROM committee_members WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| member_from_row(&r)).transpose()
    }

    async fn roster(&self) -> Result<Vec<Member>, AccessError> {
        let rows = sqlx::query(
            "SELECT user_id, expertise, external, sex FROM committee_members ORDER BY user_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    pub(crate) async fn accreditation(
        &self,
        user: &str,
    ) -> Result<Option<Accreditation>, AccessError> {
        let row = sqlx::query(
            "SELECT user_id, course, trained_on, pledge_signed_on, institution, safety_measures, \
             expires_on, revoked_on, revoked_reason FROM accreditations WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let date = |s: Option<String>| s.and_then(|s| parse_date(&s));
        let revoked_on: Option<String> = r.try_get(7)?;
        let reason: Option<String> = r.try_get(8)?;
        Ok(Some(Accreditation {
            user: r.try_get(0)?,
            course: r.try_get(1)?,
            trained_on: date(r.try_get(2)?),
            pledge_signed_on: date(r.try_get(3)?),
            institution: r.try_get(4)?,
            safety_measures: r.try_get(5)?,
            expires_on: date(Some(r.try_get(6)?)).unwrap_or(Date::MIN),
            revoked: date(revoked_on).map(|d| (d, reason.unwrap_or_default())),
        }))
    }

    pub(crate) async fn load(&self, id: &str) -> Result<ApplicationView, AccessError> {
        let row = sqlx::query(
            "SELECT a.id, a.applicant, a.state_json, a.version, v.content, v.saved_at, a.amendment_of FROM applications a \
             JOIN application_versions v ON v.application_id = a.id AND v.version = a.version \
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or(AccessError::NoSuchApplication)?;
        let history = sqlx::query(
            "SELECT at, actor, step, state, detail FROM application_events \
             WHERE application_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await?
        .iter()
        .map(|r| -> Result<HistoryEntry, AccessError> {
            let detail: String = r.try_get(4)?;
            Ok(HistoryEntry {
                at: r.try_get(0)?,
                actor: r.try_get(1)?,
                step: r.try_get(2)?,
                state: r.try_get(3)?,
                detail: serde_json::from_str(&detail).unwrap_or_default(),
            })
        })
        .collect::<Result<_, _>>()?;
        let mut v = view_from_row(&row, history)?;
        v.attachments = self.attachment_list(id).await?;
        Ok(v)
    }

    /// Applications (one applicant's, or all) with their current content, in one
    /// query; lists show no history (an application's own page does).
    async fn list(&self, applicant: Option<&str>) -> Result<Vec<ApplicationView>, AccessError> {
        const SELECT: &str = "SELECT a.id, a.applicant, a.state_json, a.version, v.content, v.saved_at, a.amendment_of \
             FROM applications a JOIN application_versions v \
             ON v.application_id = a.id AND v.version = a.version";
        let rows = match applicant {
            Some(a) => {
                sqlx::query(&format!(
                    "{SELECT} WHERE a.applicant = $1 ORDER BY a.created_at, a.id"
                ))
                .bind(a)
                .fetch_all(self.store.pool())
                .await?
            }
            None => {
                sqlx::query(&format!("{SELECT} ORDER BY a.created_at, a.id"))
                    .fetch_all(self.store.pool())
                    .await?
            }
        };
        rows.iter().map(|r| view_from_row(r, Vec::new())).collect()
    }

    /// One page of applications, newest first (one applicant's, or all; without
    /// never-submitted drafts for reviewers), with how many there are in all.
    async fn list_page(
        &self,
        applicant: Option<&str>,
        submitted_only: bool,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<ApplicationView>, i64), AccessError> {
        let mut conds = Vec::new();
        if applicant.is_some() {
            conds.push("a.applicant = $1");
        }
        if submitted_only {
            conds.push("a.state <> 'draft'");
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let (limit, offset) = (per_page.max(1), page.max(0).saturating_mul(per_page.max(1)));
        let rows_sql = format!(
            "SELECT a.id, a.applicant, a.state_json, a.version, v.content, v.saved_at, a.amendment_of \
             FROM applications a JOIN application_versions v \
             ON v.application_id = a.id AND v.version = a.version {filter} \
             ORDER BY a.created_at DESC, a.id DESC LIMIT {limit} OFFSET {offset}"
        );
        let count_sql = format!("SELECT COUNT(*) FROM applications a {filter}");
        let (mut rows, mut count) = (sqlx::query(&rows_sql), sqlx::query_scalar(&count_sql));
        if let Some(a) = applicant {
            rows = rows.bind(a);
            count = count.bind(a);
        }
        let rows = rows.fetch_all(self.store.pool()).await?;
        let total: i64 = count.fetch_one(self.store.pool()).await?;
        let views = rows
            .iter()
            .map(|r| view_from_row(r, Vec::new()))
            .collect::<Result<_, _>>()?;
        Ok((views, total))
    }

    /// `v` as its reviewers see it: the latest version submitted (an applicant's
    /// edits after a return stay theirs until submitted again).
    async fn as_submitted(&self, mut v: ApplicationView) -> Result<ApplicationView, AccessError> {
        let row = sqlx::query(
            "SELECT version, content, saved_at FROM application_versions \
             WHERE application_id = $1 AND submitted_at IS NOT NULL \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(&v.id)
        .fetch_optional(self.store.pool())
        .await?;
        if let Some(r) = row {
            let content: String = r.try_get(1)?;
            v.version = r.try_get(0)?;
            v.content = serde_json::from_str(&content)
                .map_err(|e| AccessError::BadInput(format!("stored content: {e}")))?;
            v.saved_at = r.try_get(2)?;
            v.stored = content;
        }
        if let Some((label, before)) = self.baseline(&v).await? {
            v.changes = crate::application::diff(&before, &v.content);
            v.compared_with = Some(label);
        }
        Ok(v)
    }

    /// What reviewers compare `v`'s submitted version with: the version submitted
    /// before it, or (an amendment's first) the content behind the permit in force.
    async fn baseline(
        &self,
        v: &ApplicationView,
    ) -> Result<Option<(String, Application)>, AccessError> {
        let earlier: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, content FROM application_versions \
             WHERE application_id = $1 AND version < $2 AND submitted_at IS NOT NULL \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(&v.id)
        .bind(v.version)
        .fetch_optional(self.store.pool())
        .await?;
        let (label, content) = match (earlier, &v.amendment_of) {
            (Some((n, c)), _) => (format!("version {n}"), c),
            (None, Some(project)) => match self.approved_content(project).await? {
                Some((p, c)) => (format!("permit {}", p.permit.version), c),
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        let before = serde_json::from_str(&content)
            .map_err(|e| AccessError::BadInput(format!("stored content: {e}")))?;
        Ok(Some((label, before)))
    }

    /// Hands `v` (already checked) to `caller` and audits the read: the applicant sees
    /// their current version, reviewers (`submitted`) the latest one submitted.
    pub(crate) async fn read_audited(
        &self,
        caller: &Caller,
        v: ApplicationView,
        submitted: bool,
    ) -> Result<ApplicationView, AccessError> {
        let mut v = if submitted {
            self.as_submitted(v).await?
        } else {
            v
        };
        let entries = renkei_catalog::datasets(&self.store)
            .await
            .map_err(Box::new)?;
        v.risk = Some(crate::application::summarize(
            &v.content,
            &CatalogSchema::new(&entries),
        ));
        self.audit
            .record(caller.event(
                Action::ApplicationRead,
                format!("application:{}", v.id),
                Outcome::Allowed,
            ))
            .await?;
        Ok(v)
    }

    // ----- stepping ------------------------------------------------------------------

    /// Takes `step` on application `id` as `actor`: locks the application, runs the
    /// state machine, stores the new state, and records the step in the history and
    /// the audit log in the same transaction. `extra` (version, content validated)
    /// marks that version submitted, if its content is still what was validated.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        caller: &Caller,
        id: &str,
        actor: Actor,
        step: Step,
        facts: &Facts,
        detail: serde_json::Value,
        extra: Option<(i64, &str)>,
        inputs: Option<&str>,
    ) -> Result<State, AccessError> {
        let object = format!("application:{id}");
        let code = step.code();
        let mut tx = self.store.begin().await?;
        // Locks the row on PostgreSQL (SQLite's write lock is already held).
        let touched = sqlx::query("UPDATE applications SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if touched == 0 {
            drop(tx);
            return self
                .refuse(
                    caller,
                    Action::ApplicationStep,
                    object,
                    AccessError::NoSuchApplication,
                )
                .await;
        }
        let row = sqlx::query("SELECT state_json, version FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let stored: String = row.try_get(0)?;
        let current_version: i64 = row.try_get(1)?;
        let state: State = serde_json::from_str(&stored)
            .map_err(|e| AccessError::BadInput(format!("stored state: {e}")))?;
        // What was checked before the lock must still hold under it: the version
        // validated is the current one, and the committee's roster and the conflicts
        // declared are those the sitting was built from.
        let changed = match (extra, inputs) {
            (Some((version, _)), _) if version != current_version => true,
            (_, Some(before)) => decision_inputs(&mut tx, id).await? != before,
            _ => false,
        };
        if changed {
            drop(tx);
            return self
                .refuse(
                    caller,
                    Action::ApplicationStep,
                    object,
                    AccessError::BadInput(
                        "the application or the committee changed meanwhile; look again and retry"
                            .into(),
                    ),
                )
                .await;
        }
        let after = match next(&state, &actor, step, facts) {
            Ok(s) => s,
            Err(e) => {
                drop(tx);
                return self
                    .refuse(caller, Action::ApplicationStep, object, e.into())
                    .await;
            }
        };
        let now = self.clock.now().micros();
        set_state(&mut tx, id, &after, now).await?;
        if let Some((version, validated)) = extra {
            // The content validated is the content submitted: a save in between
            // makes this submission fail rather than slip through unchecked.
            let marked = sqlx::query(
                "UPDATE application_versions SET submitted_at = $1 \
                 WHERE application_id = $2 AND version = $3 AND content = $4",
            )
            .bind(now)
            .bind(id)
            .bind(version)
            .bind(validated)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked != 1 {
                drop(tx);
                return self
                    .refuse(
                        caller,
                        Action::ApplicationStep,
                        object,
                        AccessError::BadInput(
                            "the application changed while it was being submitted; submit again"
                                .into(),
                        ),
                    )
                    .await;
            }
        }
        if let State::Permitted { conditions } = &after
            && !matches!(state, State::Permitted { .. })
            && let Err(e) = self
                .issue_permit(&mut tx, caller, id, conditions, now)
                .await
        {
            drop(tx);
            return self
                .refuse(caller, Action::ApplicationStep, object, e)
                .await;
        }
        let detail = with_states(detail, &state, &after);
        history(&mut tx, id, now, caller, code, &after, &detail).await?;
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::ApplicationStep, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "step": code, "detail": detail }))],
            )
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn facts(&self, v: &ApplicationView) -> Facts {
        Facts {
            datasets: v.content.data.iter().map(|d| d.dataset.clone()).collect(),
            amendment: sqlx::query_scalar::<_, Option<String>>(
                "SELECT amendment_of FROM applications WHERE id = $1",
            )
            .bind(&v.id)
            .fetch_one(self.store.pool())
            .await
            .ok()
            .flatten()
            .is_some(),
        }
    }
}

/// What a decision's sitting is built from, as one string: the roster and the
/// conflicts declared on the application. Read before the decision and again under
/// its lock; a difference refuses the decision.
async fn decision_inputs(conn: &mut sqlx::AnyConnection, id: &str) -> Result<String, AccessError> {
    let roster: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT user_id, expertise, external, sex FROM committee_members ORDER BY user_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let conflicts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT member_id, conflicted FROM application_conflicts \
         WHERE application_id = $1 ORDER BY member_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(format!("{roster:?}|{conflicts:?}"))
}

fn view_from_row(
    row: &sqlx::any::AnyRow,
    history: Vec<HistoryEntry>,
) -> Result<ApplicationView, AccessError> {
    let state: String = row.try_get(2)?;
    let content: String = row.try_get(4)?;
    Ok(ApplicationView {
        id: row.try_get(0)?,
        applicant: row.try_get(1)?,
        state: serde_json::from_str(&state)
            .map_err(|e| AccessError::BadInput(format!("stored state: {e}")))?,
        version: row.try_get(3)?,
        content: serde_json::from_str(&content)
            .map_err(|e| AccessError::BadInput(format!("stored content: {e}")))?,
        saved_at: row.try_get(5)?,
        amendment_of: row.try_get(6)?,
        changes: Vec::new(),
        compared_with: None,
        risk: None,
        stored: content,
        history,
        attachments: Vec::new(),
    })
}

fn with_states(mut detail: serde_json::Value, from: &State, to: &State) -> serde_json::Value {
    if !detail.is_object() {
        detail = serde_json::json!({});
    }
    detail["from"] = from.code().into();
    detail["to"] = to.code().into();
    detail
}

/// The states from which an amendment is still open (not permitted, not ended).
pub(crate) const OPEN_AMENDMENT: &str =
    "state NOT IN ('permitted', 'rejected', 'withdrawn', 'closed')";

/// A new application's first version, as a draft (`amendment_of`: the project it amends).
async fn insert_draft(
    tx: &mut Tx,
    id: &str,
    applicant: &str,
    content: &str,
    amendment_of: Option<&str>,
    now: i64,
) -> Result<(), AccessError> {
    sqlx::query(
        "INSERT INTO applications (id, applicant, state, state_json, version, amendment_of, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
    )
    .bind(id)
    .bind(applicant)
    .bind(State::Draft.code())
    .bind(serde_json::to_string(&State::Draft).unwrap_or_default())
    .bind(amendment_of)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO application_versions (application_id, version, content, saved_at) \
         VALUES ($1, 1, $2, $3)",
    )
    .bind(id)
    .bind(content)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores application `id`'s new state (its history entry is the caller's to add).
pub(crate) async fn set_state(
    tx: &mut Tx,
    id: &str,
    after: &State,
    now: i64,
) -> Result<(), AccessError> {
    sqlx::query(
        "UPDATE applications SET state = $1, state_json = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(after.code())
    .bind(serde_json::to_string(after).unwrap_or_default())
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn history(
    tx: &mut Tx,
    id: &str,
    now: i64,
    caller: &Caller,
    step: &str,
    after: &State,
    detail: &serde_json::Value,
) -> Result<(), AccessError> {
    let seq: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM application_events WHERE application_id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO application_events (application_id, seq, at, actor, step, state, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(seq)
    .bind(now)
    .bind(caller.actor().id)
    .bind(step)
    .bind(after.code())
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn member_from_row(r: &sqlx::any::AnyRow) -> Result<Member, AccessError> {
    let expertise: String = r.try_get(1)?;
    let external: i64 = r.try_get(2)?;
    let sex: String = r.try_get(3)?;
    Ok(Member {
        id: r.try_get(0)?,
        expertise: Expertise::parse(&expertise)
            .ok_or_else(|| AccessError::BadInput(format!("stored expertise {expertise:?}")))?,
        external: external != 0,
        sex: if sex == "female" {
            Sex::Female
        } else {
            Sex::Male
        },
    })
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

pub(crate) fn format_date(d: Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

pub(crate) fn content_json(app: &Application) -> Result<String, AccessError> {
    let json = serde_json::to_string(app).map_err(|e| AccessError::BadInput(e.to_string()))?;
    if json.len() > MAX_CONTENT_BYTES {
        return Err(AccessError::BadInput(format!(
            "the application is larger than {MAX_CONTENT_BYTES} bytes"
        )));
    }
    Ok(json)
}

// ----- the applicant -----------------------------------------------------------------

/// A researcher's own applications. Made by [`Applications::applicant`].
/// An application of the caller's that may have a dummy workspace: made only by
/// [`ApplicantDesk::dummy`].
#[derive(Clone, Debug)]
pub struct DummyGrant {
    application: String,
    project: String,
    title: String,
    data: Vec<crate::application::DataRequest>,
    user: UserId,
}

impl DummyGrant {
    /// The application.
    pub fn application(&self) -> &str {
        &self.application
    }
    /// The project its queries are kept under (the application itself, or the project
    /// it amends), so that saved queries carry over to the real workspace.
    pub fn project(&self) -> &str {
        &self.project
    }
    /// Its title.
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The data it requests.
    pub fn data(&self) -> &[crate::application::DataRequest] {
        &self.data
    }
    /// The applicant.
    pub fn user(&self) -> &UserId {
        &self.user
    }
}

pub struct ApplicantDesk {
    pub(crate) s: Applications,
    pub(crate) caller: Caller,
    pub(crate) user: UserId,
}

impl ApplicantDesk {
    /// Starts a draft with `content`; returns its id.
    pub async fn create(&self, content: &Application) -> Result<String, AccessError> {
        let json = match content_json(content) {
            Ok(j) => j,
            Err(e) => {
                return self
                    .s
                    .refuse(&self.caller, Action::ApplicationCreate, "applications", e)
                    .await;
            }
        };
        let id = format!("app-{}", uuid::Uuid::now_v7());
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        insert_draft(&mut tx, &id, self.user.as_str(), &json, None, now).await?;
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self.caller.event(
                    Action::ApplicationCreate,
                    format!("application:{id}"),
                    Outcome::Allowed,
                )],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Starts an amendment of project `id` (more variables, a longer period, new
    /// people): a new application, its draft the content behind the permit in force,
    /// reviewed like any other (expedited review is open to it) and, once permitted,
    /// the project's next permit version. One amendment at a time; only the applicant.
    pub async fn amend(&self, project: &str) -> Result<String, AccessError> {
        let object = format!("project:{project}");
        let (refusal, content) = match self.s.approved_content(project).await? {
            None => (Some(AccessDenied::Object("no_such_project")), String::new()),
            Some((v, _)) if v.permit.applicant != self.user.as_str() => (
                Some(AccessDenied::Object("not_yours_to_amend")),
                String::new(),
            ),
            Some((v, _)) if v.closed.is_some() => {
                (Some(AccessDenied::Object("project_closed")), String::new())
            }
            Some((_, content)) => (None, content),
        };
        if let Some(e) = refusal {
            return self
                .s
                .refuse(&self.caller, Action::ApplicationCreate, object, e.into())
                .await;
        }
        let open: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM applications WHERE amendment_of = $1 AND {OPEN_AMENDMENT} LIMIT 1"
        ))
        .bind(project)
        .fetch_optional(self.s.store.pool())
        .await?;
        if let Some(open) = open {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationCreate,
                    object,
                    AccessError::BadInput(format!("an amendment is already open: {open}")),
                )
                .await;
        }
        let id = format!("app-{}", uuid::Uuid::now_v7());
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        insert_draft(
            &mut tx,
            &id,
            self.user.as_str(),
            &content,
            Some(project),
            now,
        )
        .await?;
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(
                        Action::ApplicationCreate,
                        format!("application:{id}"),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({ "amendment_of": project }))],
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The caller's application `id`, refusing (and auditing) anyone else's.
    pub(crate) async fn own(
        &self,
        id: &str,
        action: Action,
    ) -> Result<ApplicationView, AccessError> {
        let object = format!("application:{id}");
        let v = self.s.load_for(&self.caller, action, id).await?;
        if v.applicant != self.user.as_str() {
            return self
                .s
                .refuse(
                    &self.caller,
                    action,
                    object,
                    AccessDenied::Object("not_own_application").into(),
                )
                .await;
        }
        Ok(v)
    }

    /// Saves new content over a draft, or (after a return for changes) as a new
    /// version: every submitted version is kept.
    pub async fn save(&self, id: &str, content: &Application) -> Result<i64, AccessError> {
        let object = format!("application:{id}");
        let v = self.own(id, Action::ApplicationSave).await?;
        if !matches!(v.state, State::Draft | State::Returned { .. }) {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationSave,
                    object,
                    crate::flow::FlowError::Illegal {
                        state: v.state.code(),
                        step: "save",
                    }
                    .into(),
                )
                .await;
        }
        let json = match content_json(content) {
            Ok(j) => j,
            Err(e) => {
                return self
                    .s
                    .refuse(&self.caller, Action::ApplicationSave, object, e)
                    .await;
            }
        };
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        // Lock the application and look again: a submission may have come between.
        sqlx::query("UPDATE applications SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT state_json, version FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let state_now: String = row.try_get(0)?;
        let version_now: i64 = row.try_get(1)?;
        let state_now: State = serde_json::from_str(&state_now)
            .map_err(|e| AccessError::BadInput(format!("stored state: {e}")))?;
        if !matches!(state_now, State::Draft | State::Returned { .. }) {
            drop(tx);
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationSave,
                    object,
                    crate::flow::FlowError::Illegal {
                        state: state_now.code(),
                        step: "save",
                    }
                    .into(),
                )
                .await;
        }
        let v = ApplicationView {
            version: version_now,
            ..v
        };
        let submitted: Option<i64> = sqlx::query_scalar(
            "SELECT submitted_at FROM application_versions WHERE application_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(v.version)
        .fetch_one(&mut *tx)
        .await?;
        let version = if submitted.is_some() {
            let n = v.version + 1;
            sqlx::query(
                "INSERT INTO application_versions (application_id, version, content, saved_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(n)
            .bind(&json)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE applications SET version = $1, updated_at = $2 WHERE id = $3")
                .bind(n)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            n
        } else {
            sqlx::query(
                "UPDATE application_versions SET content = $1, saved_at = $2 \
                 WHERE application_id = $3 AND version = $4",
            )
            .bind(&json)
            .bind(now)
            .bind(id)
            .bind(v.version)
            .execute(&mut *tx)
            .await?;
            v.version
        };
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(Action::ApplicationSave, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "version": version }))],
            )
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Submits: the whole form is validated against the catalogue and the handlers'
    /// accreditations, and every problem is named at once.
    pub async fn submit(&self, id: &str) -> Result<State, AccessError> {
        let object = format!("application:{id}");
        let v = self.own(id, Action::ApplicationStep).await?;
        let entries = renkei_catalog::datasets(&self.s.store)
            .await
            .map_err(Box::new)?;
        let schema = CatalogSchema::new(&entries);
        let today = self.s.today();
        let mut standings = std::collections::BTreeMap::new();
        for h in &v.content.handlers {
            let a = self.s.accreditation(h).await?;
            standings.insert(h.clone(), standing(a.as_ref(), today).is_current());
        }
        let problems: Vec<Problem> = validate(&v.content, &schema, &|u| {
            standings.get(u).copied().unwrap_or(false)
        });
        if !problems.is_empty() {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationStep,
                    object,
                    AccessError::Invalid(problems),
                )
                .await;
        }
        let facts = self.s.facts(&v).await;
        self.s
            .step(
                &self.caller,
                id,
                Actor::Applicant,
                Step::Submit,
                &facts,
                serde_json::json!({ "version": v.version }),
                Some((v.version, v.stored.as_str())),
                None,
            )
            .await
    }

    /// Withdraws the application.
    pub async fn withdraw(&self, id: &str) -> Result<State, AccessError> {
        let v = self.own(id, Action::ApplicationStep).await?;
        let facts = self.s.facts(&v).await;
        self.s
            .step(
                &self.caller,
                id,
                Actor::Applicant,
                Step::Withdraw,
                &facts,
                serde_json::json!({}),
                None,
                None,
            )
            .await
    }

    /// One of the caller's applications, with its history. The read is audited.
    pub async fn view(&self, id: &str) -> Result<ApplicationView, AccessError> {
        let v = self.own(id, Action::ApplicationRead).await?;
        self.s.read_audited(&self.caller, v, false).await
    }

    /// The authority to open a dummy workspace for one of the caller's applications
    /// while it is written or in review (not once permitted, refused, withdrawn or
    /// closed): the data it requests, to be mimicked over synthetic data. Refusals
    /// are audited.
    pub async fn dummy(&self, id: &str) -> Result<DummyGrant, AccessError> {
        let v = self.own(id, Action::ApplicationRead).await?;
        let open = matches!(
            v.state,
            State::Draft
                | State::Submitted
                | State::Returned { .. }
                | State::InReview { .. }
                | State::Approved { .. }
        );
        if !open {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationRead,
                    format!("application:{id}"),
                    AccessDenied::Object("not_in_review").into(),
                )
                .await;
        }
        Ok(DummyGrant {
            application: v.id.clone(),
            project: v.amendment_of.clone().unwrap_or_else(|| v.id.clone()),
            title: v.content.title.clone(),
            data: v.content.data.clone(),
            user: self.user.clone(),
        })
    }

    /// The caller's applications.
    pub async fn mine(&self) -> Result<Vec<ApplicationView>, AccessError> {
        self.s.list(Some(self.user.as_str())).await
    }

    /// One page of the caller's applications, newest first (`page` from 0), with the
    /// total.
    pub async fn mine_page(
        &self,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<ApplicationView>, i64), AccessError> {
        self.s
            .list_page(Some(self.user.as_str()), false, page, per_page)
            .await
    }
}

// ----- the secretariat ---------------------------------------------------------------

/// The secretariat's work. Made by [`Applications::secretariat`].
pub struct SecretariatDesk {
    pub(crate) s: Applications,
    pub(crate) caller: Caller,
}

impl SecretariatDesk {
    /// Appoints `user` to the committee (or changes their recorded attributes).
    pub async fn appoint(&self, member: &Member) -> Result<(), AccessError> {
        self.s
            .other_user(&self.caller, Action::CommitteeMember, &member.id)
            .await?;
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        sqlx::query(
            "INSERT INTO committee_members (user_id, expertise, external, sex, appointed_at, appointed_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id) DO UPDATE SET expertise = excluded.expertise, \
             external = excluded.external, sex = excluded.sex, \
             appointed_at = excluded.appointed_at, appointed_by = excluded.appointed_by",
        )
        .bind(&member.id)
        .bind(member.expertise.code())
        .bind(i64::from(member.external))
        .bind(match member.sex {
            Sex::Female => "female",
            Sex::Male => "male",
        })
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
                        format!("user:{}", member.id),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({
                        "appointed": true,
                        "expertise": member.expertise.code(),
                        "external": member.external,
                    }))],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `user` from the committee.
    pub async fn dismiss(&self, user: &str) -> Result<bool, AccessError> {
        let mut tx = self.s.store.begin().await?;
        let n = sqlx::query("DELETE FROM committee_members WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            self.s
                .audit
                .append_in(
                    &mut tx,
                    &[self
                        .caller
                        .event(
                            Action::CommitteeMember,
                            format!("user:{user}"),
                            Outcome::Allowed,
                        )
                        .detail(serde_json::json!({ "appointed": false }))],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The committee as appointed, and the requirements it fails (empty: none).
    pub async fn roster(
        &self,
    ) -> Result<(Vec<Member>, Vec<crate::committee::Requirement>), AccessError> {
        let members = self.s.roster().await?;
        let unmet = crate::committee::unmet(&members);
        Ok((members, unmet))
    }

    /// Records (or renews) an accreditation.
    pub async fn accredit(&self, a: &Accreditation) -> Result<(), AccessError> {
        self.s
            .other_user(&self.caller, Action::AccreditationRecord, &a.user)
            .await?;
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        sqlx::query(
            "INSERT INTO accreditations (user_id, course, trained_on, pledge_signed_on, institution, \
             safety_measures, expires_on, revoked_on, revoked_reason, recorded_at, recorded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (user_id) DO UPDATE SET course = excluded.course, \
             trained_on = excluded.trained_on, pledge_signed_on = excluded.pledge_signed_on, \
             institution = excluded.institution, safety_measures = excluded.safety_measures, \
             expires_on = excluded.expires_on, revoked_on = excluded.revoked_on, \
             revoked_reason = excluded.revoked_reason, recorded_at = excluded.recorded_at, \
             recorded_by = excluded.recorded_by",
        )
        .bind(&a.user)
        .bind(&a.course)
        .bind(a.trained_on.map(format_date))
        .bind(a.pledge_signed_on.map(format_date))
        .bind(&a.institution)
        .bind(&a.safety_measures)
        .bind(format_date(a.expires_on))
        .bind(a.revoked.as_ref().map(|(d, _)| format_date(*d)))
        .bind(a.revoked.as_ref().map(|(_, r)| r.clone()))
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
                        Action::AccreditationRecord,
                        format!("user:{}", a.user),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({ "expires_on": format_date(a.expires_on) }))],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes `user`'s accreditation from today: access stops at once.
    pub async fn revoke(&self, user: &str, reason: &str) -> Result<(), AccessError> {
        self.s
            .other_user(&self.caller, Action::AccreditationRevoke, user)
            .await?;
        let object = format!("user:{user}");
        if reason.trim().is_empty() {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::AccreditationRevoke,
                    object,
                    AccessError::BadInput("a revocation needs its reason".into()),
                )
                .await;
        }
        let mut tx = self.s.store.begin().await?;
        let n = sqlx::query(
            "UPDATE accreditations SET revoked_on = $1, revoked_reason = $2 WHERE user_id = $3",
        )
        .bind(format_date(self.s.today()))
        .bind(reason)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            drop(tx);
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::AccreditationRevoke,
                    object,
                    AccessError::BadInput(format!("{user} holds no accreditation")),
                )
                .await;
        }
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(Action::AccreditationRevoke, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "reason": reason }))],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where `user` stands today.
    pub async fn standing(&self, user: &str) -> Result<Standing, AccessError> {
        Ok(standing(
            self.s.accreditation(user).await?.as_ref(),
            self.s.today(),
        ))
    }

    /// One page of [`SecretariatDesk::all`], newest first, with the total.
    pub async fn all_page(
        &self,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<ApplicationView>, i64), AccessError> {
        self.s.list_page(None, true, page, per_page).await
    }

    /// Every application that has been submitted.
    pub async fn all(&self) -> Result<Vec<ApplicationView>, AccessError> {
        // A draft never submitted is the applicant's alone.
        Ok(self
            .s
            .list(None)
            .await?
            .into_iter()
            .filter(|v| !matches!(v.state, State::Draft))
            .collect())
    }

    /// One application that has been submitted, as last submitted, with its
    /// history. The read is audited.
    pub async fn view(&self, id: &str) -> Result<ApplicationView, AccessError> {
        let seen = match self.s.load(id).await {
            Ok(v) if v.history.is_empty() => Err(AccessDenied::Object("not_submitted_yet").into()),
            Ok(v) => self.s.read_audited(&self.caller, v, true).await,
            Err(e) => Err(e),
        };
        match seen {
            Ok(v) => Ok(v),
            Err(e) => {
                self.s
                    .refuse(
                        &self.caller,
                        Action::ApplicationRead,
                        format!("application:{id}"),
                        e,
                    )
                    .await
            }
        }
    }

    async fn simple(
        &self,
        id: &str,
        step: Step,
        detail: serde_json::Value,
    ) -> Result<State, AccessError> {
        let v = self
            .s
            .load_for(&self.caller, Action::ApplicationStep, id)
            .await?;
        self.s
            .not_involved(&self.caller, &v, &format!("application:{id}"))
            .await?;
        let facts = self.s.facts(&v).await;
        self.s
            .step(
                &self.caller,
                id,
                Actor::Secretariat,
                step,
                &facts,
                detail,
                None,
                None,
            )
            .await
    }

    /// Returns a submitted application for changes, saying what is needed.
    pub async fn return_for_changes(&self, id: &str, reason: &str) -> Result<State, AccessError> {
        if reason.trim().is_empty() {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationStep,
                    format!("application:{id}"),
                    AccessError::BadInput("a return needs its reason".into()),
                )
                .await;
        }
        self.simple(id, Step::Return, serde_json::json!({ "reason": reason }))
            .await
    }

    /// Puts a submitted application on the agenda of a scheduled meeting (see
    /// [`SecretariatDesk::schedule`]); an expedited review, by its designated members,
    /// takes amendments only.
    pub async fn send_to_meeting(&self, id: &str, meeting: &str) -> Result<State, AccessError> {
        let Some(m) = self.s.meeting(meeting).await? else {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationStep,
                    format!("application:{id}"),
                    AccessError::BadInput(format!("no meeting {meeting}; schedule it first")),
                )
                .await;
        };
        self.simple(
            id,
            Step::SendToMeeting {
                meeting: m.id.clone(),
                expedited: m.expedited,
            },
            serde_json::json!({ "meeting": m.id, "title": m.title, "held_on": m.held_on, "expedited": m.expedited }),
        )
        .await
    }

    /// Records the committee's decision, taken by the members `present`. The applicant
    /// and everyone named on the application, and members who declared a conflict,
    /// are recused; the rest must meet every requirement of the guideline, or nothing
    /// is recorded and each unmet requirement is named.
    pub async fn decide(
        &self,
        id: &str,
        decision: Decision,
        present: &[String],
        reasons: &str,
    ) -> Result<State, AccessError> {
        let object = format!("application:{id}");
        let v = self
            .s
            .load_for(&self.caller, Action::ApplicationStep, id)
            .await?;
        if !matches!(v.state, State::InReview { .. }) {
            let e = crate::flow::FlowError::Illegal {
                state: v.state.code(),
                step: "decide",
            };
            return self
                .s
                .refuse(&self.caller, Action::ApplicationStep, object, e.into())
                .await;
        }
        self.s.not_involved(&self.caller, &v, &object).await?;
        let inputs = {
            let mut c = self.s.store.pool().acquire().await?;
            decision_inputs(&mut c, id).await?
        };
        let roster = self.s.roster().await?;
        let mut sitting_members = Vec::new();
        for p in present {
            match roster.iter().find(|m| &m.id == p) {
                Some(m) => sitting_members.push(m.clone()),
                None => {
                    return self
                        .s
                        .refuse(
                            &self.caller,
                            Action::ApplicationStep,
                            object,
                            AccessError::NotMember(p.clone()),
                        )
                        .await;
                }
            }
        }
        let mut involved: Vec<String> = v.content.handlers.clone();
        involved.push(v.applicant.clone());
        let conflicted: Vec<String> = sqlx::query_scalar(
            "SELECT member_id FROM application_conflicts WHERE application_id = $1 AND conflicted = 1",
        )
        .bind(id)
        .fetch_all(self.s.store.pool())
        .await?;
        let sitting = sitting(&sitting_members, &involved, &conflicted);
        // A full meeting must meet the guideline; an expedited review is its
        // designated members' alone.
        let quorum = match &v.state {
            State::InReview {
                meeting,
                expedited: true,
            } => {
                let designated = self
                    .s
                    .meeting(meeting)
                    .await?
                    .map(|m| m.designated)
                    .unwrap_or_default();
                sitting
                    .designated_quorum(&designated)
                    .map_err(AccessError::from)
            }
            _ => sitting.quorum().map_err(AccessError::Quorum),
        };
        let quorum = match quorum {
            Ok(q) => q,
            Err(e) => {
                return self
                    .s
                    .refuse(&self.caller, Action::ApplicationStep, object, e)
                    .await;
            }
        };
        // Each member's comment, as it stood when the decision was taken, from those
        // who sat on it.
        let comments: Vec<(String, String)> = sqlx::query_as(
            "SELECT member_id, comment FROM member_comments WHERE application_id = $1 ORDER BY member_id",
        )
        .bind(id)
        .fetch_all(self.s.store.pool())
        .await?;
        let comments: Vec<serde_json::Value> = comments
            .into_iter()
            .filter(|(m, _)| sitting.voting.iter().any(|v| &v.id == m))
            .map(|(member, comment)| serde_json::json!({ "member": member, "comment": comment }))
            .collect();
        let detail = serde_json::json!({
            "decision": decision,
            "reasons": reasons,
            "comments": comments,
            "present": sitting.voting.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            "recused": sitting.recused.iter().map(|(m, why)| {
                serde_json::json!({ "member": m.id, "why": match why {
                    Recusal::ConflictOfInterest => "conflict_of_interest",
                    Recusal::InvolvedInStudy => "involved_in_study",
                } })
            }).collect::<Vec<_>>(),
        });
        let facts = self.s.facts(&v).await;
        self.s
            .step(
                &self.caller,
                id,
                Actor::Secretariat,
                Step::Decide { decision, quorum },
                &facts,
                detail,
                None,
                Some(&inputs),
            )
            .await
    }
}

// ----- committee members -------------------------------------------------------------

/// A committee member's work. Made by [`Applications::member`].
pub struct MemberDesk {
    s: Applications,
    caller: Caller,
    user: UserId,
}

impl MemberDesk {
    /// Declares whether the member has a conflict of interest in application `id`
    /// (with what it is). A conflicted member is recused automatically.
    pub async fn declare(
        &self,
        id: &str,
        conflicted: bool,
        detail: &str,
    ) -> Result<(), AccessError> {
        let object = format!("application:{id}");
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        // Under the application's lock: a declaration lands before a decision (which
        // then sees it) or after (and is refused, the review being over).
        sqlx::query("UPDATE applications SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state_json FROM applications WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let refusal = match state.map(|s| serde_json::from_str::<State>(&s)) {
            None => Some(AccessError::NoSuchApplication),
            Some(Ok(State::Submitted | State::InReview { .. })) => None,
            Some(Ok(st)) => Some(
                crate::flow::FlowError::Illegal {
                    state: st.code(),
                    step: "declare",
                }
                .into(),
            ),
            Some(Err(e)) => Some(AccessError::BadInput(format!("stored state: {e}"))),
        };
        if let Some(e) = refusal {
            drop(tx);
            return self
                .s
                .refuse(&self.caller, Action::ApplicationConflict, object, e)
                .await;
        }
        sqlx::query(
            "INSERT INTO application_conflicts (application_id, member_id, conflicted, detail, declared_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (application_id, member_id) DO UPDATE SET conflicted = excluded.conflicted, \
             detail = excluded.detail, declared_at = excluded.declared_at",
        )
        .bind(id)
        .bind(self.user.as_str())
        .bind(i64::from(conflicted))
        .bind(detail)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(Action::ApplicationConflict, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "conflicted": conflicted }))],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Comments on application `id` while it is before the committee (the latest
    /// comment of each member is kept, and recorded with the decision). A member who
    /// declared a conflict, or is named on the application, is recused from the
    /// discussion too.
    pub async fn comment(&self, id: &str, comment: &str) -> Result<(), AccessError> {
        let object = format!("application:{id}");
        let comment = comment.trim();
        let v = self
            .s
            .load_for(&self.caller, Action::ApplicationComment, id)
            .await?;
        let conflicted: Option<i64> = sqlx::query_scalar(
            "SELECT conflicted FROM application_conflicts WHERE application_id = $1 AND member_id = $2",
        )
        .bind(id)
        .bind(self.user.as_str())
        .fetch_optional(self.s.store.pool())
        .await?;
        let me = self.user.as_str();
        let refusal = if !matches!(v.state, State::InReview { .. }) {
            Some(AccessError::Flow(crate::flow::FlowError::Illegal {
                state: v.state.code(),
                step: "comment",
            }))
        } else if v.applicant == me || v.content.handlers.iter().any(|h| h == me) {
            Some(AccessDenied::Object("involved_in_application").into())
        } else if conflicted == Some(1) {
            Some(AccessDenied::Object("recused").into())
        } else if comment.is_empty() || comment.len() > 8000 {
            Some(AccessError::BadInput(
                "a comment of 1 to 8000 bytes is needed".into(),
            ))
        } else {
            None
        };
        if let Some(e) = refusal {
            return self
                .s
                .refuse(&self.caller, Action::ApplicationComment, object, e)
                .await;
        }
        let now = self.s.clock.now().micros();
        let mut tx = self.s.store.begin().await?;
        sqlx::query(
            "INSERT INTO member_comments (application_id, member_id, comment, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (application_id, member_id) DO UPDATE SET comment = excluded.comment, at = excluded.at",
        )
        .bind(id)
        .bind(me)
        .bind(comment)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.s
            .audit
            .append_in(
                &mut tx,
                &[self
                    .caller
                    .event(Action::ApplicationComment, object, Outcome::Allowed)],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applications on the committee's agenda (sent to a meeting, not yet decided).
    pub async fn agenda(&self) -> Result<Vec<ApplicationView>, AccessError> {
        Ok(self
            .s
            .list(None)
            .await?
            .into_iter()
            .filter(|v| matches!(v.state, State::InReview { .. }))
            .collect())
    }

    /// An application that has reached the committee (sent to a meeting, or since),
    /// with its history; drafts and applications still being screened are not
    /// theirs to read. The read is audited.
    pub async fn view(&self, id: &str) -> Result<ApplicationView, AccessError> {
        let v = self
            .s
            .load_for(&self.caller, Action::ApplicationRead, id)
            .await?;
        // Only what the secretariat put before the committee, ever.
        if !v.history.iter().any(|h| h.step == "send_to_meeting") {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationRead,
                    format!("application:{id}"),
                    AccessDenied::Object("not_before_committee").into(),
                )
                .await;
        }
        self.s.read_audited(&self.caller, v, true).await
    }
}

// ----- custodians --------------------------------------------------------------------

/// A custodian's confirmations. Made by [`Applications::custodian`].
pub struct CustodianDesk {
    s: Applications,
    caller: Caller,
    held: BTreeSet<String>,
}

impl CustodianDesk {
    async fn answer(
        &self,
        id: &str,
        dataset: &str,
        confirm: bool,
        reason: &str,
    ) -> Result<State, AccessError> {
        let v = self
            .s
            .load_for(&self.caller, Action::ApplicationStep, id)
            .await?;
        self.s
            .not_involved(&self.caller, &v, &format!("application:{id}"))
            .await?;
        let facts = self.s.facts(&v).await;
        let step = if confirm {
            Step::Confirm {
                dataset: dataset.to_owned(),
            }
        } else {
            Step::Refuse {
                dataset: dataset.to_owned(),
            }
        };
        self.s
            .step(
                &self.caller,
                id,
                Actor::Custodian(self.held.clone()),
                step,
                &facts,
                serde_json::json!({ "dataset": dataset, "reason": reason }),
                None,
                None,
            )
            .await
    }

    /// Confirms the use of `dataset` (theirs) by application `id`.
    pub async fn confirm(
        &self,
        id: &str,
        dataset: &str,
        reason: &str,
    ) -> Result<State, AccessError> {
        self.answer(id, dataset, true, reason).await
    }

    /// Refuses the use of `dataset` (theirs) by application `id`, with reasons.
    pub async fn refuse(
        &self,
        id: &str,
        dataset: &str,
        reason: &str,
    ) -> Result<State, AccessError> {
        if reason.trim().is_empty() {
            return self
                .s
                .refuse(
                    &self.caller,
                    Action::ApplicationStep,
                    format!("application:{id}"),
                    AccessError::BadInput("a refusal needs its reasons".into()),
                )
                .await;
        }
        self.answer(id, dataset, false, reason).await
    }

    /// An application that asks for one of the custodian's datasets, once the committee
    /// has approved it (or since). The read is audited.
    pub async fn view(&self, id: &str) -> Result<ApplicationView, AccessError> {
        let object = format!("application:{id}");
        let refusal = match self.s.load(id).await {
            Ok(v)
                if !v
                    .content
                    .data
                    .iter()
                    .any(|d| self.held.contains(&d.dataset)) =>
            {
                AccessDenied::Object("not_custodian").into()
            }
            // Only what the committee approved, ever.
            Ok(v) if !v.history.iter().any(|h| h.state == "approved") => {
                AccessDenied::Object("not_approved_yet").into()
            }
            Ok(v) => return self.s.read_audited(&self.caller, v, true).await,
            Err(e) => e,
        };
        self.s
            .refuse(&self.caller, Action::ApplicationRead, object, refusal)
            .await
    }

    /// Applications waiting for this custodian's answer.
    pub async fn pending(&self) -> Result<Vec<ApplicationView>, AccessError> {
        Ok(self
            .s
            .list(None)
            .await?
            .into_iter()
            .filter(|v| {
                matches!(&v.state, State::Approved { pending, .. }
                    if pending.iter().any(|d| self.held.contains(d)))
            })
            .collect())
    }

    /// The datasets this custodian answers for.
    pub fn held(&self) -> &BTreeSet<String> {
        &self.held
    }
}
