//! The demo world: a data directory, and one account for every role with a password and
//! an enrolled authenticator, printed for the person trying Renkei.
//!
//! The credentials are random per data directory and kept in
//! `<data_dir>/demo-credentials.json` (owner-only), so re-running the demo reuses them.

use crate::{App, AppError};
use renkei_core::{Caller, Role};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Marks a directory as made by `renkei demo`, so `--fresh` never deletes anything else.
pub const MARKER: &str = ".renkei-demo";
const CREDENTIALS: &str = "demo-credentials.json";

/// One demo account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoAccount {
    /// Its role.
    pub role: Role,
    /// Login name.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Password.
    pub password: String,
    /// TOTP secret, base32.
    pub totp_secret: String,
}

/// The accounts: (role, username, display name).
pub const ACCOUNTS: [(Role, &str, &str); 8] = [
    (Role::Researcher, "researcher", "研究 花子"),
    (Role::CommitteeMember, "committee", "審査 一郎"),
    (Role::Secretariat, "secretariat", "事務 次郎"),
    (Role::Custodian, "custodian", "保有 三郎"),
    (Role::OutputChecker, "checker", "確認 四郎"),
    (Role::LinkageAuthority, "linkage", "連結 五郎"),
    (Role::Admin, "admin", "管理 六子"),
    (Role::Auditor, "auditor", "監査 七海"),
];

/// Makes sure `dir` is a usable demo directory. With `fresh`, deletes it first, but only
/// if it carries the demo marker (or is empty).
pub fn prepare_dir(dir: &Path, fresh: bool) -> Result<(), AppError> {
    let io = |err| AppError::Io {
        path: dir.display().to_string(),
        err,
    };
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let is_empty = std::fs::read_dir(dir).map_err(io)?.next().is_none();
        if !is_demo && !is_empty {
            return Err(AppError::Io {
                path: dir.display().to_string(),
                err: std::io::Error::other(
                    "exists and was not made by `renkei demo`; choose another RENKEI_DATA_DIR",
                ),
            });
        }
        if fresh {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(
        dir.join(MARKER),
        "made by renkei demo; `renkei demo --fresh` deletes this directory\n",
    )
    .map_err(io)?;
    Ok(())
}

/// Creates the demo accounts on first run; afterwards reads them back.
pub async fn ensure_accounts(app: &App) -> Result<Vec<DemoAccount>, AppError> {
    let path = app.config.data_dir.join(CREDENTIALS);
    let io = |err| AppError::Io {
        path: path.display().to_string(),
        err,
    };
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(io)?;
        return serde_json::from_str(&text).map_err(|e| io(std::io::Error::other(e)));
    }
    let admin = app
        .accounts
        .admin(&Caller::operator(
            "renkei-demo",
            renkei_core::Duty::Accounts,
        ))
        .await?;
    let mut out = Vec::new();
    for (role, username, display) in ACCOUNTS {
        let password = random_password();
        let secret = renkei_crypto::random_bytes::<20>();
        let user = admin
            .create_user(username, display, &password, &[role])
            .await?;
        admin.enrol_known_secret(&user.id, &secret).await?;
        out.push(DemoAccount {
            role,
            username: username.to_owned(),
            display_name: display.to_owned(),
            password,
            totp_secret: renkei_accounts::encode_secret(&secret),
        });
    }
    write_private(
        &path,
        &serde_json::to_string_pretty(&out).unwrap_or_default(),
    )
    .map_err(io)?;
    Ok(out)
}

/// Persons in the demo world unless told otherwise (`RENKEI_DEMO_PERSONS`).
pub const DEFAULT_PERSONS: u64 = 10_000;

/// Builds the demo's synthetic world and ingests every dataset of it that has no
/// version yet: a first run that was interrupted half-way is completed by the next
/// one. `say` reports progress in one line per step.
pub async fn ensure_world(
    app: &App,
    persons: u64,
    say: &(dyn Fn(&str) + Sync),
) -> Result<(), AppError> {
    let world = app.config.data_dir.join("world");
    // A dataset with any version (even a refused one: loading it again would only be
    // refused again) is left to the custodian.
    let mut missing = Vec::new();
    let ids = crate::world::SOURCES
        .iter()
        .map(|(id, _)| *id)
        .chain([crate::world::REGISTRY]);
    for id in ids {
        if renkei_catalog::versions(&app.store, id).await?.is_empty() {
            missing.push(id.to_owned());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !world.join("ground_truth/summary.json").exists() {
        if world.exists() {
            std::fs::remove_dir_all(&world).map_err(|err| AppError::Io {
                path: world.display().to_string(),
                err,
            })?;
        }
        say(&format!(
            "{persons} 人の合成データを生成中 / Generating a synthetic world of {persons} persons (seed 1) ..."
        ));
        let cfg = renkei_synth::Config::new(persons, 1, &world);
        tokio::task::spawn_blocking(move || renkei_synth::generate(&cfg, &|_| {}))
            .await
            .map_err(|e| AppError::Io {
                path: "synth".into(),
                err: std::io::Error::other(e.to_string()),
            })??;
    }
    say(
        "取り込み中（入口でトークン化、暗号化 Parquet、カタログ）/ Ingesting: tokens at the door, encrypted Parquet, the catalogue ...",
    );
    let reports = crate::world::ingest_only(
        app,
        &Caller::operator("renkei-demo", renkei_core::Duty::Data),
        &world,
        std::sync::Arc::new(|_, _, _| {}),
        &missing,
    )
    .await?;
    for r in reports {
        say(&format!(
            "  {:<16} v{}  {:>9} records  {:>5} rejected",
            r.dataset, r.version, r.rows_in, r.rows_rejected
        ));
    }
    Ok(())
}

/// Four groups of four characters from an alphabet without look-alikes.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes = renkei_crypto::random_bytes::<16>();
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Runs the linkage authority's person index once, if none exists (measured against
/// the world's ground truth), then makes the extract of every project in use.
pub async fn ensure_index(app: &App, say: &(dyn Fn(&str) + Sync)) -> Result<(), AppError> {
    let caller = renkei_core::Caller::operator("demo", renkei_core::Duty::Linkage);
    let has_index = app
        .linkage
        .runs(&caller)
        .await
        .map_err(|_| AppError::Demo("could not read the linkage runs"))?
        .iter()
        .any(|r| r.status == "committed");
    if !has_index {
        let truth =
            renkei_link::truth::Truth::load(&app.config.data_dir.join("world/ground_truth")).ok();
        let r = app
            .linkage
            .run(&caller, truth.as_ref())
            .await
            .map_err(|_| AppError::Demo("the linkage run failed"))?;
        let quality = r.truth.as_ref().map_or(String::new(), |t| {
            format!(", precision {:.3} recall {:.3}", t.precision, t.recall)
        });
        say(&format!(
            "person index v{}: {} people from {} records{quality}",
            r.version, r.persons, r.records
        ));
    }
    for p in app.ensure_extracts().await {
        say(&format!("extract of project {p} made"));
    }
    Ok(())
}

/// Makes the demo's custodian the custodian of every dataset in the world (a real
/// deployment assigns each dataset to the custodians who hold it).
pub async fn assign_custodians(app: &App) -> Result<(), AppError> {
    let op = Caller::operator("renkei-demo", renkei_core::Duty::Accounts);
    let custodian = app
        .accounts
        .admin(&op)
        .await?
        .find_user("custodian")
        .await?;
    let ids: Vec<String> = app
        .catalog
        .public(&op)
        .await?
        .datasets
        .iter()
        .map(|d| d.id.clone())
        .collect();
    for id in &ids {
        app.catalog
            .assign_custodian(&op, id, &custodian.id, true)
            .await?;
    }
    Ok(())
}

/// The demo's witness: a key of its own and its record of what it countersigned. In a
/// real deployment both live on the supervisor's machine, never on the platform's host;
/// the demo keeps them in `<data_dir>/demo-witness/` so that one command shows the whole
/// flow.
pub struct DemoWitness {
    /// The witness's key.
    pub key: ed25519_dalek::SigningKey,
    /// The witness's own log.
    pub log: std::path::PathBuf,
}

impl DemoWitness {
    /// Creates the demo witness's key on first run; afterwards reads it back.
    pub fn ensure(data_dir: &Path) -> Result<Self, AppError> {
        let dir = data_dir.join("demo-witness");
        let key_path = dir.join("witness.key");
        let io = |err| AppError::Io {
            path: key_path.display().to_string(),
            err,
        };
        if !key_path.exists() {
            renkei_audit::witness::new_witness_key(&key_path).map_err(io)?;
        }
        let key = renkei_audit::witness::load_witness_key(&key_path).map_err(io)?;
        Ok(Self {
            key,
            log: dir.join("witnessed.jsonl"),
        })
    }

    /// The public half, hex, for `audit.witness_keys`.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }
}

/// Name of the API token the demo's witness uses.
pub const WITNESS_TOKEN_NAME: &str = "demo witness";

/// The demo witness's API token: the one kept from an earlier run while it still works,
/// else a new one. A new one is made by signing in as the demo auditor the way a person
/// would (password, then a one-time code) and creating a 30-day token, revoking the
/// earlier ones. The one-time code used is the previous period's, so the person can still
/// sign in as the auditor with the current code straight away; if that period was used
/// already, the next period's.
pub async fn witness_token(app: &App, accounts: &[DemoAccount]) -> Result<String, AppError> {
    let path = app.config.data_dir.join("demo-witness/api-token");
    if let Ok(kept) = std::fs::read_to_string(&path)
        && app.accounts.resolve_api_token(kept.trim()).await.is_ok()
    {
        return Ok(kept.trim().to_owned());
    }
    let auditor = accounts
        .iter()
        .find(|a| a.role == Role::Auditor)
        .ok_or(AppError::Demo("the demo has no auditor account"))?;
    let now = renkei_core::time::Clock::now(&renkei_core::time::SystemClock).secs();
    let mut last_err = None;
    for step in [-30, 30] {
        let anon = Caller::anonymous("demo-witness");
        let signed = app
            .accounts
            .sign_in_password(
                &anon,
                &auditor.username,
                &auditor.password,
                "renkei demo witness",
            )
            .await?;
        let pending = app.accounts.resolve_session(&signed.token).await?;
        let code = renkei_accounts::current_code(&auditor.totp_secret, (now + step).max(0) as u64)
            .ok_or(AppError::Demo(
                "the demo auditor's TOTP secret is malformed",
            ))?;
        match app
            .accounts
            .verify_mfa(&pending.caller(anon.request_id()), &pending, &code)
            .await
        {
            Ok(full) => {
                let session = app.accounts.resolve_session(&full).await?;
                let caller = session.caller(anon.request_id());
                for old in app.accounts.list_api_tokens(&caller).await? {
                    if old.name == WITNESS_TOKEN_NAME && old.revoked_at.is_none() {
                        app.accounts.revoke_api_token(&caller, &old.id).await?;
                    }
                }
                let (_, token) = app
                    .accounts
                    .create_api_token(
                        &caller,
                        WITNESS_TOKEN_NAME,
                        30,
                        renkei_core::TokenScope::All,
                        &auditor.password,
                    )
                    .await?;
                app.accounts.sign_out(&caller, &session).await?;
                write_private(&path, &token).map_err(|err| AppError::Io {
                    path: path.display().to_string(),
                    err,
                })?;
                return Ok(token);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err
        .map(AppError::from)
        .unwrap_or(AppError::Demo("could not sign in as the demo auditor")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_pass_the_policy() {
        for _ in 0..100 {
            let p = random_password();
            assert_eq!(p.len(), 19);
            for (_, u, _) in ACCOUNTS {
                renkei_core::password::check(&p, u).unwrap();
            }
        }
    }

    #[test]
    fn fresh_refuses_foreign_directories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("thesis.tex"), "precious").unwrap();
        assert!(prepare_dir(d.path(), true).is_err());
        assert!(d.path().join("thesis.tex").exists());
        let demo = d.path().join("demo");
        prepare_dir(&demo, false).unwrap();
        std::fs::write(demo.join("x"), "").unwrap();
        prepare_dir(&demo, true).unwrap();
        assert!(!demo.join("x").exists() && demo.join(MARKER).exists());
    }

    /// Only the processes that tokenize load the linkage keyring, even where its file
    /// lies beside the master key; the web server refuses to run holding it.
    #[tokio::test]
    async fn only_tokenizing_processes_hold_the_linkage_key() {
        let d = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: d.path().to_path_buf(),
            ..Default::default()
        };
        let app = App::open(config.clone(), crate::Keys::CreateIfMissing)
            .await
            .unwrap();
        assert!(app.holds_linkage_key());
        app.close().await.unwrap();
        assert!(d.path().join("keys/linkage.key").exists());
        let serving = App::open(config.clone(), crate::Keys::MustExist)
            .await
            .unwrap();
        assert!(!serving.holds_linkage_key());
        serving.close().await.unwrap();
        let ingesting = App::open(config, crate::Keys::Tokenizing).await.unwrap();
        assert!(ingesting.holds_linkage_key());
        ingesting.close().await.unwrap();
    }

    #[tokio::test]
    async fn an_interrupted_first_run_is_completed() {
        let d = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: d.path().to_path_buf(),
            ..Default::default()
        };
        let app = App::open(config, crate::Keys::CreateIfMissing)
            .await
            .unwrap();
        let world = d.path().join("world");
        renkei_synth::generate(&renkei_synth::Config::new(300, 1, &world), &|_| {}).unwrap();
        // The first run was killed after its first dataset.
        crate::world::ingest_only(
            &app,
            &Caller::operator("t", renkei_core::Duty::Data),
            &world,
            std::sync::Arc::new(|_, _, _| {}),
            &["deaths".to_owned()],
        )
        .await
        .unwrap();
        let lines = std::sync::Mutex::new(Vec::new());
        ensure_world(&app, 300, &|l| lines.lock().unwrap().push(l.to_owned()))
            .await
            .unwrap();
        let lines = lines.into_inner().unwrap();
        assert!(
            !lines.iter().any(|l| l.contains("Generating")),
            "the world on disk is reused: {lines:?}"
        );
        for id in crate::world::SOURCES
            .iter()
            .map(|(id, _)| *id)
            .chain([crate::world::REGISTRY])
        {
            let v = renkei_catalog::current_version(&app.store, id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{id} has no data after the second run"));
            assert_eq!(v.version, 1, "{id} is loaded once");
        }
        // A third run has nothing to do.
        ensure_world(&app, 300, &|l| panic!("nothing to do, yet: {l}"))
            .await
            .unwrap();
    }

    #[test]
    fn every_role_has_a_demo_account() {
        for r in Role::ALL {
            assert!(ACCOUNTS.iter().any(|(role, _, _)| *role == r), "{r:?}");
        }
    }
}
