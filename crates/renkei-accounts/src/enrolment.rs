//! Access without anyone else knowing the password: an administrator invites a user
//! (or resets their access) and the user gets a single-use, expiring link with which
//! they set their own password, then enrol their own authenticator. Granting a
//! privileged role takes a second administrator's approval.

use crate::admin::UserAdmin;
use crate::error::AccountError;
use crate::model::*;
use crate::service::{
    Accounts, as_user, check_display_name, insert_roles, other_active_admins, revoke_all,
    take_guard, truncate,
};
use renkei_core::role::AccessDenied;
use renkei_core::{Action, Caller, Outcome, Role, Timestamp, UserId, Username};
use renkei_crypto::{random_token, sha256_hex};
use renkei_store::sqlx::{self, Row as _};

/// How long an enrolment link works.
pub const LINK_TTL_SECS: i64 = 72 * 3600;

/// A stored password hash no password matches: the account waits for its enrolment
/// link.
const NO_PASSWORD: &str = "!enrolment-pending";

/// A single-use enrolment link's secret, to send to the user (shown once, never
/// stored). `Debug` never shows it.
pub struct Invitation {
    /// The secret for `/enrol/<token>`.
    pub token: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What came of a change of roles.
#[derive(Debug)]
pub enum RoleChange {
    /// The roles are in force.
    Applied(User),
    /// The change grants a privileged role and waits for a second administrator.
    Pending {
        /// The request to approve.
        request_id: String,
    },
}

/// A request to grant a privileged role.
#[derive(Clone, Debug)]
pub struct RoleRequest {
    /// Id.
    pub id: String,
    /// The user concerned.
    pub user_id: UserId,
    /// Their username.
    pub username: String,
    /// The whole new set of roles.
    pub roles: Vec<Role>,
    /// Who asked (`user:<id>`).
    pub requested_by: String,
    /// When.
    pub requested_at: Timestamp,
}

impl UserAdmin {
    /// Invites a user: the account is created without a password, and the returned
    /// link lets the user set one and enrol an authenticator. Privileged roles asked
    /// for by an administrator are not granted yet: they wait for a second
    /// administrator (the operator's accounts duty grants them at once).
    pub async fn invite(
        &self,
        username: &str,
        display_name: &str,
        roles: &[Role],
    ) -> Result<(User, Invitation, Option<String>), AccountError> {
        let caller = self.caller();
        let object = format!("username:{}", truncate(username, 64));
        let checked = (|| {
            let u = Username::parse(username)?;
            check_display_name(display_name)?;
            if roles.is_empty() {
                return Err(AccountError::NoRoles);
            }
            Ok(u)
        })();
        let username = match checked {
            Ok(u) => u,
            Err(e) => return self.a().deny(caller, Action::UserCreate, object, e).await,
        };
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let needs_second = !caller.is_operator() && roles.iter().any(|r| r.is_privileged());
        let now_roles: Vec<Role> = if needs_second {
            roles
                .iter()
                .copied()
                .filter(|r| !r.is_privileged())
                .collect()
        } else {
            roles.clone()
        };
        let id = UserId::generate();
        let now = self.a().now();
        let mut tx = self.a().inner.store.begin().await?;
        let r = sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $5)",
        )
        .bind(id.as_str())
        .bind(username.as_str())
        .bind(display_name.trim())
        .bind(NO_PASSWORD)
        .bind(now.micros())
        .execute(&mut *tx)
        .await;
        if let Err(e) = r {
            drop(tx);
            if renkei_store::is_unique_violation(&e) {
                return self
                    .a()
                    .deny(
                        caller,
                        Action::UserCreate,
                        object,
                        AccountError::DuplicateUsername,
                    )
                    .await;
            }
            return Err(e.into());
        }
        insert_roles(&mut tx, &id, &now_roles, now, &caller.actor().id).await?;
        let mut events = vec![
            caller
                .event(Action::UserCreate, format!("user:{id}"), Outcome::Allowed)
                .detail(serde_json::json!({
                    "username": username.as_str(),
                    "roles": now_roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
                })),
        ];
        let request = if needs_second {
            let rid = insert_request(&mut tx, &id, &roles, caller, now).await?;
            events.push(request_event(caller, &id, &rid, &roles, "requested"));
            Some(rid)
        } else {
            None
        };
        let invitation = insert_link(&mut tx, &id, "new", caller, now).await?;
        events.push(
            caller
                .event(Action::UserInvite, format!("user:{id}"), Outcome::Allowed)
                .detail(serde_json::json!({
                    "purpose": "new",
                    "expires_at": invitation.expires_at.to_rfc3339(),
                })),
        );
        self.a().inner.audit.append_in(&mut tx, &events).await?;
        tx.commit().await?;
        Ok((self.a().get_user(&id).await?, invitation, request))
    }

    /// Resets a user's access (a lost authenticator, a forgotten password): clears both
    /// factors, ends every session and API token, and returns a new enrolment link. The
    /// administrator never learns or sets a password.
    pub async fn reset_access(&self, id: &UserId) -> Result<Invitation, AccountError> {
        let caller = self.caller();
        let object = format!("user:{id}");
        let user = match self.a().get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.a().deny(caller, Action::UserMfaReset, object, e).await,
        };
        if caller.is_user(id) {
            return self
                .a()
                .deny(
                    caller,
                    Action::UserMfaReset,
                    object,
                    AccountError::SelfChange,
                )
                .await;
        }
        let now = self.a().now();
        let mut tx = self.a().inner.store.begin().await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, totp_secret = NULL, totp_pending = NULL, totp_last_step = 0, updated_at = $2 WHERE id = $3",
        )
        .bind(NO_PASSWORD)
        .bind(now.micros())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        // Earlier links end: only the newest works.
        sqlx::query(
            "UPDATE enrolment_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(now.micros())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        let revoked = revoke_all(&mut tx, id, now).await?;
        let invitation = insert_link(&mut tx, id, "reset", caller, now).await?;
        let ev = caller
            .event(Action::UserMfaReset, object, Outcome::Allowed)
            .detail(serde_json::json!({
                "username": user.username.as_str(),
                "sessions_and_tokens_revoked": revoked,
                "password_cleared": true,
                "link_expires_at": invitation.expires_at.to_rfc3339(),
            }));
        self.a().inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(invitation)
    }

    /// Replaces a user's roles. Granting a privileged role the user does not hold yet
    /// (admin, auditor, linkage authority) takes a second administrator: the change is
    /// recorded as a request and waits (the operator's accounts duty applies it at
    /// once). Dropping roles applies at once.
    pub async fn change_roles(
        &self,
        id: &UserId,
        roles: &[Role],
    ) -> Result<RoleChange, AccountError> {
        let caller = self.caller();
        let user = self.a().get_user(id).await?;
        let grants_privilege = roles
            .iter()
            .any(|r| r.is_privileged() && !user.roles.contains(r));
        if !grants_privilege || caller.is_operator() {
            return self.set_roles(id, roles).await.map(RoleChange::Applied);
        }
        if caller.is_user(id) {
            return self
                .a()
                .deny(
                    caller,
                    Action::UserRoles,
                    format!("user:{id}"),
                    AccountError::SelfChange,
                )
                .await;
        }
        if roles.is_empty() {
            return self
                .a()
                .deny(
                    caller,
                    Action::UserRoles,
                    format!("user:{id}"),
                    AccountError::NoRoles,
                )
                .await;
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let now = self.a().now();
        let mut tx = self.a().inner.store.begin().await?;
        let rid = insert_request(&mut tx, id, &roles, caller, now).await?;
        let ev = request_event(caller, id, &rid, &roles, "requested");
        self.a().inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(RoleChange::Pending { request_id: rid })
    }

    /// The requests waiting for a second administrator.
    pub async fn pending_role_requests(&self) -> Result<Vec<RoleRequest>, AccountError> {
        let rows = sqlx::query(
            "SELECT r.id, r.user_id, u.username, r.roles, r.requested_by, r.requested_at \
             FROM role_requests r JOIN users u ON u.id = r.user_id WHERE r.status = 'pending' ORDER BY r.requested_at",
        )
        .fetch_all(self.a().inner.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let roles: String = r.try_get(3)?;
                Ok(RoleRequest {
                    id: r.try_get(0)?,
                    user_id: UserId::from_stored(r.try_get(1)?),
                    username: r.try_get(2)?,
                    roles: roles.split(',').filter_map(Role::parse).collect(),
                    requested_by: r.try_get(4)?,
                    requested_at: Timestamp(r.try_get(5)?),
                })
            })
            .collect()
    }

    /// Approves (`approve`) or rejects a pending request. The deciding administrator
    /// must be neither the one who asked nor the user concerned.
    pub async fn decide_role_request(
        &self,
        request_id: &str,
        approve: bool,
    ) -> Result<Option<User>, AccountError> {
        let caller = self.caller();
        let object = format!("role_request:{}", truncate(request_id, 64));
        let row = sqlx::query(
            "SELECT user_id, roles, requested_by, status FROM role_requests WHERE id = $1",
        )
        .bind(request_id)
        .fetch_optional(self.a().inner.store.pool())
        .await?;
        let Some(row) = row else {
            return self
                .a()
                .deny(
                    caller,
                    Action::UserRoleRequest,
                    object,
                    AccountError::Invalid("no such request".into()),
                )
                .await;
        };
        let user_id = UserId::from_stored(row.try_get(0)?);
        let roles: Vec<Role> = row
            .try_get::<String, _>(1)?
            .split(',')
            .filter_map(Role::parse)
            .collect();
        let requested_by: String = row.try_get(2)?;
        let status: String = row.try_get(3)?;
        if status != "pending" {
            return self
                .a()
                .deny(
                    caller,
                    Action::UserRoleRequest,
                    object,
                    AccountError::Invalid("already decided".into()),
                )
                .await;
        }
        if requested_by == caller.actor().id || caller.is_user(&user_id) {
            let denied = AccessDenied::Object("second_admin_required");
            return self
                .a()
                .deny(caller, Action::UserRoleRequest, object, denied.into())
                .await;
        }
        let now = self.a().now();
        let mut tx = self.a().inner.store.begin().await?;
        // Decided once: a concurrent second decision finds nothing pending.
        let decided = sqlx::query(
            "UPDATE role_requests SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'pending'",
        )
        .bind(if approve { "approved" } else { "rejected" })
        .bind(&caller.actor().id)
        .bind(now.micros())
        .bind(request_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if decided == 0 {
            drop(tx);
            return self
                .a()
                .deny(
                    caller,
                    Action::UserRoleRequest,
                    object,
                    AccountError::Invalid("already decided".into()),
                )
                .await;
        }
        let ev = request_event(
            caller,
            &user_id,
            request_id,
            &roles,
            if approve { "approved" } else { "rejected" },
        );
        if approve {
            take_guard(&mut tx, "roles").await?;
            let user = self.a().get_user(&user_id).await?;
            if user.roles.contains(&Role::Admin)
                && !roles.contains(&Role::Admin)
                && other_active_admins(&mut tx, &user_id).await? == 0
            {
                drop(tx);
                return self
                    .a()
                    .deny(
                        caller,
                        Action::UserRoles,
                        format!("user:{user_id}"),
                        AccountError::LastAdmin,
                    )
                    .await;
            }
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            insert_roles(&mut tx, &user_id, &roles, now, &caller.actor().id).await?;
            let roles_ev = caller
                .event(
                    Action::UserRoles,
                    format!("user:{user_id}"),
                    Outcome::Allowed,
                )
                .detail(serde_json::json!({
                    "username": user.username.as_str(),
                    "before": user.roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
                    "after": roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
                    "request": request_id,
                    "requested_by": requested_by,
                }));
            self.a()
                .inner
                .audit
                .append_in(&mut tx, &[ev, roles_ev])
                .await?;
        } else {
            self.a().inner.audit.append_in(&mut tx, &[ev]).await?;
        }
        tx.commit().await?;
        if approve {
            Ok(Some(self.a().get_user(&user_id).await?))
        } else {
            Ok(None)
        }
    }
}

impl Accounts {
    /// Uses an enrolment link: sets the user's own password (the policy applies) and
    /// returns a password-level session, with which they enrol an authenticator next.
    /// The link works once, until it expires; a wrong or used link says only that it
    /// does not work.
    pub async fn redeem_enrolment(
        &self,
        caller: &Caller,
        token: &str,
        password: &str,
        user_agent: &str,
    ) -> Result<SignIn, AccountError> {
        let hash = sha256_hex(token.as_bytes());
        let now = self.now();
        let row = sqlx::query(
            "SELECT user_id, expires_at, used_at FROM enrolment_links WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(self.inner.store.pool())
        .await?;
        let usable = row.as_ref().and_then(|r| {
            let expires: i64 = r.try_get(1).ok()?;
            let used: Option<i64> = r.try_get(2).ok()?;
            (used.is_none() && expires > now.micros())
                .then(|| r.try_get::<String, _>(0).ok())
                .flatten()
        });
        let Some(user_id) = usable.map(UserId::from_stored) else {
            return self
                .deny(
                    caller,
                    Action::UserEnrol,
                    "enrolment_link",
                    AccountError::Session("link_invalid"),
                )
                .await;
        };
        let user = self.get_user(&user_id).await?;
        let ucaller = as_user(caller, &user);
        let object = format!("user:{user_id}");
        if user.status != UserStatus::Active {
            return self
                .deny(&ucaller, Action::UserEnrol, object, AccountError::Disabled)
                .await;
        }
        if let Err(p) = renkei_core::password::check(password, user.username.as_str()) {
            return self
                .deny(&ucaller, Action::UserEnrol, object, p.into())
                .await;
        }
        let phc = self.hash(password).await?;
        let session = random_token();
        let mut tx = self.inner.store.begin().await?;
        // Used once: a second use (even concurrent) finds it used.
        let claimed = sqlx::query(
            "UPDATE enrolment_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now.micros())
        .bind(&hash)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            drop(tx);
            return self
                .deny(
                    caller,
                    Action::UserEnrol,
                    "enrolment_link",
                    AccountError::Session("link_invalid"),
                )
                .await;
        }
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(&phc)
            .bind(now.micros())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        crate::service::insert_session(
            &mut tx,
            &session,
            &user_id,
            "password",
            now,
            now.plus_secs(self.inner.sessions.absolute_timeout_secs),
            user_agent,
        )
        .await?;
        let ev = ucaller
            .event(Action::UserEnrol, object, Outcome::Allowed)
            .detail(serde_json::json!({ "password_set": true }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(SignIn {
            token: session,
            user: self.get_user(&user_id).await?,
        })
    }
}

async fn insert_link(
    tx: &mut renkei_store::Tx,
    id: &UserId,
    purpose: &str,
    caller: &Caller,
    now: Timestamp,
) -> Result<Invitation, AccountError> {
    let token = format!("rke_{}", random_token());
    let expires_at = now.plus_secs(LINK_TTL_SECS);
    sqlx::query(
        "INSERT INTO enrolment_links (token_hash, user_id, purpose, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(id.as_str())
    .bind(purpose)
    .bind(now.micros())
    .bind(expires_at.micros())
    .bind(&caller.actor().id)
    .execute(&mut **tx)
    .await?;
    Ok(Invitation { token, expires_at })
}

async fn insert_request(
    tx: &mut renkei_store::Tx,
    id: &UserId,
    roles: &[Role],
    caller: &Caller,
    now: Timestamp,
) -> Result<String, AccountError> {
    let rid = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO role_requests (id, user_id, roles, requested_by, requested_at, status) VALUES ($1, $2, $3, $4, $5, 'pending')",
    )
    .bind(&rid)
    .bind(id.as_str())
    .bind(roles.iter().map(|r| r.code()).collect::<Vec<_>>().join(","))
    .bind(&caller.actor().id)
    .bind(now.micros())
    .execute(&mut **tx)
    .await?;
    Ok(rid)
}

fn request_event(
    caller: &Caller,
    id: &UserId,
    request_id: &str,
    roles: &[Role],
    what: &str,
) -> renkei_core::AuditEvent {
    caller
        .event(
            Action::UserRoleRequest,
            format!("user:{id}"),
            Outcome::Allowed,
        )
        .detail(serde_json::json!({
            "request": request_id,
            "roles": roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
            "decision": what,
        }))
}
