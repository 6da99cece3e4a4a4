//! The account operations.

use crate::error::AccountError;
use crate::model::*;
use crate::totp::{matching_step, totp_for};
use renkei_audit::Audit;
use renkei_core::role::AuthLevel;
use renkei_core::time::SharedClock;
use renkei_core::{
    Action, AuthMethod, Caller, Outcome, Role, Timestamp, TokenScope, UserId, Username,
};
use renkei_crypto::{PasswordHasher, PasswordParams, Sealer, random_token, sha256_hex};
use renkei_store::sqlx::{self, Row as _};
use renkei_store::{Store, Tx};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The caller as the user `u` from here on (after the password step has named them),
/// under the same request and authenticated the same way.
pub(crate) fn as_user(caller: &Caller, u: &User) -> Caller {
    let auth = match caller.auth() {
        AuthMethod::None => AuthMethod::Password,
        other => other.clone(),
    };
    Caller::user(
        u.id.clone(),
        u.username.clone(),
        u.roles.clone(),
        auth,
        caller.request_id(),
    )
    .from_source(caller.source())
}

/// The accounts service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) audit: Audit,
    hasher: PasswordHasher,
    hashing: tokio::sync::Semaphore,
    claimed: renkei_crypto::Macer,
    pub(crate) sealer: Sealer,
    clock: SharedClock,
    pub(crate) sessions: SessionPolicy,
    lockout: LockoutPolicy,
    /// Failed sign-ins per client address, across accounts.
    throttle: renkei_core::bucket::Buckets,
}

/// A password attempt claimed on an (account, client) pair: open (counted, maybe
/// setting a lock should it fail), or refused because the pair is locked.
#[derive(Clone, Copy)]
enum SourceClaim {
    Open(Attempt),
    Locked { failures: i64, until: Timestamp },
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

pub(crate) const USER_COLS: &str =
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
                throttle: renkei_core::bucket::Buckets::new(
                    lockout.source_burst as f64,
                    1.0 / lockout.source_refill_secs.max(1) as f64,
                ),
            }),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) async fn deny<T>(
        &self,
        caller: &Caller,
        action: Action,
        object: impl Into<String>,
        err: AccountError,
    ) -> Result<T, AccountError> {
        if err.is_client_error() {
            self.inner
                .audit
                .record_refusal(caller.event(action, object, Outcome::denied(err.code())))
                .await?;
        }
        Err(err)
    }

    /// One user by id.
    pub(crate) async fn get_user(&self, id: &UserId) -> Result<User, AccountError> {
        let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or(AccountError::NoSuchUser)?;
        let mut u = user_from_row(&row)?;
        u.roles = self.roles_of(id).await?;
        Ok(u)
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

    /// The user acting on their own account: signed in in a browser with both factors.
    /// An API token may not mint tokens or change a password, and nobody else may act
    /// on a user's tokens.
    async fn own_account(&self, caller: &Caller, action: Action) -> Result<UserId, AccountError> {
        use renkei_core::role::AccessDenied;
        let denied = match (caller.user_id(), caller.auth()) {
            (Some(id), AuthMethod::SessionMfa) => return Ok(id.clone()),
            (Some(_), AuthMethod::ApiToken { .. }) => {
                AccessDenied::Object("browser_session_required")
            }
            (Some(_), AuthMethod::Password) => AccessDenied::MfaRequired,
            _ => AccessDenied::NotSignedIn,
        };
        self.deny(caller, action, "account", denied.into()).await
    }

    /// A user changes their own password: the current one must be right (a wrong one
    /// counts towards lockout). Their other sessions end; this one continues.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        session: &Session,
        current: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let user = &session.user;
        let own = self.own_account(caller, Action::UserPassword).await?;
        if own != user.id {
            let d = renkei_core::role::AccessDenied::Object("not_own_session");
            return self
                .deny(
                    caller,
                    Action::UserPassword,
                    format!("user:{}", user.id),
                    d.into(),
                )
                .await;
        }
        let ucaller = as_user(caller, user);
        let attempt = self
            .claim_attempt(&ucaller, user, Action::UserPassword)
            .await?;
        let phc: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user.id.as_str())
            .fetch_one(self.inner.store.pool())
            .await?;
        if !self.verify_password(current, Some(phc)).await? {
            return Err(self
                .fail(
                    &ucaller,
                    user,
                    Action::UserPassword,
                    attempt,
                    AccountError::BadCredentials,
                )
                .await?);
        }
        self.release_attempt(user, attempt).await?;
        self.replace_password(&ucaller, &user.id, new, Some(&session.token_hash))
            .await
    }

    pub(crate) async fn replace_password(
        &self,
        caller: &Caller,
        id: &UserId,
        password: &str,
        keep_session: Option<&str>,
    ) -> Result<(), AccountError> {
        let object = format!("user:{id}");
        let user = match self.get_user(id).await {
            Ok(u) => u,
            Err(e) => return self.deny(caller, Action::UserPassword, object, e).await,
        };
        if let Err(p) = renkei_core::password::check(password, user.username.as_str()) {
            return self
                .deny(caller, Action::UserPassword, object, p.into())
                .await;
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
        let ev = caller
            .event(Action::UserPassword, object, Outcome::Allowed)
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

    pub(crate) async fn hash(&self, password: &str) -> Result<String, AccountError> {
        let _permit = self.hash_permit().await?;
        let hasher = self.inner.hasher.clone();
        let pw = Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || hasher.hash(&pw))
            .await
            .map_err(|e| AccountError::Internal(format!("hashing task failed: {e}")))?
            .map_err(Into::into)
    }

    async fn verify_password(
        &self,
        password: &str,
        phc: Option<String>,
    ) -> Result<bool, AccountError> {
        let permit = self.hash_permit().await?;
        self.verify_with(permit, password, phc).await
    }

    /// Checks a password while holding a hashing permit (taken before anything about
    /// the attempt was claimed). Without a stored hash, does the same work for nothing.
    async fn verify_with(
        &self,
        _permit: tokio::sync::SemaphorePermit<'_>,
        password: &str,
        phc: Option<String>,
    ) -> Result<bool, AccountError> {
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
    ///
    /// An unknown name, a locked account and a wrong password look the same from
    /// outside: the same error, after the same work (one password hash, one claimed
    /// attempt, one audit entry). Locks are per account *and* client address, so one
    /// client's guesses lock that client out, not the account's owner; a client failing
    /// across accounts is throttled as a whole. Failed attempts are recorded with an
    /// anonymous actor and the targeted account as the object.
    pub async fn sign_in_password(
        &self,
        caller: &Caller,
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
        let anon = Caller::anonymous(caller.request_id()).from_source(caller.source());
        let source = caller.source().to_owned();
        let now = self.now();
        if !self.inner.throttle.has(&source, now.secs() as f64) {
            return self
                .deny(
                    &anon,
                    Action::AuthPassword,
                    "user:?",
                    AccountError::Throttled,
                )
                .await;
        }
        // The hashing permit first: a flood that exhausts it is told to retry before
        // anything is counted against anyone.
        let permit = match self.hash_permit().await {
            Ok(p) => p,
            Err(e) => return self.deny(&anon, Action::AuthPassword, "user:?", e).await,
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
        let known = match &row {
            Some(r) => Some((
                UserId::from_stored(r.try_get(0)?),
                r.try_get::<String, _>(1)?,
            )),
            None => None,
        };
        let (subject, object) = match &known {
            Some((id, _)) => (format!("user:{id}"), format!("user:{id}")),
            None => (claimed.clone(), "user:?".to_owned()),
        };
        let claim = self.claim_source_attempt(&subject, &source).await?;
        let phc = match (&known, claim) {
            (Some((_, phc)), SourceClaim::Open(_)) => Some(phc.clone()),
            _ => None,
        };
        let right = self.verify_with(permit, password, phc).await?;
        let SourceClaim::Open(attempt) = claim else {
            self.inner.throttle.take(&source, now.secs() as f64);
            return self
                .failed_sign_in(&anon, &object, &claimed, "locked", claim)
                .await;
        };
        if !right {
            self.inner.throttle.take(&source, now.secs() as f64);
            return self
                .failed_sign_in(&anon, &object, &claimed, "bad_credentials", claim)
                .await;
        }
        let Some((id, _)) = known else {
            // A right password for a name nobody has cannot happen: the hash was a dummy.
            return Err(AccountError::BadCredentials);
        };
        self.release_source_attempt(&subject, &source, attempt)
            .await?;
        let user = self.get_user(&id).await?;
        let ucaller = as_user(caller, &user);
        if user.status == UserStatus::Disabled {
            return self
                .deny(
                    &ucaller,
                    Action::AuthPassword,
                    object,
                    AccountError::Disabled,
                )
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
        let ev = ucaller
            .event(Action::AuthPassword, object, Outcome::Allowed)
            .detail(serde_json::json!({ "mfa_enrolled": user.mfa_enrolled }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(SignIn { token, user })
    }

    /// Records a failed password sign-in (anonymous actor, the targeted account as the
    /// object, the real reason in the log) and gives the one answer every failure gets.
    async fn failed_sign_in<T>(
        &self,
        anon: &Caller,
        object: &str,
        claimed: &str,
        reason: &'static str,
        claim: SourceClaim,
    ) -> Result<T, AccountError> {
        let detail = match claim {
            SourceClaim::Open(a) => serde_json::json!({
                "failed_attempts": a.n,
                "locked_for_secs": a.locked_for_secs,
            }),
            SourceClaim::Locked { failures, until } => serde_json::json!({
                "failed_attempts": failures,
                "locked_until": until.to_rfc3339(),
            }),
        };
        let mut ev = anon
            .event(Action::AuthPassword, object, Outcome::denied(reason))
            .detail(detail);
        if object == "user:?" {
            // A keyed digest of the name typed, so repeated tries at one name show.
            ev.actor = renkei_core::Actor::anonymous(Some(claimed));
        }
        let mut tx = self.inner.store.begin().await?;
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Err(AccountError::BadCredentials)
    }

    /// Claims a password attempt on `subject` from `source`, in one transaction: the
    /// failures so far (less those forgiven by time), and if this attempt would set a
    /// lock when it fails, the lock now, so parallel guesses cannot all start before the
    /// failures are known. A locked pair claims nothing new.
    async fn claim_source_attempt(
        &self,
        subject: &str,
        source: &str,
    ) -> Result<SourceClaim, AccountError> {
        let now = self.now();
        let policy = self.inner.lockout;
        let mut tx = self.inner.store.begin().await?;
        // The row exists, then is locked for this transaction (SQLite's transactions
        // already hold the write lock), so parallel guesses count one after another.
        sqlx::query(
            "INSERT INTO sign_in_failures (subject, source, failures, last_at, locked_until) VALUES ($1, $2, 0, $3, 0) \
             ON CONFLICT (subject, source) DO NOTHING",
        )
        .bind(subject)
        .bind(source)
        .bind(now.micros())
        .execute(&mut *tx)
        .await?;
        let lock = match self.inner.store.backend() {
            renkei_store::Backend::Postgres => " FOR UPDATE",
            renkei_store::Backend::Sqlite => "",
        };
        let row: Option<(i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT failures, last_at, locked_until FROM sign_in_failures WHERE subject = $1 AND source = $2{lock}"
        ))
        .bind(subject)
        .bind(source)
        .fetch_optional(&mut *tx)
        .await?;
        let (failures, locked_until) = match row {
            Some((f, last, locked)) => {
                let forgiven = (now.micros() - last).max(0) / 1_000_000 / policy.decay_secs.max(1);
                ((f - forgiven).max(0), locked)
            }
            None => (0, 0),
        };
        if locked_until > now.micros() {
            // The same durable write as a counted attempt, so a lock does not answer
            // faster than a wrong password.
            sqlx::query(
                "UPDATE sign_in_failures SET locked_until = $3 WHERE subject = $1 AND source = $2",
            )
            .bind(subject)
            .bind(source)
            .bind(locked_until)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(SourceClaim::Locked {
                failures,
                until: Timestamp(locked_until),
            });
        }
        let n = failures + 1;
        let delay = policy.delay_secs(n);
        let lock = if delay > 0 {
            now.plus_secs(delay).micros()
        } else {
            0
        };
        sqlx::query(
            "INSERT INTO sign_in_failures (subject, source, failures, last_at, locked_until) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (subject, source) DO UPDATE SET failures = $3, last_at = $4, locked_until = $5",
        )
        .bind(subject)
        .bind(source)
        .bind(n)
        .bind(now.micros())
        .bind(lock)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SourceClaim::Open(Attempt {
            n,
            locked_for_secs: delay,
        }))
    }

    /// A right password clears the pair's failures (and the lock its claim set).
    async fn release_source_attempt(
        &self,
        subject: &str,
        source: &str,
        _attempt: Attempt,
    ) -> Result<(), AccountError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE subject = $1 AND source = $2")
            .bind(subject)
            .bind(source)
            .execute(self.inner.store.pool())
            .await?;
        Ok(())
    }

    /// Claims an attempt before a secret is checked. In one transaction: refuse (audited)
    /// if the account is locked; count the attempt; and if this attempt would trigger a
    /// lock when it fails, set the lock now, so parallel guesses cannot all start before
    /// the failures are known. A right secret gives the attempt back
    /// ([`Self::release_attempt`]).
    async fn claim_attempt(
        &self,
        caller: &Caller,
        user: &User,
        action: Action,
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
                .deny(caller, action, format!("user:{}", user.id), err)
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
        caller: &Caller,
        user: &User,
        action: Action,
        attempt: Attempt,
        err: AccountError,
    ) -> Result<AccountError, AccountError> {
        let (failures, delay) = (attempt.n, attempt.locked_for_secs);
        let mut tx = self.inner.store.begin().await?;
        let ev = caller
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
        caller: &Caller,
        session: &Session,
    ) -> Result<Enrolment, AccountError> {
        let user = &session.user;
        let ucaller = as_user(caller, user);
        if user.mfa_enrolled {
            return self
                .deny(
                    &ucaller,
                    Action::MfaEnrol,
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
                let ev = ucaller.event(
                    Action::MfaEnrolBegin,
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
        caller: &Caller,
        session: &Session,
        code: &str,
    ) -> Result<String, AccountError> {
        let user = &session.user;
        let ucaller = as_user(caller, user);
        let object = format!("user:{}", user.id);
        if user.mfa_enrolled {
            return self
                .deny(
                    &ucaller,
                    Action::MfaEnrol,
                    object,
                    AccountError::MfaAlreadyEnrolled,
                )
                .await;
        }
        let attempt = self.claim_attempt(&ucaller, user, Action::MfaEnrol).await?;
        let pending: Option<String> =
            sqlx::query_scalar("SELECT totp_pending FROM users WHERE id = $1")
                .bind(user.id.as_str())
                .fetch_one(self.inner.store.pool())
                .await?;
        let Some(sealed) = pending else {
            return self
                .deny(
                    &ucaller,
                    Action::MfaEnrol,
                    object,
                    AccountError::NoEnrolment,
                )
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
                .deny(
                    &ucaller,
                    Action::MfaEnrol,
                    object,
                    AccountError::NoEnrolment,
                )
                .await;
        };
        let secret = opened.unwrap_or_default();
        let now = self.now();
        let Some(step) = matching_step(&totp, code, now.secs().max(0) as u64) else {
            return Err(self
                .fail(
                    &ucaller,
                    user,
                    Action::MfaEnrol,
                    attempt,
                    AccountError::BadTotp,
                )
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
        let ev = ucaller.event(Action::MfaEnrol, object, Outcome::Allowed);
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The second step of sign-in. Returns a new, fully signed-in session token.
    pub async fn verify_mfa(
        &self,
        caller: &Caller,
        session: &Session,
        code: &str,
    ) -> Result<String, AccountError> {
        let user = &session.user;
        let ucaller = as_user(caller, user);
        let object = format!("user:{}", user.id);
        if !user.mfa_enrolled {
            return self
                .deny(
                    &ucaller,
                    Action::AuthMfa,
                    object,
                    AccountError::MfaNotEnrolled,
                )
                .await;
        }
        let now = self.now();
        let attempt = self.claim_attempt(&ucaller, user, Action::AuthMfa).await?;
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
                .deny(
                    &ucaller,
                    Action::AuthMfa,
                    object,
                    AccountError::MfaNotEnrolled,
                )
                .await;
        };
        let Some(step) = matching_step(&totp, code, now.secs().max(0) as u64) else {
            return Err(self
                .fail(
                    &ucaller,
                    user,
                    Action::AuthMfa,
                    attempt,
                    AccountError::BadTotp,
                )
                .await?);
        };
        let step = step as i64;
        if step <= last_step {
            return Err(self
                .fail(
                    &ucaller,
                    user,
                    Action::AuthMfa,
                    attempt,
                    AccountError::TotpReplayed,
                )
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
                .fail(
                    &ucaller,
                    user,
                    Action::AuthMfa,
                    attempt,
                    AccountError::TotpReplayed,
                )
                .await?);
        }
        let token = rotate_to_full(
            &mut tx,
            session,
            now,
            self.inner.sessions.absolute_timeout_secs,
        )
        .await?;
        let ev = ucaller.event(Action::AuthMfa, object, Outcome::Allowed);
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
            token_id: None,
            scope: TokenScope::All,
        })
    }

    /// Ends a session.
    pub async fn sign_out(&self, caller: &Caller, session: &Session) -> Result<(), AccountError> {
        let now = self.now();
        let mut tx = self.inner.store.begin().await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now.micros())
        .bind(&session.token_hash)
        .execute(&mut *tx)
        .await?;
        let ev = as_user(caller, &session.user).event(
            Action::AuthSignOut,
            format!("user:{}", session.user.id),
            Outcome::Allowed,
        );
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The signed-in user proves it is still them with their password before a
    /// sensitive act. A wrong password is refused and counted like a failed sign-in
    /// from the same client (it can lock that client out).
    async fn reauthenticate(
        &self,
        caller: &Caller,
        user_id: &UserId,
        action: Action,
        password: &str,
    ) -> Result<(), AccountError> {
        let subject = format!("user:{user_id}");
        let source = caller.source().to_owned();
        let permit = self.hash_permit().await?;
        let phc: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id.as_str())
            .fetch_one(self.inner.store.pool())
            .await?;
        let claim = self.claim_source_attempt(&subject, &source).await?;
        let phc = matches!(claim, SourceClaim::Open(_)).then_some(phc);
        let right = self.verify_with(permit, password, phc).await?;
        match claim {
            SourceClaim::Open(a) if right => {
                self.release_source_attempt(&subject, &source, a).await
            }
            _ => {
                self.deny(caller, action, subject, AccountError::BadCredentials)
                    .await
            }
        }
    }

    // ----- API tokens --------------------------------------------------------------

    /// Creates an API token for the signed-in user, who re-authenticates with their
    /// password to do so (a wrong one counts towards the lock like a sign-in). Its
    /// lifetime is capped by the user's strictest role ([`token_max_days`]); `scope`
    /// may narrow it to reading. Returns its description and its value, which is shown
    /// once and never stored.
    pub async fn create_api_token(
        &self,
        caller: &Caller,
        name: &str,
        ttl_days: i64,
        scope: TokenScope,
        password: &str,
    ) -> Result<(ApiTokenInfo, String), AccountError> {
        let user_id = self.own_account(caller, Action::TokenCreate).await?;
        let object = format!("user:{user_id}");
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return self
                .deny(
                    caller,
                    Action::TokenCreate,
                    object,
                    AccountError::Invalid("a token name has 1 to 100 characters".into()),
                )
                .await;
        }
        let cap = token_max_days(caller.roles());
        if !(1..=cap).contains(&ttl_days) {
            return self
                .deny(
                    caller,
                    Action::TokenCreate,
                    object,
                    AccountError::Invalid(format!("a token of your roles lives 1 to {cap} days")),
                )
                .await;
        }
        self.reauthenticate(caller, &user_id, Action::TokenCreate, password)
            .await?;
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
            scope: scope.code(),
        };
        let mut tx = self.inner.store.begin().await?;
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at, scope) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(user_id.as_str())
            .bind(name)
            .bind(sha256_hex(value.as_bytes()))
            .bind(now.micros())
            .bind(info.expires_at.micros())
            .bind(scope.code())
            .execute(&mut *tx)
            .await?;
        let ev = caller
            .event(Action::TokenCreate, object, Outcome::Allowed)
            .detail(serde_json::json!({ "token_id": id, "name": name, "expires_at": info.expires_at.to_rfc3339(), "scope": scope.code() }));
        self.inner.audit.append_in(&mut tx, &[ev]).await?;
        tx.commit().await?;
        Ok((info, value))
    }

    /// A user's API tokens, newest first.
    pub async fn list_api_tokens(
        &self,
        caller: &Caller,
    ) -> Result<Vec<ApiTokenInfo>, AccountError> {
        let user = self.own_account(caller, Action::TokenCreate).await?;
        let rows = sqlx::query(
            "SELECT id, name, created_at, expires_at, revoked_at, last_used_at, scope FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC",
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
                    scope: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Revokes one of `user`'s tokens.
    pub async fn revoke_api_token(
        &self,
        caller: &Caller,
        token_id: &str,
    ) -> Result<(), AccountError> {
        let user = self.own_account(caller, Action::TokenRevoke).await?;
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
                    caller,
                    Action::TokenRevoke,
                    format!("token:{}", truncate(token_id, 64)),
                    AccountError::Invalid("no such active token".into()),
                )
                .await;
        }
        let ev = caller.event(
            Action::TokenRevoke,
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
        let row = sqlx::query("SELECT id, user_id, expires_at, revoked_at, last_used_at, created_at, scope FROM api_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(self.inner.store.pool())
            .await?
            .ok_or(AccountError::Session("unknown"))?;
        let id: String = row.try_get(0)?;
        let user_id = UserId::from_stored(row.try_get(1)?);
        let expires = Timestamp(row.try_get(2)?);
        let revoked: Option<i64> = row.try_get(3)?;
        let last_used: Option<i64> = row.try_get(4)?;
        let created: i64 = row.try_get(5)?;
        let scope = TokenScope::parse(&row.try_get::<String, _>(6)?)
            .ok_or(AccountError::Session("unknown"))?;
        let now = self.now();
        if revoked.is_some() {
            return Err(AccountError::Session("revoked"));
        }
        if now >= expires {
            return Err(AccountError::Session("expired"));
        }
        let idle_since = Timestamp(last_used.unwrap_or(created));
        if now.secs() - idle_since.secs() >= self.inner.sessions.token_idle_days * 86_400 {
            return Err(AccountError::Session("expired_idle"));
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
            token_id: Some(id),
            scope,
        })
    }
}

pub(crate) fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, AccountError> {
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

pub(crate) fn check_display_name(s: &str) -> Result<(), AccountError> {
    let n = s.trim().chars().count();
    if n == 0 || n > 100 || s.chars().any(char::is_control) {
        return Err(AccountError::Invalid(
            "a display name has 1 to 100 characters".into(),
        ));
    }
    Ok(())
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(n).collect()
}

pub(crate) async fn insert_roles(
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

/// Serializes transactions that check several rows before changing one (see the
/// `guards` table).
pub(crate) async fn take_guard(tx: &mut Tx, name: &str) -> Result<(), AccountError> {
    sqlx::query("UPDATE guards SET n = n + 1 WHERE name = $1")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) async fn other_active_admins(tx: &mut Tx, except: &UserId) -> Result<i64, AccountError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_roles r JOIN users u ON u.id = r.user_id \
         WHERE r.role = 'admin' AND u.status = 'active' AND u.id <> $1",
    )
    .bind(except.as_str())
    .fetch_one(&mut **tx)
    .await?)
}

pub(crate) async fn revoke_all(
    tx: &mut Tx,
    id: &UserId,
    now: Timestamp,
) -> Result<u64, AccountError> {
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

pub(crate) async fn insert_session(
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

impl Accounts {
    /// Colleagues a researcher names on an application (or the secretariat names on
    /// its roster), by username: each one's id and display name if an active account
    /// has that name, for a caller who may apply or run the review. The lookup is
    /// audited (it tells which names exist).
    pub async fn colleagues(
        &self,
        caller: &Caller,
        usernames: &[String],
    ) -> Result<Vec<Option<(UserId, String)>>, AccountError> {
        if !caller.has(renkei_core::Permission::Apply)
            && !caller.has(renkei_core::Permission::ManageReview)
        {
            let d = caller
                .require(renkei_core::Permission::Apply)
                .err()
                .unwrap_or(renkei_core::role::AccessDenied::Missing(
                    renkei_core::Permission::Apply,
                ));
            return self
                .deny(caller, Action::UserRead, "colleagues", d.into())
                .await;
        }
        let mut out = Vec::with_capacity(usernames.len());
        for name in usernames.iter().take(100) {
            let row = sqlx::query(
                "SELECT id, display_name FROM users WHERE username = $1 AND status = 'active'",
            )
            .bind(name.trim())
            .fetch_optional(self.inner.store.pool())
            .await?;
            out.push(match row {
                Some(r) => Some((UserId::from_stored(r.try_get(0)?), r.try_get(1)?)),
                None => None,
            });
        }
        self.inner
            .audit
            .record(
                caller
                    .event(
                        Action::UserRead,
                        "colleagues",
                        renkei_core::Outcome::Allowed,
                    )
                    .detail(serde_json::json!({ "names": usernames.len() })),
            )
            .await?;
        Ok(out)
    }

    /// The usernames of `ids` (people named on an application or a roster), for a
    /// caller who may apply or run the review; unknown ids come back as they are.
    pub async fn colleague_names(
        &self,
        caller: &Caller,
        ids: &[String],
    ) -> Result<Vec<String>, AccountError> {
        if !caller.has(renkei_core::Permission::Apply)
            && !caller.has(renkei_core::Permission::ManageReview)
        {
            let d = caller
                .require(renkei_core::Permission::Apply)
                .err()
                .unwrap_or(renkei_core::role::AccessDenied::Missing(
                    renkei_core::Permission::Apply,
                ));
            return self
                .deny(caller, Action::UserRead, "colleagues", d.into())
                .await;
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids.iter().take(100) {
            let name: Option<String> =
                sqlx::query_scalar("SELECT username FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.inner.store.pool())
                    .await?;
            out.push(name.unwrap_or_else(|| id.clone()));
        }
        Ok(out)
    }
}
