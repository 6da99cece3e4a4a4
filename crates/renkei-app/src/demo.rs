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
    let admin = app.accounts.admin(&Caller::operator("renkei-demo")).await?;
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
        &Caller::operator("renkei-demo"),
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
            &Caller::operator("t"),
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
