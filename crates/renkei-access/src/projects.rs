//! Projects and their permits, stored: issue, the check on every access, warnings
//! before the end, closure with its deletion certificate, results and publications,
//! and the public register.
//!
//! The check hands back a [`PermitInForce`], which only [`Applications::in_force`]
//! makes; closure hands out a [`Closure`], which only this module makes, and which the
//! data store takes as its authority to destroy the project's keys. The certificate
//! it gives back is recorded here with the closure.

use crate::AccessError;
use crate::accreditation::{Standing, standing};
use crate::application::Application;
use crate::flow::{Actor, Facts, State, Step, next};
use crate::permit::{Period, Permit, check, period};
use crate::service::{Applications, OPEN_AMENDMENT, format_date, history, set_state};
use renkei_core::role::AccessDenied;
use renkei_core::{Action, Caller, Outcome, Permission, Principal, UserId};
use renkei_store::Tx;
use renkei_store::sqlx::{self, Row as _};
use serde::Serialize;
use time::Date;

/// Access to a project's data, granted today to one named, accredited person under
/// the permit in force. Made only by [`Applications::in_force`], on every request.
#[derive(Clone, Debug)]
pub struct PermitInForce {
    permit: Permit,
    user: UserId,
}

impl PermitInForce {
    /// The project.
    pub fn project(&self) -> &str {
        &self.permit.project
    }

    /// The permit in force.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }

    /// The person granted access.
    pub fn user(&self) -> &UserId {
        &self.user
    }
}

/// The platform's authority to materialize a project's extract under the permit in
/// force: handed out only by [`Applications::extract_orders`], to the platform, for an
/// open project whose period of use has begun and not ended. The data store takes it
/// as its authority to write the extract and to read the datasets and the person
/// index the extract is made from.
#[derive(Clone, Debug)]
pub struct ExtractOrder {
    permit: Permit,
    caller: Caller,
}

impl ExtractOrder {
    /// The project.
    pub fn project(&self) -> &str {
        &self.permit.project
    }
    /// The permit in force: what may be extracted.
    pub fn permit(&self) -> &Permit {
        &self.permit
    }
    /// Who materializes it (the platform).
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// A project being closed: the authority to destroy its data. Made only by this
/// module, for a project that is open, for a caller allowed to close it (or the
/// platform, at the end of the period).
#[derive(Debug)]
pub struct Closure {
    project: String,
    reason: String,
    caller: Caller,
}

impl Closure {
    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Why it closes.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Who closes it.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// How a closure came about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Closed {
    /// When (microseconds since the epoch).
    pub at: i64,
    /// Why.
    pub reason: String,
    /// The deletion certificate (what, when, which keys, by whom, its digest).
    pub certificate: serde_json::Value,
}

/// A result or publication of a project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Publication {
    /// `article`, `report`, `dataset` or `other`.
    pub kind: String,
    /// The citation.
    pub citation: String,
    /// Where to read it (may be empty).
    pub url: String,
    /// When it was added (microseconds).
    pub added_at: i64,
}

/// The kinds of publication.
pub const PUBLICATION_KINDS: [&str; 4] = ["article", "report", "dataset", "other"];

/// A project as its people, the secretariat and the auditor see it.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectView {
    /// The permit in force (the latest version).
    pub permit: Permit,
    /// Where its period stands today.
    pub period: Period,
    /// Closed, with its certificate.
    pub closed: Option<Closed>,
    /// Results and publications.
    pub publications: Vec<Publication>,
    /// Whether results are overdue: the publication day has passed with nothing added.
    pub overdue: bool,
    /// The permit versions issued, oldest first (application id of each).
    pub versions: Vec<(i64, String)>,
}

impl ProjectView {
    /// `open`, `not_started`, `ended` or `closed`.
    pub fn status(&self) -> &'static str {
        match (&self.closed, &self.period) {
            (Some(_), _) => "closed",
            (None, Period::NotYet { .. }) => "not_started",
            (None, Period::Open { .. }) => "open",
            (None, Period::Ended { .. }) => "ended",
        }
    }
}

/// One project on the public register.
#[derive(Clone, Debug, Serialize)]
pub struct RegisterEntry {
    /// The project.
    pub project: String,
    /// Its title.
    pub title: String,
    /// The institution.
    pub institution: String,
    /// The datasets granted.
    pub datasets: Vec<String>,
    /// The purpose, as stated.
    pub purpose: String,
    /// The plain-language summary (ja).
    pub summary_ja: String,
    /// The same in English (may be empty).
    pub summary_en: String,
    /// The public-interest statement.
    pub public_interest: String,
    /// Whether the use is commercial.
    pub commercial: bool,
    /// First day of use.
    pub starts_on: Date,
    /// Last day of use.
    pub ends_on: Date,
    /// `open`, `not_started`, `ended` or `closed`.
    pub status: String,
    /// Conditions of the permit.
    pub conditions: Vec<String>,
    /// The deletion certificate once closed.
    pub certificate: Option<serde_json::Value>,
    /// Results must be public by this day.
    pub publish_by: Date,
    /// Results and publications.
    pub publications: Vec<Publication>,
    /// Past the publication day with nothing added.
    pub overdue: bool,
}

/// Which projects to load.
enum Which<'a> {
    One(&'a str),
    All,
    /// One page, oldest or newest first; `mine`: only those of this user (applicant or
    /// named).
    Page {
        mine: Option<&'a str>,
        newest_first: bool,
        offset: i64,
        limit: i64,
    },
}

/// Projects' rows, their publications (project, kind, citation, url, added at) and
/// their permit versions (project, version, application).
type Loaded = (
    Vec<sqlx::any::AnyRow>,
    Vec<(String, String, String, String, i64)>,
    Vec<(String, i64, String)>,
);

/// The condition for "projects of user $1".
const MINE: &str =
    "WHERE applicant = $1 OR id IN (SELECT project FROM permit_people WHERE user_id = $1)";

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Warnings added to the outbox (each once).
    pub warnings: usize,
}

impl Applications {
    // ----- issue ---------------------------------------------------------------------

    /// Issues the permit of application `id`, which has just been permitted, inside the
    /// step's transaction: a new project, or the next version of the project it amends.
    pub(crate) async fn issue_permit(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        id: &str,
        conditions: &[String],
        now: i64,
    ) -> Result<(), AccessError> {
        let row = sqlx::query("SELECT applicant, amendment_of FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let applicant: String = row.try_get(0)?;
        let amends: Option<String> = row.try_get(1)?;
        let v = sqlx::query(
            "SELECT version, content FROM application_versions \
             WHERE application_id = $1 AND submitted_at IS NOT NULL ORDER BY version DESC LIMIT 1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        let app_version: i64 = v.try_get(0)?;
        let content: String = v.try_get(1)?;
        let content: Application = serde_json::from_str(&content)
            .map_err(|e| AccessError::BadInput(format!("stored content: {e}")))?;
        let (project, version) = match &amends {
            None => {
                sqlx::query(
                    "INSERT INTO projects (id, applicant, permit_version, created_at) VALUES ($1, $2, 1, $3)",
                )
                .bind(id)
                .bind(&applicant)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                (id.to_owned(), 1)
            }
            Some(p) => {
                let closed: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT closed_at FROM projects WHERE id = $1")
                        .bind(p)
                        .fetch_optional(&mut **tx)
                        .await?;
                match closed {
                    Some(None) => {}
                    _ => {
                        return Err(AccessDenied::Object("project_closed").into());
                    }
                }
                let v: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM permits WHERE project = $1",
                )
                .bind(p)
                .fetch_one(&mut **tx)
                .await?;
                sqlx::query("UPDATE projects SET permit_version = $1 WHERE id = $2")
                    .bind(v)
                    .bind(p)
                    .execute(&mut **tx)
                    .await?;
                (p.clone(), v)
            }
        };
        let permit = Permit::issue(
            &project,
            version,
            (id, app_version),
            &applicant,
            &content,
            conditions.to_vec(),
            self.today(),
        )
        .map_err(|f| AccessError::BadInput(format!("the approved application lacks {f}")))?;
        sqlx::query(
            "INSERT INTO permits (project, version, application_id, document, starts_on, ends_on, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&project)
        .bind(version)
        .bind(id)
        .bind(serde_json::to_string(&permit).unwrap_or_default())
        .bind(format_date(permit.starts_on))
        .bind(format_date(permit.ends_on))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM permit_people WHERE project = $1")
            .bind(&project)
            .execute(&mut **tx)
            .await?;
        for p in &permit.people {
            sqlx::query("INSERT INTO permit_people (project, user_id) VALUES ($1, $2)")
                .bind(&project)
                .bind(p)
                .execute(&mut **tx)
                .await?;
        }
        self.audit
            .append_in(
                tx,
                &[caller
                    .event(
                        Action::PermitIssue,
                        format!("project:{project}"),
                        Outcome::Allowed,
                    )
                    .detail(serde_json::json!({
                        "version": version,
                        "application": id,
                        "people": permit.people,
                        "starts_on": format_date(permit.starts_on),
                        "ends_on": format_date(permit.ends_on),
                    }))],
            )
            .await?;
        Ok(())
    }

    // ----- reading -------------------------------------------------------------------

    async fn project_row(&self, id: &str) -> Result<Option<ProjectView>, AccessError> {
        Ok(self
            .views(Which::One(id))
            .await?
            .into_iter()
            .next()
            .map(|(v, _)| v))
    }

    /// Project `id` with the content of the application version behind its permit in
    /// force (what an amendment starts from and is compared with).
    pub(crate) async fn approved_content(
        &self,
        id: &str,
    ) -> Result<Option<(ProjectView, String)>, AccessError> {
        let Some(v) = self.project_row(id).await? else {
            return Ok(None);
        };
        let content: Option<String> = sqlx::query_scalar(
            "SELECT content FROM application_versions WHERE application_id = $1 AND version = $2",
        )
        .bind(&v.permit.application)
        .bind(v.permit.application_version)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(content.map(|c| (v, c)))
    }

    /// Projects with their permit in force, publications and versions, in a handful of
    /// queries whatever their number (lists and the register stay flat as they grow);
    /// with each, the content of the application behind the permit.
    async fn views(&self, which: Which<'_>) -> Result<Vec<(ProjectView, String)>, AccessError> {
        const SELECT: &str = "SELECT p.id, p.closed_at, p.closure_reason, p.certificate, m.document, \
             COALESCE((SELECT v.content FROM application_versions v \
                 WHERE v.application_id = m.application_id AND v.submitted_at IS NOT NULL \
                 ORDER BY v.version DESC LIMIT 1), '{}') \
             FROM projects p JOIN permits m ON m.project = p.id AND m.version = p.permit_version";
        let pool = self.store.pool();
        // The ids wanted, in order; `None`: every project.
        let ids: Option<Vec<String>> = match which {
            Which::One(id) => Some(vec![id.to_owned()]),
            Which::All => None,
            Which::Page {
                mine,
                newest_first,
                offset,
                limit,
            } => {
                let order = if newest_first { "DESC" } else { "ASC" };
                let sql = format!(
                    "SELECT id FROM projects {} ORDER BY created_at {order}, id {order} LIMIT {limit} OFFSET {offset}",
                    if mine.is_some() { MINE } else { "" }
                );
                let mut q = sqlx::query_scalar(&sql);
                if let Some(me) = mine {
                    q = q.bind(me);
                }
                Some(q.fetch_all(pool).await?)
            }
        };
        let (rows, pubs, versions): Loaded = match &ids {
            None => (
                sqlx::query(&format!("{SELECT} ORDER BY p.created_at, p.id"))
                    .fetch_all(pool)
                    .await?,
                sqlx::query_as(
                    "SELECT project, kind, citation, url, added_at FROM project_publications \
                     ORDER BY project, seq",
                )
                .fetch_all(pool)
                .await?,
                sqlx::query_as(
                    "SELECT project, version, application_id FROM permits ORDER BY project, version",
                )
                .fetch_all(pool)
                .await?,
            ),
            Some(ids) if ids.is_empty() => return Ok(Vec::new()),
            Some(ids) => {
                let list = (1..=ids.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let (sql, sql_p, sql_v) = (
                    format!("{SELECT} WHERE p.id IN ({list})"),
                    format!(
                        "SELECT project, kind, citation, url, added_at FROM project_publications \
                         WHERE project IN ({list}) ORDER BY project, seq"
                    ),
                    format!(
                        "SELECT project, version, application_id FROM permits \
                         WHERE project IN ({list}) ORDER BY project, version"
                    ),
                );
                let mut q = sqlx::query(&sql);
                let mut qp = sqlx::query_as(&sql_p);
                let mut qv = sqlx::query_as(&sql_v);
                for id in ids {
                    q = q.bind(id);
                    qp = qp.bind(id);
                    qv = qv.bind(id);
                }
                let mut rows = q.fetch_all(pool).await?;
                // In the order the ids were asked for.
                let at = |r: &sqlx::any::AnyRow| {
                    let id: String = r.try_get(0).unwrap_or_default();
                    ids.iter().position(|x| *x == id).unwrap_or(usize::MAX)
                };
                rows.sort_by_key(at);
                (rows, qp.fetch_all(pool).await?, qv.fetch_all(pool).await?)
            }
        };
        let mut pubs_of: std::collections::HashMap<String, Vec<Publication>> =
            std::collections::HashMap::new();
        for (project, kind, citation, url, added_at) in pubs {
            pubs_of.entry(project).or_default().push(Publication {
                kind,
                citation,
                url,
                added_at,
            });
        }
        let mut versions_of: std::collections::HashMap<String, Vec<(i64, String)>> =
            std::collections::HashMap::new();
        for (project, version, app) in versions {
            versions_of.entry(project).or_default().push((version, app));
        }
        let today = self.today();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0)?;
            let doc: String = row.try_get(4)?;
            let permit: Permit = serde_json::from_str(&doc)
                .map_err(|e| AccessError::BadInput(format!("stored permit: {e}")))?;
            let closed_at: Option<i64> = row.try_get(1)?;
            let closed = match closed_at {
                Some(at) => {
                    let reason: Option<String> = row.try_get(2)?;
                    let cert: Option<String> = row.try_get(3)?;
                    Some(Closed {
                        at,
                        reason: reason.unwrap_or_default(),
                        certificate: cert
                            .and_then(|c| serde_json::from_str(&c).ok())
                            .unwrap_or_default(),
                    })
                }
                None => None,
            };
            let publications = pubs_of.remove(&id).unwrap_or_default();
            let content: String = row.try_get(5)?;
            out.push((
                ProjectView {
                    period: period(&permit, today),
                    overdue: publications.is_empty() && today > permit.publish_by,
                    permit,
                    closed,
                    publications,
                    versions: versions_of.remove(&id).unwrap_or_default(),
                },
                content,
            ));
        }
        Ok(out)
    }

    /// Project `id` for `caller`: its applicant and the people named on it, the
    /// secretariat and the auditor. Anyone else is refused (and audited) as if it did
    /// not exist for them.
    pub async fn project(&self, caller: &Caller, id: &str) -> Result<ProjectView, AccessError> {
        let object = format!("project:{id}");
        let v = match self.project_row(id).await? {
            Some(v) => v,
            None => {
                return self
                    .refuse(
                        caller,
                        Action::ApplicationRead,
                        object,
                        AccessDenied::Object("no_such_project").into(),
                    )
                    .await;
            }
        };
        if !self.may_read_project(caller, &v).await? {
            return self
                .refuse(
                    caller,
                    Action::ApplicationRead,
                    object,
                    AccessDenied::Object("not_on_project").into(),
                )
                .await;
        }
        self.audit
            .record(caller.event(Action::ApplicationRead, object, Outcome::Allowed))
            .await?;
        Ok(v)
    }

    async fn may_read_project(
        &self,
        caller: &Caller,
        v: &ProjectView,
    ) -> Result<bool, AccessError> {
        if caller.has(Permission::ManageReview) || caller.has(Permission::ReadAudit) {
            return Ok(true);
        }
        Ok(caller.has(Permission::Apply)
            && caller
                .user_id()
                .is_some_and(|me| v.permit.applicant == me.as_str() || v.permit.names(me.as_str())))
    }

    /// The projects `caller` may read: their own and those naming them; every project
    /// for the secretariat and the auditor.
    /// One page of [`Applications::projects`] (`page` from 0), with the total.
    pub async fn projects_page(
        &self,
        caller: &Caller,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<ProjectView>, i64), AccessError> {
        let all = caller.has(Permission::ManageReview) || caller.has(Permission::ReadAudit);
        if !all && !caller.has(Permission::Apply) {
            return Ok((Vec::new(), 0));
        }
        let me = caller
            .user_id()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default();
        let mine = (!all).then_some(me.as_str());
        let total: i64 = match mine {
            Some(me) => {
                sqlx::query_scalar(&format!("SELECT COUNT(*) FROM projects {MINE}"))
                    .bind(me)
                    .fetch_one(self.store.pool())
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM projects")
                    .fetch_one(self.store.pool())
                    .await?
            }
        };
        let views = self
            .views(Which::Page {
                mine,
                newest_first: true,
                offset: page.max(0).saturating_mul(per_page),
                limit: per_page,
            })
            .await?;
        Ok((views.into_iter().map(|(v, _)| v).collect(), total))
    }

    pub async fn projects(&self, caller: &Caller) -> Result<Vec<ProjectView>, AccessError> {
        let all = caller.has(Permission::ManageReview) || caller.has(Permission::ReadAudit);
        if !all && !caller.has(Permission::Apply) {
            // Nobody else is named on a project: nothing to list.
            return Ok(Vec::new());
        }
        let me = caller
            .user_id()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default();
        Ok(self
            .views(Which::All)
            .await?
            .into_iter()
            .map(|(v, _)| v)
            .filter(|v| all || v.permit.applicant == me || v.permit.names(&me))
            .collect())
    }

    // ----- the check on every access -------------------------------------------------

    /// Access to project `id`'s data for `caller` today, or the reason not (audited):
    /// the project is open, the caller is named on the permit in force, today lies in
    /// its period, and their accreditation is current. Read afresh on every call, so a
    /// revocation or an expiry stops the next request of every session and token.
    pub async fn in_force(&self, caller: &Caller, id: &str) -> Result<PermitInForce, AccessError> {
        let object = format!("project:{id}");
        if let Err(d) = caller.require(Permission::Apply) {
            return self
                .refuse(caller, Action::PermitCheck, object, d.into())
                .await;
        }
        let Some(user) = caller.user_id().cloned() else {
            return self
                .refuse(
                    caller,
                    Action::PermitCheck,
                    object,
                    AccessDenied::Object("not_a_user").into(),
                )
                .await;
        };
        if caller.token_project().is_some_and(|p| p != id) {
            return self
                .refuse(
                    caller,
                    Action::PermitCheck,
                    object,
                    AccessDenied::Object("token_other_project").into(),
                )
                .await;
        }
        let Some(v) = self.project_row(id).await? else {
            return self
                .refuse(
                    caller,
                    Action::PermitCheck,
                    object,
                    AccessDenied::Object("no_permit").into(),
                )
                .await;
        };
        let today = self.today();
        let acc = standing(self.accreditation(user.as_str()).await?.as_ref(), today);
        match check(&v.permit, v.closed.is_some(), user.as_str(), &acc, today) {
            Ok(()) => Ok(PermitInForce {
                permit: v.permit,
                user,
            }),
            Err(code) => {
                self.refuse(
                    caller,
                    Action::PermitCheck,
                    object,
                    AccessDenied::Object(code).into(),
                )
                .await
            }
        }
    }

    /// The extracts the platform should hold now: one order per open project whose
    /// period of use is running (its permit in force, whatever its version). Only the
    /// platform asks; anyone else is refused and audited.
    pub async fn extract_orders(&self, caller: &Caller) -> Result<Vec<ExtractOrder>, AccessError> {
        if !matches!(caller.principal(), Principal::System) {
            return self
                .refuse(
                    caller,
                    Action::PermitCheck,
                    "projects",
                    AccessDenied::Object("platform_only").into(),
                )
                .await;
        }
        Ok(self
            .views(Which::All)
            .await?
            .into_iter()
            .filter(|(v, _)| v.closed.is_none() && matches!(v.period, Period::Open { .. }))
            .map(|(v, _)| ExtractOrder {
                permit: v.permit,
                caller: caller.clone(),
            })
            .collect())
    }

    /// The order for one project, if its period of use is running.
    pub async fn extract_order(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<ExtractOrder>, AccessError> {
        Ok(self
            .extract_orders(caller)
            .await?
            .into_iter()
            .find(|o| o.project() == id))
    }

    // ----- closure -------------------------------------------------------------------

    /// The authority to close project `id` on request: its applicant, or the
    /// secretariat. Refused (and audited) when it is closed already or not theirs.
    pub async fn begin_closure(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Closure, AccessError> {
        let object = format!("project:{id}");
        if reason.trim().is_empty() {
            return self
                .refuse(
                    caller,
                    Action::ProjectClose,
                    object,
                    AccessError::BadInput("a closure needs its reason".into()),
                )
                .await;
        }
        let v = match self.project_row(id).await? {
            Some(v) => v,
            None => {
                return self
                    .refuse(
                        caller,
                        Action::ProjectClose,
                        object,
                        AccessDenied::Object("no_such_project").into(),
                    )
                    .await;
            }
        };
        let allowed = caller.has(Permission::ManageReview)
            || (caller.has(Permission::Apply)
                && caller
                    .user_id()
                    .is_some_and(|me| me.as_str() == v.permit.applicant));
        if !allowed {
            return self
                .refuse(
                    caller,
                    Action::ProjectClose,
                    object,
                    AccessDenied::Object("not_yours_to_close").into(),
                )
                .await;
        }
        if v.closed.is_some() {
            return self
                .refuse(
                    caller,
                    Action::ProjectClose,
                    object,
                    AccessDenied::Object("project_closed").into(),
                )
                .await;
        }
        Ok(Closure {
            project: id.to_owned(),
            reason: reason.to_owned(),
            caller: caller.clone(),
        })
    }

    /// Records a closure whose data has been destroyed, with its deletion certificate:
    /// the project closes, and so does every application of it still permitted.
    /// Refused when another closure got there first.
    pub async fn finish_closure(
        &self,
        closure: Closure,
        certificate: serde_json::Value,
    ) -> Result<ProjectView, AccessError> {
        let Closure {
            project,
            reason,
            caller,
        } = closure;
        let object = format!("project:{project}");
        let now = self.clock.now().micros();
        let mut tx = self.store.begin().await?;
        let closed = sqlx::query(
            "UPDATE projects SET closed_at = $1, closure_reason = $2, certificate = $3 \
             WHERE id = $4 AND closed_at IS NULL",
        )
        .bind(now)
        .bind(&reason)
        .bind(certificate.to_string())
        .bind(&project)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if closed != 1 {
            drop(tx);
            return self
                .refuse(
                    &caller,
                    Action::ProjectClose,
                    object,
                    AccessDenied::Object("project_closed").into(),
                )
                .await;
        }
        let actor = if matches!(caller.principal(), Principal::System) {
            Actor::Platform
        } else if caller.has(Permission::ManageReview) {
            Actor::Secretariat
        } else {
            Actor::Applicant
        };
        let detail = serde_json::json!({ "reason": reason, "certificate": certificate });
        // Its permitted applications close; amendments still open lapse with it.
        let plain = Facts::default();
        let amendment = Facts {
            amendment: true,
            ..Facts::default()
        };
        for (step, facts, which) in [
            (Step::Close, &plain, "state = 'permitted'".to_owned()),
            (
                Step::Lapse,
                &amendment,
                format!("amendment_of = $1 AND {OPEN_AMENDMENT}"),
            ),
        ] {
            let apps: Vec<(String, String)> = sqlx::query_as(&format!(
                "SELECT id, state_json FROM applications WHERE (id = $1 OR amendment_of = $1) AND {which}"
            ))
            .bind(&project)
            .fetch_all(&mut *tx)
            .await?;
            for (app, state) in apps {
                let state: State = serde_json::from_str(&state)
                    .map_err(|e| AccessError::BadInput(format!("stored state: {e}")))?;
                let code = step.code();
                let after = next(&state, &actor, step.clone(), facts)?;
                set_state(&mut tx, &app, &after, now).await?;
                history(&mut tx, &app, now, &caller, code, &after, &detail).await?;
            }
        }
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::ProjectClose, object, Outcome::Allowed)
                    .detail(detail)],
            )
            .await?;
        tx.commit().await?;
        self.project_row(&project)
            .await?
            .ok_or(AccessError::NoSuchApplication)
    }

    // ----- the platform's sweep ------------------------------------------------------

    /// The platform's daily work (only the platform may run it): warnings 30 and 7 days
    /// before a permit or an accreditation ends, put in the outbox once each; and a
    /// [`Closure`] for every open project whose period has ended, for the caller to
    /// destroy the data of and finish.
    pub async fn sweep(&self, caller: &Caller) -> Result<(Swept, Vec<Closure>), AccessError> {
        if !matches!(caller.principal(), Principal::System) {
            return self
                .refuse(
                    caller,
                    Action::ProjectClose,
                    "projects",
                    AccessDenied::Object("platform_only").into(),
                )
                .await;
        }
        let today = self.today();
        let mut swept = Swept::default();
        let mut closures = Vec::new();
        for (v, _) in self.views(Which::All).await? {
            if v.closed.is_some() {
                continue;
            }
            let id = v.permit.project.clone();
            match v.period {
                Period::Ended { .. } => closures.push(Closure {
                    project: id.clone(),
                    reason: "expiry".into(),
                    caller: caller.clone(),
                }),
                Period::Open {
                    days_left,
                    warning: Some(w),
                } => {
                    for p in &v.permit.people {
                        swept.warnings += self
                            .warn(
                                p,
                                "permit_ending",
                                &format!("permit:{id}:{}:{w}:{p}", v.permit.version),
                                &format!("「{}」の利用期間は残り{days_left}日です", v.permit.title),
                                &format!(
                                    "The period of use of project {id} ends on {} ({days_left} days left). \
                                     Access stops after that day; an extension is an amendment.",
                                    format_date(v.permit.ends_on)
                                ),
                            )
                            .await?;
                    }
                }
                _ => {}
            }
        }
        let accredited: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM accreditations WHERE revoked_on IS NULL ORDER BY user_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        for user in accredited {
            let acc = self.accreditation(&user).await?;
            if let (
                Some(a),
                Standing::Current {
                    days_left,
                    warning: Some(w),
                },
            ) = (&acc, standing(acc.as_ref(), today))
            {
                swept.warnings += self
                    .warn(
                        &user,
                        "accreditation_ending",
                        &format!("accreditation:{user}:{}:{w}", format_date(a.expires_on)),
                        &format!("利用者認定の有効期限まで残り{days_left}日です"),
                        &format!(
                            "Your accreditation ends on {} ({days_left} days left). Access to every \
                             project stops after that day unless it is renewed.",
                            format_date(a.expires_on)
                        ),
                    )
                    .await?;
            }
        }
        Ok((swept, closures))
    }

    /// Puts one message in the outbox unless `dedupe` is there already; 1 if added.
    async fn warn(
        &self,
        to: &str,
        kind: &str,
        dedupe: &str,
        subject: &str,
        body: &str,
    ) -> Result<usize, AccessError> {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM outbox WHERE dedupe = $1")
            .bind(dedupe)
            .fetch_optional(self.store.pool())
            .await?;
        if exists.is_some() {
            return Ok(0);
        }
        sqlx::query(
            "INSERT INTO outbox (id, recipient, kind, subject, body, dedupe, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(format!("msg-{}", uuid::Uuid::now_v7()))
        .bind(to)
        .bind(kind)
        .bind(subject)
        .bind(body)
        .bind(dedupe)
        .bind(self.clock.now().micros())
        .execute(self.store.pool())
        .await?;
        Ok(1)
    }

    /// The messages waiting for `user` (newest first): what e-mail would carry, shown
    /// on their pages too.
    pub async fn outbox(&self, user: &str) -> Result<Vec<(String, String, String)>, AccessError> {
        Ok(sqlx::query_as(
            "SELECT kind, subject, body FROM outbox WHERE recipient = $1 ORDER BY created_at DESC, id",
        )
        .bind(user)
        .fetch_all(self.store.pool())
        .await?)
    }

    // ----- results and the register --------------------------------------------------

    /// Adds a result or publication to project `id`: its applicant or a person named.
    pub async fn add_publication(
        &self,
        caller: &Caller,
        id: &str,
        kind: &str,
        citation: &str,
        url: &str,
    ) -> Result<(), AccessError> {
        let object = format!("project:{id}");
        let v = self.project(caller, id).await?;
        let mine = caller
            .user_id()
            .is_some_and(|me| v.permit.applicant == me.as_str() || v.permit.names(me.as_str()));
        let problem = if !mine || !caller.has(Permission::Apply) {
            Some(AccessError::from(AccessDenied::Object("not_on_project")))
        } else if !PUBLICATION_KINDS.contains(&kind) {
            Some(AccessError::BadInput(format!("unknown kind {kind:?}")))
        } else if citation.trim().is_empty() || citation.len() > 2000 {
            Some(AccessError::BadInput(
                "a citation of 1 to 2000 bytes is needed".into(),
            ))
        } else if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://"))
            || url.len() > 2000
        {
            Some(AccessError::BadInput(
                "the address must start with https:// or http://".into(),
            ))
        } else {
            None
        };
        if let Some(e) = problem {
            return self
                .refuse(caller, Action::ProjectPublication, object, e)
                .await;
        }
        let now = self.clock.now().micros();
        let mut tx = self.store.begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM project_publications WHERE project = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO project_publications (project, seq, kind, citation, url, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(seq)
        .bind(kind)
        .bind(citation.trim())
        .bind(url)
        .bind(now)
        .bind(caller.actor().id)
        .execute(&mut *tx)
        .await?;
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::ProjectPublication, object, Outcome::Allowed)
                    .detail(serde_json::json!({ "kind": kind, "citation": citation.trim(), "url": url }))],
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The public register: every project with a permit, newest first. Public: it holds
    /// what the applicant wrote for the public and the permit's outline, never data.
    pub async fn register(&self) -> Result<Vec<RegisterEntry>, AccessError> {
        let mut all = self.views(Which::All).await?;
        all.reverse();
        entries(all)
    }

    /// One page of the register, newest first (`page` from 0), with the total.
    pub async fn register_page(
        &self,
        page: i64,
        per_page: i64,
    ) -> Result<(Vec<RegisterEntry>, i64), AccessError> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects")
            .fetch_one(self.store.pool())
            .await?;
        let views = self
            .views(Which::Page {
                mine: None,
                newest_first: true,
                offset: page.max(0).saturating_mul(per_page),
                limit: per_page,
            })
            .await?;
        Ok((entries(views)?, total))
    }
}

fn entries(views: Vec<(ProjectView, String)>) -> Result<Vec<RegisterEntry>, AccessError> {
    {
        let mut out = Vec::new();
        for (v, content) in views {
            let app: Application = serde_json::from_str(&content)
                .map_err(|e| AccessError::BadInput(format!("stored content: {e}")))?;
            let status = v.status().to_owned();
            let mut datasets: Vec<String> =
                v.permit.data.iter().map(|d| d.dataset.clone()).collect();
            datasets.sort();
            datasets.dedup();
            out.push(RegisterEntry {
                project: v.permit.project.clone(),
                title: v.permit.title.clone(),
                institution: v.permit.institution.clone(),
                datasets,
                purpose: v.permit.purpose.clone(),
                summary_ja: app.summary_ja,
                summary_en: app.summary_en,
                public_interest: app.public_interest,
                commercial: app.commercial.unwrap_or(false),
                starts_on: v.permit.starts_on,
                ends_on: v.permit.ends_on,
                status,
                conditions: v.permit.conditions.clone(),
                certificate: v.closed.map(|c| c.certificate),
                publish_by: v.permit.publish_by,
                overdue: v.overdue,
                publications: v.publications,
            });
        }
        Ok(out)
    }
}

/// `YYYY-MM-DD` of a stored date, for the faces.
pub fn date_text(d: Date) -> String {
    format_date(d)
}
