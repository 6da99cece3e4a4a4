//! The account operations.

use crate::error::AccountError;
use crate::model::*;
use crate::totp::{matching_step, totp_for};
use renkei_audit::Audit;
use renkei_core::role::AuthLevel;
use renkei_core::time::SharedClock;
use renkei_core::{Actor, AuditEvent, Outcome, Role, Timestamp, UserId, Username};
use renkei_crypto::{PasswordHasher, PasswordParams, Sealer, random_token, sha256_hex};
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Store, Tx};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Who is acting and on behalf of which request: every operation is attributed.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The actor.
    pub actor: Actor,
    /// Request or invocation id.
    pub request_id: String,
}

impl Ctx {
    /// An operator at the command line.
    pub fn cli(who: &str) -> Self {
        Self {
            actor: Actor::cli(who),
            request_id: format!("cli-{}", uuid::Uuid::now_v7()),
        }
    }
    /// The platform itself.
    pub fn system() -> Self {
        Self {
            actor: Actor::system(),
            request_id: format!("sys-{}", uuid::Uuid::now_v7()),
        }
    }
    /// An event by this actor.
    pub fn event(&self, action: &str, object: impl Into<String>, outcome: Outcome) -> AuditEvent {
        AuditEvent::new(self.actor.clone(), action, object, outcome)
            .request(self.request_id.clone())
    }
    fn as_user(&self, u: &User) -> Ctx {
        Ctx {
            actor: Actor::user(&u.id, u.username.as_str(), &u.roles),
            request_id: self.request_id.clone(),
        }
    }
}

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    audit: Audit,
    hasher: PasswordHasher,
    hashing: tokio::sync::Semaphore,
    claimed: renkei_crypto::Macer,
    sealer: Sealer,
    clock: SharedClock,
    sessions: SessionPolicy,
    lockout: LockoutPolicy,
}

/// A claimed attempt: its number, and the lock it set (0 = none).
#[derive(Clone, Copy)]
struct Attempt {
    n: i64,
    locked_for_secs: i64,
}

/// How long a sign-in waits for a free hashing slot before the caller is told to retry.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Seconds between writes of a session's `last_seen_at` (so reading a page is not a write).
const TOUCH_EVERY_SECS: i64 = 60;

const USER_COLS: &str =
    "id, username, display_name, status, totp_secret, locked_until, failed_attempts, created_at";

impl Accounts {
    /// The service over `store`, recording to `audit`.
    pub fn new(
        store: Store,
        audit: Audit,
        keys: &renkei_crypto::KeyStore,
        clock: SharedClock,
        password: PasswordParams,
        sessions: SessionPolicy,
        lockout: LockoutPolicy,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                audit,
                hasher: PasswordHasher::new(password),
                hashing: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, |n| n.get()),
                ),
                claimed: keys.macer(renkei_crypto::Purpose::ClaimedName),
                sealer: Sealer::new(keys),
                clock,
                sessions,
                lockout,
            }),
        }
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    async fn deny<T>(
        &self,
        ctx: &Ctx,
        action: &str,
        object: impl Into<String>,
        err: AccountError,
    ) -> Result<T, AccountError> {
        if err.is_client_error() {
            self.inner
                .audit
                .record(ctx.event(action, object, Outcome::denied(err.code())))
                .await?;
        }
        Err(err)
    }

    // ----- users -------------------------------------------------------------------

    /// Creates a user with a password and roles. The user enrols a second factor at
    /// first sign-in.
    pub async fn create_user(
        &self,
        ctx: &Ctx,
        username: &str,
        display_name: &str,
        password: &str,
        roles: &[Role],
    ) -> Result<User, AccountError> {
        let object = format!("username:{}", truncate(username, 64));
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
            Err(e) => return self.deny(ctx, "user.create", object, e).await,
        };
        let hash = self.hash(password).await?;
        let id = UserId::generate();
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
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
                    .deny(ctx, "user.create", object, AccountError::DuplicateUsername)
                    .await;
            }
            return Err(e.into());
        }
        let mut roles: Vec<Role> = roles.to_vec();
        roles.sort();
        roles.dedup();
        insert_roles(&mut tx, &id, &roles, now, &ctx.actor.id).await?;
        let ev = ctx
            .event("user.create", format!("user:{id}"), Outcome::Allowed)
            .detail(serde_json::json!({
                "username": username.as_str(),
                "roles": roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
            }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.get_user(&id).await
    }

    /// All users, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, AccountError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
            .fetch_all(self.inner.store.pool())
            .await?;
        let role_rows = sqlx::query("SELECT user_id, role FROM user_roles")
            .fetch_all(self.inner.store.pool())
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
        Ok(users)
    }

    /// One user by id.
    pub async fn get_user(&self, id: &UserId) -> Result<User, AccountError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or(AccountError::NoSuchUser)?;
        let mut u = user_from_row(&row)?;
        u.roles = self.roles_of(id).await?;
        Ok(u)
    }

    /// One user by username.
    pub async fn find_user(&self, username: &str) -> Result<User, AccountError> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.inner.store.pool())
            .await?;
        let id = id.ok_or(AccountError::NoSuchUser)?;
        self.get_user(&UserId::from_stored(id)).await
    }

    async fn roles_of(&self, id: &UserId) -> Result<Vec<Role>, AccountError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1")
                .bind(id.as_str())
                .fetch_all(self.inner.store.pool())
                .await?;
        let mut roles: Vec<Role> = rows.iter().filter_map(|r| Role::parse(r)).collect();
        roles.sort();
        Ok(roles)
    }

    /// Disables or re-enables a user. Disabling revokes every session and API token.
    pub async fn set_status(
        &self,
        ctx: &Ctx,
        id: &UserId,
        status: UserStatus,
    ) -> Result<User, AccountError> {
        let action = if status == UserStatus::Disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        let object = format!("user:{id}");
        let user = match self.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.deny(ctx, action, object, e).await,
        };
        if is_self(ctx, id) {
            return self
                .deny(ctx, action, object, AccountError::SelfChange)
                .await;
        }
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        take_guard(&mut tx, "roles").await?;
        if status == UserStatus::Disabled
            && user.roles.contains(&Role::Admin)
            && other_active_admins(&mut tx, id).await? == 0
        {
            drop(tx);
            return self
                .deny(ctx, action, object, AccountError::LastAdmin)
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
        let ev = ctx
            .event(action, object, Outcome::Allowed)
            .detail(serde_json::json!({ "username": user.username.as_str(), "sessions_and_tokens_revoked": revoked }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.get_user(id).await
    }

    /// Replaces a user's roles.
    pub async fn set_roles(
        &self,
        ctx: &Ctx,
        id: &UserId,
        roles: &[Role],
    ) -> Result<User, AccountError> {
        let object = format!("user:{id}");
        let user = match self.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.deny(ctx, "user.roles", object, e).await,
        };
        if is_self(ctx, id) {
            return self
                .deny(ctx, "user.roles", object, AccountError::SelfChange)
                .await;
        }
        if roles.is_empty() {
            return self
                .deny(ctx, "user.roles", object, AccountError::NoRoles)
                .await;
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        take_guard(&mut tx, "roles").await?;
        if user.roles.contains(&Role::Admin)
            && !roles.contains(&Role::Admin)
            && other_active_admins(&mut tx, id).await? == 0
        {
            drop(tx);
            return self
                .deny(ctx, "user.roles", object, AccountError::LastAdmin)
                .await;
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        insert_roles(&mut tx, id, &roles, now, &ctx.actor.id).await?;
        // Sessions keep working; roles are read afresh on every request.
        let ev = ctx
            .event("user.roles", object, Outcome::Allowed)
            .detail(serde_json::json!({
                "username": user.username.as_str(),
                "before": user.roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
                "after": roles.iter().map(|r| r.code()).collect::<Vec<_>>(),
            }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.get_user(id).await
    }

    /// Clears a user's authenticator (lost phone) and ends their sessions; they enrol
    /// again at next sign-in.
    pub async fn reset_mfa(&self, ctx: &Ctx, id: &UserId) -> Result<User, AccountError> {
        let object = format!("user:{id}");
        let user = match self.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.deny(ctx, "user.mfa_reset", object, e).await,
        };
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        sqlx::query("UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0, updated_at = $1 WHERE id = $2")
            .bind(now.micros())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let revoked = revoke_all(&mut tx, id, now).await?;
        let ev = ctx
            .event("user.mfa_reset", object, Outcome::Allowed)
            .detail(serde_json::json!({ "username": user.username.as_str(), "sessions_and_tokens_revoked": revoked }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        self.get_user(id).await
    }

    /// Sets a new password for a user (operator reset) and ends all their sessions.
    pub async fn set_password(
        &self,
        ctx: &Ctx,
        id: &UserId,
        password: &str,
    ) -> Result<(), AccountError> {
        self.replace_password(ctx, id, password, None).await
    }

    /// A user changes their own password: the current one must be right (a wrong one
    /// counts towards lockout). Their other sessions end; this one continues.
    pub async fn change_own_password(
        &self,
        ctx: &Ctx,
        session: &Session,
        current: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let user = &session.user;
        let uctx = ctx.as_user(user);
        let attempt = self.claim_attempt(&uctx, user, "user.password").await?;
        let phc: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.id.as_str())
            .fetch_one(self.inner.store.pool())
            .await?;
        if !self.verify_password(current, Some(phc)).await? {
            return Err(self
                .fail(
                    &uctx,
                    user,
                    "user.password",
                    attempt,
                    AccountError::BadCredentials,
                )
                .await?);
        }
        self.release_attempt(user, attempt).await?;
        self.replace_password(&uctx, &user.id, new, Some(&session.token_hash))
            .await
    }

    async fn replace_password(
        &self,
        ctx: &Ctx,
        id: &UserId,
        password: &str,
        keep_session: Option<&str>,
    ) -> Result<(), AccountError> {
        let object = format!("user:{id}");
        let user = match self.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.deny(ctx, "user.password", object, e).await,
        };
        if let Err(p) = renkei_core::password::check(password, user.username.as_str()) {
            return self.deny(ctx, "user.password", object, p.into()).await;
        }
        let hash = self.hash(password).await?;
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, failed_attempts = 0, locked_until = 0, updated_at = $2 WHERE id = $3")
            .bind(&hash)
            .bind(now.micros())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND token_hash <> $3")
            .bind(now.micros())
            .bind(id.as_str())
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // API tokens made under the old password end too: whoever had it may have made some.
        let tokens = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now.micros())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ev = ctx
            .event("user.password", object, Outcome::Allowed)
            .detail(serde_json::json!({ "sessions_ended": ended, "api_tokens_revoked": tokens }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A permit to run one argon2 computation. Each takes the configured memory (64 MiB
    /// by default), so at most one per core runs at a time; a caller that cannot get a
    /// permit within [`HASH_WAIT`] is told the service is busy, instead of the server
    /// running out of memory under a flood of sign-in attempts.
    async fn hash_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AccountError> {
        match tokio::time::timeout(HASH_WAIT, self.inner.hashing.acquire()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(AccountError::Busy),
        }
    }

    async fn hash(&self, password: &str) -> Result<String, AccountError> {
        let _permit = self.hash_permit().await?;
        let hasher = self.inner.hasher.clone();
        let pw = Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || hasher.hash(&pw))
            .await
            .map_err(|e| AccountError::Invalid(format!("hashing task failed: {e}")))?
            .map_err(Into::into)
    }

    async fn verify_password(
        &self,
        password: &str,
        phc: Option<String>,
    ) -> Result<bool, AccountError> {
        let _permit = self.hash_permit().await?;
        let hasher = self.inner.hasher.clone();
        let pw = Zeroizing::new(password.to_owned());
        Ok(tokio::task::spawn_blocking(move || match phc {
            Some(h) => hasher.verify(&pw, &h),
            None => {
                hasher.dummy_verify(&pw);
                false
            }
        })
        .await
        .unwrap_or(false))
    }

    // ----- sign-in -----------------------------------------------------------------

    /// The password step. On success returns a password-level session; the caller then
    /// sends the user to enrol or to the TOTP challenge.
    pub async fn sign_in_password(
        &self,
        ctx: &Ctx,
        username: &str,
        password: &str,
        user_agent: &str,
    ) -> Result<SignIn, AccountError> {
        // What was typed may be a password pasted in the wrong box: the log gets a keyed
        // digest of it (enough to see repeated attempts), never the text.
        let claimed = format!(
            "unknown:{}",
            &hex_lower(&self.inner.claimed.mac(username.trim().as_bytes()))[..16]
        );
        let anon = Ctx {
            actor: Actor::anonymous(Some(&claimed)),
            request_id: ctx.request_id.clone(),
        };
        let row = match Username::parse(username.trim()) {
            Ok(u) => {
                sqlx::query("SELECT id, password_hash FROM users WHERE username = $1")
                    .bind(u.as_str())
                    .fetch_optional(self.inner.store.pool())
                    .await?
            }
            Err(_) => None,
        };
        let Some(row) = row else {
            // Same work as a real check, so timing does not reveal unknown usernames.
            self.verify_password(password, None).await?;
            return self
                .deny(
                    &anon,
                    "auth.password",
                    "user:?",
                    AccountError::BadCredentials,
                )
                .await;
        };
        let id = UserId::from_stored(row.try_get(0)?);
        let phc: String = row.try_get(1)?;
        let user = self.get_user(&id).await?;
        let uctx = ctx.as_user(&user);
        let object = format!("user:{id}");
        let now = self.now();
        let attempt = self.claim_attempt(&uctx, &user, "auth.password").await?;
        if !self.verify_password(password, Some(phc)).await? {
            return Err(self
                .fail(
                    &uctx,
                    &user,
                    "auth.password",
                    attempt,
                    AccountError::BadCredentials,
                )
                .await?);
        }
        // The password was right; the attempt counts again only if the code is wrong.
        self.release_attempt(&user, attempt).await?;
        if user.status == UserStatus::Disabled {
            return self
                .deny(&uctx, "auth.password", object, AccountError::Disabled)
                .await;
        }
        let token = random_token();
        let mut tx = self.inner.store.begin().await?;
        insert_session(
            &mut tx,
            &token,
            &id,
            "password",
            now,
            now.plus_secs(self.inner.sessions.absolute_timeout_secs),
            user_agent,
        )
        .await?;
        let ev = uctx
            .event("auth.password", object, Outcome::Allowed)
            .detail(serde_json::json!({ "mfa_enrolled": user.mfa_enrolled }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(SignIn { token, user })
    }

    /// Claims an attempt before a secret is checked. In one transaction: refuse (audited)
    /// if the account is locked; count the attempt; and if this attempt would trigger a
    /// lock when it fails, set the lock now, so parallel guesses cannot all start before
    /// the failures are known. A right secret gives the attempt back
    /// ([`Self::release_attempt`]).
    async fn claim_attempt(
        &self,
        ctx: &Ctx,
        user: &User,
        action: &str,
    ) -> Result<Attempt, AccountError> {
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        let n: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET failed_attempts = failed_attempts + 1 WHERE id = $1 AND locked_until <= $2 RETURNING failed_attempts",
        )
        .bind(user.id.as_str())
        .bind(now.micros())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(n) = n else {
            let until: i64 = sqlx::query_scalar("SELECT locked_until FROM users WHERE id = $1")
                .bind(user.id.as_str())
                .fetch_one(&mut *tx)
                .await?;
            drop(tx);
            let err = AccountError::Locked {
                until: Timestamp(until),
            };
            return self
                .deny(ctx, action, format!("user:{}", user.id), err)
                .await;
        };
        let delay = self.inner.lockout.delay_secs(n);
        if delay > 0 {
            sqlx::query("UPDATE users SET locked_until = $1 WHERE id = $2")
                .bind(now.plus_secs(delay).micros())
                .bind(user.id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Attempt {
            n,
            locked_for_secs: delay,
        })
    }

    /// Gives back a claimed attempt whose secret was right (and lifts the lock it set).
    async fn release_attempt(&self, user: &User, attempt: Attempt) -> Result<(), AccountError> {
        let sql = if attempt.locked_for_secs > 0 {
            "UPDATE users SET failed_attempts = failed_attempts - 1, locked_until = 0 WHERE id = $1 AND failed_attempts > 0"
        } else {
            "UPDATE users SET failed_attempts = failed_attempts - 1 WHERE id = $1 AND failed_attempts > 0"
        };
        sqlx::query(sql)
            .bind(user.id.as_str())
            .execute(self.inner.store.pool())
            .await?;
        Ok(())
    }

    /// Records a failed attempt (counted, and any lock set, by [`Self::claim_attempt`]).
    /// Returns the error to give.
    async fn fail(
        &self,
        ctx: &Ctx,
        user: &User,
        action: &str,
        attempt: Attempt,
        err: AccountError,
    ) -> Result<AccountError, AccountError> {
        let (failures, delay) = (attempt.n, attempt.locked_for_secs);
        let mut tx = self.inner.store.begin().await?;
        let ev = ctx
            .event(
                action,
                format!("user:{}", user.id),
                Outcome::denied(err.code()),
            )
            .detail(serde_json::json!({ "failed_attempts": failures, "locked_for_secs": delay }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        if delay > 0 {
            tracing::info!(user = %user.username, failures, delay, "account locked after failed attempts");
        }
        Ok(err)
    }

    /// Starts (or resumes) authenticator enrolment for the session's user.
    pub async fn begin_enrolment(
        &self,
        ctx: &Ctx,
        session: &Session,
    ) -> Result<Enrolment, AccountError> {
        let user = &session.user;
        let uctx = ctx.as_user(user);
        if user.mfa_enrolled {
            return self
                .deny(
                    &uctx,
                    "mfa.enrol",
                    format!("user:{}", user.id),
                    AccountError::MfaAlreadyEnrolled,
                )
                .await;
        }
        let pending: Option<String> =
            sqlx::query_scalar("SELECT totp_pending FROM users WHERE id = $1")
                .bind(user.id.as_str())
                .fetch_one(self.inner.store.pool())
                .await?;
        let context = format!("totp-pending:{}", user.id);
        let secret = match pending.and_then(|p| self.inner.sealer.open(&p, &context).ok()) {
            Some(s) => s,
            None => {
                let s = Zeroizing::new(renkei_crypto::random_bytes::<20>().to_vec());
                let mut tx = self.inner.store.begin().await?;
                sqlx::query("UPDATE users SET totp_pending = $1 WHERE id = $2")
                    .bind(self.inner.sealer.seal(&s, &context))
                    .bind(user.id.as_str())
                    .execute(&mut *tx)
                    .await?;
                let ev = uctx.event(
                    "mfa.enrol.begin",
                    format!("user:{}", user.id),
                    Outcome::Allowed,
                );
                self.inner.audit.append_in(&mut tx, &[ev]).await?;
                tx.commit().await?;
                s
            }
        };
        let totp = totp_for(&secret, user.username.as_str())
            .ok_or_else(|| AccountError::Invalid("totp".into()))?;
        Ok(Enrolment {
            secret_base32: totp.get_secret_base32(),
            otpauth_url: totp.get_url(),
        })
    }

    /// Completes enrolment with a first code. Returns a new, fully signed-in session
    /// token (the old one is revoked).
    pub async fn confirm_enrolment(
        &self,
        ctx: &Ctx,
        session: &Session,
        code: &str,
    ) -> Result<String, AccountError> {
        let user = &session.user;
        let uctx = ctx.as_user(user);
        let object = format!("user:{}", user.id);
        if user.mfa_enrolled {
            return self
                .deny(&uctx, "mfa.enrol", object, AccountError::MfaAlreadyEnrolled)
                .await;
        }
        let attempt = self.claim_attempt(&uctx, user, "mfa.enrol").await?;
        let pending: Option<String> =
            sqlx::query_scalar("SELECT totp_pending FROM users WHERE id = $1")
                .bind(user.id.as_str())
                .fetch_one(self.inner.store.pool())
                .await?;
        let Some(sealed) = pending else {
            return self
                .deny(&uctx, "mfa.enrol", object, AccountError::NoEnrolment)
                .await;
        };
        let opened = self
            .inner
            .sealer
            .open(&sealed, &format!("totp-pending:{}", user.id))
            .ok();
        let Some(totp) = opened
            .as_ref()
            .and_then(|s| totp_for(s, user.username.as_str()))
        else {
            return self
                .deny(&uctx, "mfa.enrol", object, AccountError::NoEnrolment)
                .await;
        };
        let secret = opened.unwrap_or_default();
        let now = self.now();
        let Some(step) = matching_step(&totp, code, now.secs().max(0) as u64) else {
            return Err(self
                .fail(&uctx, user, "mfa.enrol", attempt, AccountError::BadTotp)
                .await?);
        };
        let mut tx = self.inner.store.begin().await?;
        sqlx::query(
            "UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2, failed_attempts = 0, locked_until = 0, updated_at = $3 WHERE id = $4",
        )
        .bind(self.inner.sealer.seal(&secret, &format!("totp:{}", user.id)))
        .bind(step as i64)
        .bind(now.micros())
        .bind(user.id.as_str())
        .execute(&mut *tx)
        .await?;
        let token = rotate_to_full(
            &mut tx,
            session,
            now,
            self.inner.sessions.absolute_timeout_secs,
        )
        .await?;
        let ev = uctx.event("mfa.enrol", object, Outcome::Allowed);
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The second step of sign-in. Returns a new, fully signed-in session token.
    pub async fn verify_mfa(
        &self,
        ctx: &Ctx,
        session: &Session,
        code: &str,
    ) -> Result<String, AccountError> {
        let user = &session.user;
        let uctx = ctx.as_user(user);
        let object = format!("user:{}", user.id);
        if !user.mfa_enrolled {
            return self
                .deny(&uctx, "auth.mfa", object, AccountError::MfaNotEnrolled)
                .await;
        }
        let now = self.now();
        let attempt = self.claim_attempt(&uctx, user, "auth.mfa").await?;
        let row = sqlx::query("SELECT totp_secret, totp_last_step FROM users WHERE id = $1")
            .bind(user.id.as_str())
            .fetch_one(self.inner.store.pool())
            .await?;
        let sealed: Option<String> = row.try_get(0)?;
        let last_step: i64 = row.try_get(1)?;
        let totp = sealed
            .and_then(|s| {
                self.inner
                    .sealer
                    .open(&s, &format!("totp:{}", user.id))
                    .ok()
            })
            .and_then(|secret| totp_for(&secret, user.username.as_str()));
        let Some(totp) = totp else {
            return self
                .deny(&uctx, "auth.mfa", object, AccountError::MfaNotEnrolled)
                .await;
        };
        let Some(step) = matching_step(&totp, code, now.secs().max(0) as u64) else {
            return Err(self
                .fail(&uctx, user, "auth.mfa", attempt, AccountError::BadTotp)
                .await?);
        };
        let step = step as i64;
        if step <= last_step {
            return Err(self
                .fail(&uctx, user, "auth.mfa", attempt, AccountError::TotpReplayed)
                .await?);
        }
        let mut tx = self.inner.store.begin().await?;
        // The condition makes two concurrent uses of one code race safely: one wins.
        let won = sqlx::query(
            "UPDATE users SET totp_last_step = $1, failed_attempts = 0, locked_until = 0 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(user.id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if won != 1 {
            drop(tx);
            return Err(self
                .fail(&uctx, user, "auth.mfa", attempt, AccountError::TotpReplayed)
                .await?);
        }
        let token = rotate_to_full(
            &mut tx,
            session,
            now,
            self.inner.sessions.absolute_timeout_secs,
        )
        .await?;
        let ev = uctx.event("auth.mfa", object, Outcome::Allowed);
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Resolves a session cookie. Fails if unknown, revoked, expired (idle, absolute, or
    /// a second factor not given in time) or if the user was disabled.
    pub async fn resolve_session(&self, token: &str) -> Result<Session, AccountError> {
        let hash = sha256_hex(token.as_bytes());
        let row = sqlx::query("SELECT user_id, level, created_at, last_seen_at, expires_at, revoked_at FROM sessions WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or(AccountError::Session("unknown"))?;
        let user_id = UserId::from_stored(row.try_get(0)?);
        let level: String = row.try_get(1)?;
        let created = Timestamp(row.try_get(2)?);
        let last_seen = Timestamp(row.try_get(3)?);
        let expires = Timestamp(row.try_get(4)?);
        let revoked: Option<i64> = row.try_get(5)?;
        let now = self.now();
        let p = self.inner.sessions;
        if revoked.is_some() {
            return Err(AccountError::Session("revoked"));
        }
        if now >= expires {
            return Err(AccountError::Session("expired"));
        }
        let level = if level == "full" {
            AuthLevel::Full
        } else {
            AuthLevel::PasswordOnly
        };
        if level == AuthLevel::PasswordOnly && now.secs() - created.secs() > p.mfa_timeout_secs {
            return Err(AccountError::Session("expired"));
        }
        if now.secs() - last_seen.secs() > p.idle_timeout_secs {
            return Err(AccountError::Session("expired_idle"));
        }
        let user = self.get_user(&user_id).await?;
        if user.status != UserStatus::Active {
            return Err(AccountError::Session("revoked"));
        }
        if now.secs() - last_seen.secs() >= TOUCH_EVERY_SECS {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now.micros())
                .bind(&hash)
                .execute(self.inner.store.pool())
                .await?;
        }
        Ok(Session {
            token_hash: hash,
            user,
            level,
            via: Via::Cookie,
            expires_at: expires,
        })
    }

    /// Ends a session.
    pub async fn sign_out(&self, ctx: &Ctx, session: &Session) -> Result<(), AccountError> {
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now.micros())
        .bind(&session.token_hash)
        .execute(&mut *tx)
        .await?;
        let ev = ctx.as_user(&session.user).event(
            "auth.signout",
            format!("user:{}", session.user.id),
            Outcome::Allowed,
        );
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(())
    }

    // ----- API tokens --------------------------------------------------------------

    /// Creates an API token for `user`. Returns its description and its value, which is
    /// shown once and never stored.
    pub async fn create_api_token(
        &self,
        ctx: &Ctx,
        user: &User,
        name: &str,
        ttl_days: i64,
    ) -> Result<(ApiTokenInfo, String), AccountError> {
        let object = format!("user:{}", user.id);
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return self
                .deny(
                    ctx,
                    "token.create",
                    object,
                    AccountError::Invalid("a token name has 1 to 100 characters".into()),
                )
                .await;
        }
        if !(1..=365).contains(&ttl_days) {
            return self
                .deny(
                    ctx,
                    "token.create",
                    object,
                    AccountError::Invalid("a token lives 1 to 365 days".into()),
                )
                .await;
        }
        let value = format!("rkt_{}", random_token());
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.now();
        let info = ApiTokenInfo {
            id: id.clone(),
            name: name.to_owned(),
            created_at: now,
            expires_at: now.plus_secs(ttl_days * 86_400),
            revoked_at: None,
            last_used_at: None,
        };
        let mut tx = self.inner.store.begin().await?;
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(user.id.as_str())
            .bind(name)
            .bind(sha256_hex(value.as_bytes()))
            .bind(now.micros())
            .bind(info.expires_at.micros())
            .execute(&mut *tx)
            .await?;
        let ev = ctx
            .event("token.create", object, Outcome::Allowed)
            .detail(serde_json::json!({ "token_id": id, "name": name, "expires_at": info.expires_at.to_rfc3339() }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok((info, value))
    }

    /// A user's API tokens, newest first.
    pub async fn list_api_tokens(&self, user: &UserId) -> Result<Vec<ApiTokenInfo>, AccountError> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, expires_at, revoked_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC",
        )
        .bind(user.as_str())
        .fetch_all(self.inner.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiTokenInfo {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    created_at: Timestamp(r.try_get(2)?),
                    expires_at: Timestamp(r.try_get(3)?),
                    revoked_at: r.try_get::<Option<i64>, _>(4)?.map(Timestamp),
                    last_used_at: r.try_get::<Option<i64>, _>(5)?.map(Timestamp),
                })
            })
            .collect()
    }

    /// Revokes one of `user`'s tokens.
    pub async fn revoke_api_token(
        &self,
        ctx: &Ctx,
        user: &UserId,
        token_id: &str,
    ) -> Result<(), AccountError> {
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
            .bind(now.micros())
            .bind(token_id)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            drop(tx);
            return self
                .deny(
                    ctx,
                    "token.revoke",
                    format!("token:{}", truncate(token_id, 64)),
                    AccountError::Invalid("no such active token".into()),
                )
                .await;
        }
        let ev = ctx.event(
            "token.revoke",
            format!("token:{token_id}"),
            Outcome::Allowed,
        );
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolves an API bearer token to a full-level session.
    pub async fn resolve_api_token(&self, value: &str) -> Result<Session, AccountError> {
        let hash = sha256_hex(value.as_bytes());
        let row = sqlx::query("SELECT id, user_id, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or(AccountError::Session("unknown"))?;
        let id: String = row.try_get(0)?;
        let user_id = UserId::from_stored(row.try_get(1)?);
        let expires = Timestamp(row.try_get(2)?);
        let revoked: Option<i64> = row.try_get(3)?;
        let last_used: Option<i64> = row.try_get(4)?;
        let now = self.now();
        if revoked.is_some() {
            return Err(AccountError::Session("revoked"));
        }
        if now >= expires {
            return Err(AccountError::Session("expired"));
        }
        let user = self.get_user(&user_id).await?;
        if user.status != UserStatus::Active {
            return Err(AccountError::Session("revoked"));
        }
        if last_used.is_none_or(|t| now.secs() - Timestamp(t).secs() >= TOUCH_EVERY_SECS) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now.micros())
                .bind(&id)
                .execute(self.inner.store.pool())
                .await?;
        }
        Ok(Session {
            token_hash: hash,
            user,
            level: AuthLevel::Full,
            via: Via::ApiToken,
            expires_at: expires,
        })
    }

    /// Enrols a known TOTP secret directly (demo accounts, whose secrets are printed so
    /// the person trying the demo can add them to an authenticator app).
    pub async fn enrol_known_secret(
        &self,
        ctx: &Ctx,
        id: &UserId,
        secret: &[u8],
    ) -> Result<(), AccountError> {
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        sqlx::query("UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = 0, updated_at = $2 WHERE id = $3")
            .bind(self.inner.sealer.seal(secret, &format!("totp:{id}")))
            .bind(now.micros())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let ev = ctx
            .event("mfa.enrol", format!("user:{id}"), Outcome::Allowed)
            .detail(serde_json::json!({ "by": "operator" }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, AccountError> {
    let username: String = r.try_get(1)?;
    let totp: Option<String> = r.try_get(4)?;
    Ok(User {
        id: UserId::from_stored(r.try_get(0)?),
        username: Username::parse(&username)
            .map_err(|_| AccountError::Invalid(format!("stored username {username:?}")))?,
        display_name: r.try_get(2)?,
        status: UserStatus::parse(&r.try_get::<String, _>(3)?),
        roles: Vec::new(),
        mfa_enrolled: totp.is_some(),
        locked_until: Timestamp(r.try_get(5)?),
        failed_attempts: r.try_get(6)?,
        created_at: Timestamp(r.try_get(7)?),
    })
}

fn check_display_name(s: &str) -> Result<(), AccountError> {
    let n = s.trim().chars().count();
    if n == 0 || n > 100 || s.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "a display name has 1 to 100 characters".into(),
        ));
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(n).collect()
}

async fn insert_roles(
    tx: &mut Tx,
    id: &UserId,
    roles: &[Role],
    now: Timestamp,
    by: &str,
) -> Result<(), AccountError> {
    for r in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role, granted_at, granted_by) VALUES ($1, $2, $3, $4)")
            .bind(id.as_str())
            .bind(r.code())
            .bind(now.micros())
            .bind(by)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Whether the actor is acting on their own account (admins may not change their own
/// roles or status: separation of duties, and no accidental self-lockout).
fn is_self(ctx: &Ctx, id: &UserId) -> bool {
    ctx.actor.id == format!("user:{id}")
}

/// Serializes transactions that check several rows before changing one (see the
/// `guards` table).
async fn take_guard(tx: &mut Tx, name: &str) -> Result<(), AccountError> {
    sqlx::query("UPDATE guards SET n = n + 1 WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn other_active_admins(tx: &mut Tx, except: &UserId) -> Result<i64, AccountError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id \
         WHERE r.role = 'admin' AND u.status = 'active' AND u.id <> $1",
    )
    .bind(except.as_str())
    .fetch_one(&mut **tx)
    .await?)
}

async fn revoke_all(tx: &mut Tx, id: &UserId, now: Timestamp) -> Result<u64, AccountError> {
    let s = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now.micros())
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let t = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
    )
    .bind(now.micros())
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(s + t)
}

async fn insert_session(
    tx: &mut Tx,
    token: &str,
    user: &UserId,
    level: &str,
    now: Timestamp,
    expires: Timestamp,
    user_agent: &str,
) -> Result<(), AccountError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, level, created_at, last_seen_at, expires_at, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6)",
    )
    .bind(sha256_hex(token.as_bytes()))
    .bind(user.as_str())
    .bind(level)
    .bind(now.micros())
    .bind(expires.micros())
    .bind(truncate(user_agent, 200))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes the password-level session and issues a full one with a new token, so a
/// token seen before the second factor (session fixation) is worth nothing after it.
async fn rotate_to_full(
    tx: &mut Tx,
    old: &Session,
    now: Timestamp,
    absolute_secs: i64,
) -> Result<String, AccountError> {
    let ua: String = sqlx::query_scalar("SELECT user_agent FROM sessions WHERE token_hash = $1")
        .bind(&old.token_hash)
        .fetch_optional(&mut **tx)
        .await?
        .unwrap_or_default();
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2")
        .bind(now.micros())
        .bind(&old.token_hash)
        .execute(&mut **tx)
        .await?;
    let token = random_token();
    insert_session(
        tx,
        &token,
        &old.user.id,
        "full",
        now,
        now.plus_secs(absolute_secs),
        &ua,
    )
    .await?;
    Ok(token)
}
