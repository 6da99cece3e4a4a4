//! User administration: a capability that only [`Accounts::admin`] hands out, after
//! checking that the caller may manage users.

use crate::error::AccountError;
use crate::model::*;
use crate::service::{
    Accounts, USER_COLS, check_display_name, insert_roles, other_active_admins, revoke_all,
    take_guard, truncate, user_from_row,
};
use renkei_core::role::AccessDenied;
use renkei_core::{Action, Caller, Outcome, Permission, Role, UserId, Username};
use renkei_store::sqlx::{self, Row as _};

/// What an administrator (or the operator at the command line) may do to accounts.
/// Holding one proves the caller's permission was checked; every change through it is
/// audited under that caller.
pub struct UserAdmin {
    a: Accounts,
    caller: Caller,
}

impl Accounts {
    /// The administration capability for `caller`, who must hold the permission to
    /// manage users. A refusal is audited before the caller hears of it.
    pub async fn admin(&self, caller: &Caller) -> Result<UserAdmin, AccountError> {
        match caller.require(Permission::ManageUsers) {
            Ok(()) => Ok(UserAdmin {
                a: self.clone(),
                caller: caller.clone(),
            }),
            Err(d) => {
                self.deny(caller, Action::UserAdmin, "users", d.into())
                    .await
            }
        }
    }
}

impl UserAdmin {
    pub(crate) fn a(&self) -> &Accounts {
        &self.a
    }

    pub(crate) fn caller(&self) -> &Caller {
        &self.caller
    }

    /// One user by id. The read is audited.
    pub async fn user(&self, id: &UserId) -> Result<User, AccountError> {
        let u = self.a.get_user(id).await?;
        self.read(format!("user:{}", u.id), serde_json::Value::Null)
            .await?;
        Ok(u)
    }

    /// Records a read of account records (names, roles, status: personal data of
    /// staff, so who looked is on the record like any other read).
    async fn read(&self, object: String, detail: serde_json::Value) -> Result<(), AccountError> {
        let mut ev = self
            .caller
            .event(Action::UserRead, object, Outcome::Allowed);
        if !detail.is_null() {
            ev = ev.detail(detail);
        }
        self.a.inner.audit.record(ev).await?;
        Ok(())
    }

    // ----- users -------------------------------------------------------------------

    /// Creates a user with a password and roles: the operator's accounts duty only (the
    /// first administrator, a break-glass account, the demo). Administrators invite
    /// users instead ([`UserAdmin::invite`]) and never know their passwords. The user
    /// enrols a second factor at first sign-in.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        roles: &[Role],
    ) -> Result<User, AccountError> {
        let caller = &self.caller;
        let object = format!("username:{}", truncate(username, 64));
        if !caller.is_operator() {
            let denied = AccessDenied::Object("invite_instead");
            return self
                .a
                .deny(caller, Action::UserCreate, object, denied.into())
                .await;
        }
        let checked = (|| {
            let u = Username::parse(username)?;
            check_display_name(display_name)?;
            if roles.is_empty() {
                return Err(AccountError::NoRoles);
            }
            renkei_core::password::check(password, u.as_str())?;
            Ok(u)
        })();
        let username = match checked {
            Ok(u) => u,
            Err(e) => return self.a.deny(caller, Action::UserCreate, object, e).await,
        };
        let hash = self.a.hash(password).await?;
        let id = UserId::generate();
        let now = self.a.now();
        let mut tx = self.a.inner.store.begin().await?;
        let r = sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $5)",
        )
        .bind(id.as_str())
        .bind(username.as_str())
        .bind(display_name.trim())
        .bind(&hash)
        .bind(now.micros())
        .execute(&mut *tx)
        .await;
        if let Err(e) = r {
            drop(tx);
            if renkei_store::is_unique_violation(&e) {
                return self
                    .a
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
        let mut roles: Vec<Role> = roles.to_vec();
        roles.sort();
        roles.dedup();
        insert_roles(&mut tx, &id, &roles, now, &caller.actor().id).await?;
        let ev = caller
            .event(Action::UserCreate, format!("user:{id}"), Outcome::Allowed)
            .detail(serde_json::json!({
                "username": username.as_str(),
                "roles": roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
            }));
        self.a.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.a.get_user(&id).await
    }

    /// All users, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, AccountError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
            .fetch_all(self.a.inner.store.pool())
            .await?;
        let role_rows = sqlx::query("SELECT user_id, role FROM user_roles")
            .fetch_all(self.a.inner.store.pool())
            .await?;
        let mut users = rows
            .iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        for r in role_rows {
            let uid: String = r.try_get(0)?;
            let role: String = r.try_get(1)?;
            if let (Some(u), Some(role)) = (
                users.iter_mut().find(|u| u.id.as_str() == uid),
                Role::parse(&role),
            ) {
                u.roles.push(role);
            }
        }
        for u in &mut users {
            u.roles.sort();
        }
        self.read(
            "users".to_owned(),
            serde_json::json!({ "users": users.len() }),
        )
        .await?;
        Ok(users)
    }

    /// One user by username.
    pub async fn find_user(&self, username: &str) -> Result<User, AccountError> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.a.inner.store.pool())
            .await?;
        let id = id.ok_or(AccountError::NoSuchUser)?;
        self.user(&UserId::from_stored(id)).await
    }

    /// Disables or re-enables a user. Disabling revokes every session and API token.
    pub async fn set_status(&self, id: &UserId, status: UserStatus) -> Result<User, AccountError> {
        let caller = &self.caller;
        let action = if status == UserStatus::Disabled {
            Action::UserDisable
        } else {
            Action::UserEnable
        };
        let object = format!("user:{id}");
        let user = match self.a.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.a.deny(caller, action, object, e).await,
        };
        if caller.is_user(id) {
            return self
                .a
                .deny(caller, action, object, AccountError::SelfChange)
                .await;
        }
        let now = self.a.now();
        let mut tx = self.a.inner.store.begin().await?;
        take_guard(&mut tx, "roles").await?;
        if status == UserStatus::Disabled
            && user.roles.contains(&Role::Admin)
            && other_active_admins(&mut tx, id).await? == 0
        {
            drop(tx);
            return self
                .a
                .deny(caller, action, object, AccountError::LastAdmin)
                .await;
        }
        sqlx::query("UPDATE users SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status.code())
            .bind(now.micros())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let mut revoked = 0;
        if status == UserStatus::Disabled {
            revoked = revoke_all(&mut tx, id, now).await?;
        }
        let ev = caller
            .event(action, object, Outcome::Allowed)
            .detail(serde_json::json!({ "username": user.username.as_str(), "sessions_and_tokens_revoked": revoked }));
        self.a.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.a.get_user(id).await
    }

    /// Replaces a user's roles. Granting a privileged role the user does not hold is
    /// the operator's alone here; administrators go through
    /// [`UserAdmin::change_roles`], which asks a second administrator.
    pub async fn set_roles(&self, id: &UserId, roles: &[Role]) -> Result<User, AccountError> {
        let caller = &self.caller;
        let object = format!("user:{id}");
        let user = match self.a.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.a.deny(caller, Action::UserRoles, object, e).await,
        };
        if caller.is_user(id) {
            return self
                .a
                .deny(caller, Action::UserRoles, object, AccountError::SelfChange)
                .await;
        }
        if roles.is_empty() {
            return self
                .a
                .deny(caller, Action::UserRoles, object, AccountError::NoRoles)
                .await;
        }
        if !caller.is_operator()
            && roles
                .iter()
                .any(|r| r.is_privileged() && !user.roles.contains(r))
        {
            let denied = AccessDenied::Object("second_admin_required");
            return self
                .a
                .deny(caller, Action::UserRoles, object, denied.into())
                .await;
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let now = self.a.now();
        let mut tx = self.a.inner.store.begin().await?;
        take_guard(&mut tx, "roles").await?;
        if user.roles.contains(&Role::Admin)
            && !roles.contains(&Role::Admin)
            && other_active_admins(&mut tx, id).await? == 0
        {
            drop(tx);
            return self
                .a
                .deny(caller, Action::UserRoles, object, AccountError::LastAdmin)
                .await;
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        insert_roles(&mut tx, id, &roles, now, &caller.actor().id).await?;
        // Sessions keep working; roles are read afresh on every request.
        let ev = caller
            .event(Action::UserRoles, object, Outcome::Allowed)
            .detail(serde_json::json!({
                "username": user.username.as_str(),
                "before": user.roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
                "after": roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
            }));
        self.a.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.a.get_user(id).await
    }

    /// Sets a new password for a user (operator reset) and ends all their sessions.
    ///
    /// The operator's accounts duty only (a break-glass reset at the host); an
    /// administrator resets access instead, and the user sets their own password.
    pub async fn set_password(&self, id: &UserId, password: &str) -> Result<(), AccountError> {
        let caller = &self.caller;
        if !caller.is_operator() {
            let denied = AccessDenied::Object("reset_access_instead");
            return self
                .a
                .deny(
                    caller,
                    Action::UserPassword,
                    format!("user:{id}"),
                    denied.into(),
                )
                .await;
        }
        self.a.replace_password(caller, id, password, None).await
    }

    /// Enrols a known TOTP secret directly (demo accounts, whose secrets are printed so
    /// the person trying the demo can add them to an authenticator app).
    ///
    /// Only the operator at the command line may do this, and only for an account that
    /// has never been used (no authenticator, never signed in): anyone else, or on any
    /// other account, would take over a second factor that is not theirs.
    pub async fn enrol_known_secret(&self, id: &UserId, secret: &[u8]) -> Result<(), AccountError> {
        let caller = &self.caller;
        let used: Option<(Option<String>, i64)> = sqlx::query_as(
            "SELECT totp_secret, (SELECT COUNT(*) FROM sessions s WHERE s.user_id = users.id) FROM users WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.a.inner.store.pool())
        .await?;
        let fresh = used.is_some_and(|(secret, sessions)| secret.is_none() && sessions == 0);
        if !caller.is_operator() || !fresh {
            let denied = AccessDenied::Object(if caller.is_operator() {
                "account_in_use"
            } else {
                "operator_only"
            });
            return self
                .a
                .deny(
                    caller,
                    Action::MfaEnrol,
                    format!("user:{id}"),
                    denied.into(),
                )
                .await;
        }
        let now = self.a.now();
        let mut tx = self.a.inner.store.begin().await?;
        sqlx::query("UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = 0, updated_at = $2 WHERE id = $3")
            .bind(self.a.inner.sealer.seal(secret, &format!("totp:{id}")))
            .bind(now.micros())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let ev = caller
            .event(Action::MfaEnrol, format!("user:{id}"), Outcome::Allowed)
            .detail(serde_json::json!({ "by": "operator" }));
        self.a.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(())
    }
}
