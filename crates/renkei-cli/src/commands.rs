//! The subcommands other than `bench`.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use renkei_accounts::{UserAdmin, UserStatus};
use renkei_app::{App, Config, Keys};
use renkei_core::{Caller, Duty, Role, UserId};
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `renkei demo`
#[derive(Args)]
pub struct DemoArgs {
    /// Delete the demo data directory first and start over.
    #[arg(long)]
    fresh: bool,
    /// Persons in the synthetic world (first run only).
    #[arg(long, env = "RENKEI_DEMO_PERSONS", default_value_t = renkei_app::demo::DEFAULT_PERSONS)]
    persons: u64,
}

/// `renkei ingest`
#[derive(Args)]
pub struct IngestArgs {
    /// A built-in dataset: ndb_claims, ndb_checkups, dpc, ltc, ehr, deaths.
    #[arg(long, conflicts_with_all = ["declaration", "world"], requires = "source")]
    dataset: Option<String>,
    /// A declaration (TOML) for a dataset that joins by declaration (D3): schema, holder,
    /// safety measures, linkage keys.
    #[arg(long, conflicts_with = "world", requires = "source")]
    declaration: Option<std::path::PathBuf>,
    /// The directory holding the dataset's files.
    #[arg(long)]
    source: Option<std::path::PathBuf>,
    /// A world made by `renkei synth`: ingest every database in it.
    #[arg(long, conflicts_with = "source")]
    world: Option<std::path::PathBuf>,
    /// Refuse the version if more than this share of records is rejected (default from config: 0.05).
    #[arg(long)]
    max_reject_rate: Option<f64>,
    /// Dry run: read and validate everything, store nothing, and list what would be
    /// rejected. Needs no keys and no database.
    #[arg(long)]
    check: bool,
}

/// `renkei migrate`
#[derive(Args)]
pub struct MigrateArgs {
    /// The schema owner's database URL (default: RENKEI_OWNER_DATABASE_URL, else the
    /// configured database_url).
    #[arg(long)]
    owner_url: Option<String>,
    /// PostgreSQL: the role `renkei serve` connects as; it is granted reading and
    /// writing of the working tables, only SELECT and INSERT on the append-only audit
    /// tables, and owns nothing (so it cannot drop or disable their guards).
    #[arg(long)]
    grant_to: Option<String>,
}

/// `renkei migrate`
pub async fn migrate(config: Option<&Path>, a: MigrateArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    let url = a
        .owner_url
        .or_else(|| std::env::var("RENKEI_OWNER_DATABASE_URL").ok())
        .unwrap_or_else(|| cfg.database_url());
    let shown = renkei_app::migrate(&url, a.grant_to.as_deref()).await?;
    println!("schema up to date and guards installed: {shown}");
    if let Some(role) = a.grant_to {
        println!(
            "granted {role}: working tables read/write, audit tables SELECT and INSERT only; serve it with migrate_on_start = false"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei init`
#[derive(Args)]
pub struct InitArgs {
    /// Also create this first admin account (password from the terminal or stdin).
    #[arg(long)]
    admin: Option<String>,
    /// The admin's display name.
    #[arg(long)]
    display_name: Option<String>,
    /// Read the admin's password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// `renkei user ...`
#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user. They set up their authenticator at first sign-in.
    Add {
        /// Login name (a-z, 0-9, . _ -; starts with a letter).
        #[arg(long)]
        username: String,
        /// Name shown in the UI (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// A role (repeat for several): researcher, committee_member, secretariat,
        /// custodian, output_checker, linkage_authority, admin, auditor.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Set the password now, read from the first line of standard input (for a
        /// break-glass account the operator keeps). Without it, the user is invited:
        /// a single-use link is printed with which they set their own password.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (ends their sessions and API tokens).
    Disable {
        /// Username.
        username: String,
    },
    /// Re-enable a user.
    Enable {
        /// Username.
        username: String,
    },
    /// Replace a user's roles.
    Roles {
        /// Username.
        username: String,
        /// A role (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Make a custodian the custodian of a dataset (or no longer, with --remove): they
    /// see its exact profiles, versions and reject reports.
    Custodian {
        /// Username.
        username: String,
        /// Dataset id.
        #[arg(long)]
        dataset: String,
        /// Unassign instead.
        #[arg(long)]
        remove: bool,
    },
    /// Reset a user's access: clear password and authenticator, end their sessions and
    /// API tokens, and print a single-use link with which they set them again.
    ResetMfa {
        /// Username.
        username: String,
    },
    /// Set a user's password (ends their sessions).
    SetPassword {
        /// Username.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `renkei linkage-key ...`
#[derive(Subcommand)]
pub enum LinkageKeyCmd {
    /// Create a new linkage key in its own file (owner-only). The linkage authority
    /// keeps it apart from the master key and gives it to the processes that ingest
    /// (keys.linkage_key_file or RENKEI_LINKAGE_KEY).
    Init {
        /// Where to write the key; refuses to overwrite a file.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Show the fingerprint of the linkage key this process holds and of the one the
    /// platform's data was tokenized under (never the keys).
    Fingerprint,
    /// Rotate the linkage key: add a new key to the keyring file as the next
    /// generation, re-key the tokens of every version of every dataset, and move the
    /// platform to the new keyring. Audited. If interrupted, run it again to finish.
    Rotate,
}

/// `renkei linkage-key`
pub async fn linkage_key(config: Option<&Path>, cmd: LinkageKeyCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LinkageKeyCmd::Init { out } => {
            let key = renkei_crypto::RootKey::generate();
            key.write_new(&out).with_context(|| {
                format!(
                    "{} (an existing key file is never overwritten)",
                    out.display()
                )
            })?;
            let keys =
                renkei_crypto::KeyStore::from_keys(renkei_crypto::RootKey::generate(), Some(key));
            println!(
                "linkage key written to {} (owner-only)\nfingerprint: {}\nGive it to the processes that ingest as keys.linkage_key_file (or RENKEI_LINKAGE_KEY); keep it apart from the master key.",
                out.display(),
                keys.current_linkage_fingerprint().unwrap_or_default()
            );
        }
        LinkageKeyCmd::Fingerprint => {
            let (ours, platform) = renkei_app::linkage_fingerprints(Config::load(config)?).await?;
            println!(
                "this process: {}",
                ours.as_deref().unwrap_or("no linkage key")
            );
            match platform {
                Some(p) => println!(
                    "platform:     {} (generation {})",
                    p.fingerprint, p.generation
                ),
                None => {
                    println!("platform:     none registered yet (the first ingest registers one)")
                }
            }
        }
        LinkageKeyCmd::Rotate => {
            let r = renkei_app::rotate_linkage_key(Config::load(config)?, &operator(Duty::Linkage))
                .await?;
            println!(
                "linkage key rotated: {} -> {}; {} versions re-keyed ({} rows)",
                r.from.fingerprint, r.to.fingerprint, r.versions, r.rows
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei audit ...`
#[derive(Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain, MACs and signed checkpoints; exit 1 naming the first
    /// entry that was modified, deleted, inserted, reordered or cut off.
    ///
    /// Against the operator, only a witness's key holds: give the supervisor's witness
    /// public key with --witness-key (and the witness's own record with --witness-log).
    /// Without it, the platform's registered witness keys are used; without any key to
    /// trust, verification fails.
    Verify {
        /// Checkpoint public key (hex) to trust, for verifying without the master key.
        #[arg(long)]
        public_key: Option<String>,
        /// A witness's Ed25519 public key (hex); repeat for several.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
        /// The witness's own record of what it countersigned (JSON Lines).
        #[arg(long)]
        witness_log: Option<std::path::PathBuf>,
        /// How long (seconds) an entry may wait uncovered before verification fails
        /// (default: audit.max_tail_secs, 600).
        #[arg(long)]
        max_tail: Option<i64>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a witness key (on the supervisor's side, never on the platform's host) and
    /// print its public half, to register in audit.witness_keys.
    WitnessKey {
        /// Where to write the key (created owner-only; never overwritten).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Act as the witness: countersign the platform's newest checkpoint after checking
    /// the entries since the last countersigned one continue it, keep a copy in
    /// --log, and hand the countersignature to the platform. Exits non-zero with an
    /// alarm if the platform's log no longer continues what was countersigned.
    Witness {
        /// The witness key (from `renkei audit witness-key`).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The witness's own record, kept outside the platform.
        #[arg(long)]
        log: std::path::PathBuf,
        /// The platform's address, e.g. `https://renkei.example.jp`
        #[arg(long)]
        url: String,
        /// A file holding an auditor's API token (else RENKEI_WITNESS_TOKEN).
        #[arg(long)]
        token_file: Option<std::path::PathBuf>,
        /// Also trust this CA certificate (PEM) for the platform's TLS.
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
        /// Repeat every this many seconds (default: one round, then exit).
        #[arg(long)]
        every: Option<u64>,
    },
    /// Write entries as JSON Lines (for the auditor).
    Export {
        /// From this date or time (YYYY-MM-DD or RFC 3339), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Until this date or time, exclusive.
        #[arg(long)]
        until: Option<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Write a signed checkpoint of the chain head now.
    Checkpoint,
    /// Print the public key that signs checkpoints (give it to the auditor).
    PublicKey,
}

/// The operator at this command line, as every service call from the CLI is made.
fn operator(duty: Duty) -> Caller {
    Caller::operator(os_user(), duty)
}

/// Who runs this command, as the operating system knows them: the numeric user id
/// (which a process cannot choose), with the login name beside it when there is one.
fn os_user() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let Ok(m) = std::fs::metadata("/proc/self") {
            let name = std::env::var("USER").unwrap_or_default();
            return format!("uid:{}({name})", m.uid());
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "operator".into())
}

fn parse_roles(roles: &[String]) -> anyhow::Result<Vec<Role>> {
    roles
        .iter()
        .flat_map(|r| r.split(','))
        .map(|r| {
            Role::parse(r).with_context(|| {
                format!(
                    "unknown role {r:?}; roles are {}",
                    Role::ALL.map(|r| r.code()).join(", ")
                )
            })
        })
        .collect()
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    let a = rpassword::prompt_password("Password: ")?;
    let b = rpassword::prompt_password("Again: ")?;
    if a != b {
        bail!("the passwords do not match");
    }
    Ok(a)
}

async fn open(config: Option<&Path>, keys: Keys) -> anyhow::Result<App> {
    let cfg = Config::load(config)?;
    Ok(App::open(cfg, keys).await?)
}

/// `renkei opt-out`: one request per line of standard input. A line that fails is
/// named by its number (never echoed: it holds a person's identifiers) and the rest go on.
pub async fn opt_out(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let app = open(config, Keys::Tokenizing).await?;
    let caller = operator(Duty::Linkage);
    let mut failed = 0usize;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let request: renkei_ingest::OptOutRequest = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                // serde's message may quote the value: only its kind and column.
                eprintln!(
                    "line {}: not a request ({:?} error at column {}; fields: kana, kanji, birth, sex, insurer, kigo, bango)",
                    n + 1,
                    e.classify(),
                    e.column()
                );
                failed += 1;
                continue;
            }
        };
        match app.ingestor.record_opt_out(&caller, &request).await {
            Ok(r) => println!(
                "line {}: recorded {} ({})",
                n + 1,
                r.id,
                r.families.join(", ")
            ),
            Err(e) => {
                eprintln!("line {}: {e}", n + 1);
                failed += 1;
            }
        }
    }
    println!(
        "opt-out requests in force: {}",
        app.ingestor.opt_outs_in_force().await?
    );
    // Extracts made before these requests are remade without the people they name.
    for p in app.ensure_extracts().await {
        println!("remade the extract of {p} without the people who opted out");
    }
    app.close().await?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `renkei link`.
#[derive(clap::Args)]
pub struct LinkArgs {
    /// A synthetic world's `ground_truth` directory: adds precision and recall.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `renkei link`.
pub async fn link(config: Option<&Path>, a: LinkArgs) -> anyhow::Result<ExitCode> {
    let truth = match &a.truth {
        Some(d) => Some(renkei_link::truth::Truth::load(d)?),
        None => None,
    };
    let app = open(config, Keys::MustExist).await?;
    let r = app
        .linkage
        .run(&operator(Duty::Linkage), truth.as_ref())
        .await;
    let made = if r.is_ok() {
        app.ensure_extracts().await
    } else {
        Vec::new()
    };
    app.close().await?;
    let r = r?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "person index v{}: {} records, {} people ({} in more than one dataset), {} ms",
        r.version, r.records, r.persons, r.persons_in_several_datasets, r.millis
    );
    for d in &r.datasets {
        println!(
            "  {:<14} {:>9} records  {:>8} people  {:>8} also elsewhere",
            d.dataset, d.records, d.persons, d.linked_to_other_datasets
        );
    }
    for (f, n) in &r.conflicts {
        println!("  held for review: {n} {f} tokens (they would have joined people seen apart)");
    }
    if let Some(t) = &r.truth {
        println!(
            "  against ground truth ({} claims records, {} people): precision {:.4}, recall {:.4}, F1 {:.4}",
            t.records_compared, t.true_persons, t.precision, t.recall, t.f1
        );
    }
    for p in made {
        println!("made the extract of {p} under its permit in force");
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei sweep`.
pub async fn sweep(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let app = open(config, Keys::MustExist).await?;
    let report = app.sweep().await;
    app.close().await?;
    let report = report?;
    println!("warnings added to the outbox: {}", report.warnings);
    for p in &report.closed {
        println!(
            "closed {p}: its period ended; data keys destroyed, deletion certificate recorded"
        );
    }
    for (p, code) in &report.failed {
        eprintln!("could not close {p} ({code}); the next sweep tries again");
    }
    for p in &report.extracts {
        println!("made the extract of {p} under its permit in force");
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn user_id(admin: &UserAdmin, username: &str) -> anyhow::Result<UserId> {
    Ok(admin
        .find_user(username)
        .await
        .with_context(|| format!("user {username:?}"))?
        .id)
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:<16} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn print_ingest(r: &renkei_ingest::IngestReport) {
    let status = match r.status {
        renkei_catalog::VersionStatus::Committed => "committed",
        renkei_catalog::VersionStatus::Refused => "REFUSED",
    };
    println!(
        "{:<16} v{:<3} {status:<9} {:>10} records, {:>7} rejected ({:.2}%), {} files, {:.1} MB in {:.1} s ({:.1} MB/s)",
        r.dataset,
        r.version,
        r.rows_in,
        r.rows_rejected,
        r.reject_rate() * 100.0,
        r.files,
        r.bytes as f64 / 1e6,
        r.seconds,
        r.bytes as f64 / 1e6 / r.seconds.max(1e-9)
    );
    for (t, n) in &r.tables {
        println!("    {t:<20} {n:>10} rows");
    }
    print_records(&r.records);
    print_masters(&r.masters);
    if r.rows_rejected > 0 {
        println!("    reject report: {}", r.reject_report.display());
    }
}

/// What became of each record type: read, stored as rows, flagged (a code the master
/// in force does not hold), rejected, and merged into another row or read past.
fn print_records(records: &[renkei_catalog::RecordTally]) {
    if records.is_empty() {
        return;
    }
    println!(
        "    {:<8} {:>9} {:>9} {:>9} {:>9} {:>16}",
        "record", "read", "stored", "flagged", "rejected", "merged/read past"
    );
    for t in records {
        println!(
            "    {:<8} {:>9} {:>9} {:>9} {:>9} {:>16}",
            t.kind,
            t.read,
            t.stored,
            t.flagged,
            t.rejected,
            t.merged_or_skipped()
        );
    }
}

/// The master versions the codes were checked against.
fn print_masters(masters: &[renkei_masters::MasterVersion]) {
    for m in masters {
        println!(
            "    master {:<10} {:<28} {:>7} codes  sha256 {}",
            m.system.code(),
            m.source,
            m.rows,
            &m.sha256[..16.min(m.sha256.len())]
        );
    }
}

/// `renkei ingest`
pub async fn ingest(config: Option<&Path>, a: IngestArgs) -> anyhow::Result<ExitCode> {
    let sources = ingest_sources(&a)?;
    if a.check {
        let cfg = Config::load(config)?;
        let rate = a.max_reject_rate.unwrap_or(cfg.ingest.max_reject_rate);
        let masters = cfg.masters()?;
        return tokio::task::spawn_blocking(move || check_sources(sources, &masters, rate)).await?;
    }
    let app = open(config, Keys::Tokenizing).await?;
    let caller = operator(Duty::Data);
    let rate = a
        .max_reject_rate
        .unwrap_or(app.config.ingest.max_reject_rate);
    let mut refused = false;
    for (decl, dir) in sources {
        let bar = progress_bar(0);
        bar.set_message(decl.dataset.id.clone());
        let b = bar.clone();
        let cb: std::sync::Arc<dyn Fn(u64, u64) + Send + Sync> =
            std::sync::Arc::new(move |d, t| {
                b.set_length(t);
                b.set_position(d);
            });
        let opts = renkei_ingest::IngestOptions {
            max_reject_rate: rate,
            ..Default::default()
        };
        let r = app.ingestor.ingest(&caller, &decl, &dir, &opts, cb).await;
        bar.finish_and_clear();
        let r = r?;
        print_ingest(&r);
        refused |= r.status == renkei_catalog::VersionStatus::Refused;
    }
    app.close().await?;
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `renkei ingest --check`: every reader and rule, nothing stored.
fn check_sources(
    sources: Vec<(renkei_catalog::Declaration, std::path::PathBuf)>,
    masters: &renkei_masters::Masters,
    rate: f64,
) -> anyhow::Result<ExitCode> {
    let tokens = renkei_ingest::check::ephemeral_tokens()?;
    let mut over = false;
    for (decl, dir) in sources {
        let names = renkei_ingest::matching_files(&dir, &decl.dataset.files)?;
        let mut files = Vec::new();
        for n in &names {
            let p = dir.join(n);
            let bytes = std::fs::read(&p).with_context(|| p.display().to_string())?;
            files.push((n.to_string_lossy().replace('\\', "/"), bytes));
        }
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let r = renkei_ingest::check::check(&decl, masters, &tokens, &refs)?;
        let share = r.reject_rate();
        over |= share > rate;
        println!(
            "{}: {} files, {} records, {} would be rejected ({:.2}%){}",
            decl.dataset.id,
            names.len(),
            r.rows_in,
            r.rows_rejected,
            share * 100.0,
            if share > rate {
                format!(
                    " — over the {:.2}% threshold: the version would be refused",
                    rate * 100.0
                )
            } else {
                String::new()
            }
        );
        for t in &r.tables {
            println!("  {:<24} {:>10} rows", t.name, t.rows);
            for c in t.columns.iter().filter(|c| c.not_in_master > 0) {
                println!(
                    "    {}.{}: {} codes not in the {} master in force (kept and flagged)",
                    t.name,
                    c.name,
                    c.not_in_master,
                    c.master.as_deref().unwrap_or("")
                );
            }
        }
        print_records(&r.records);
        print_masters(&r.masters);
        for j in r.rejects.iter().take(20) {
            println!("  reject {}:{} {} — {}", j.file, j.line, j.field, j.reason);
        }
        if r.rejects.len() > 20 {
            println!("  ... and {} more", r.rows_rejected - 20);
        }
    }
    Ok(if over {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The (declaration, directory) pairs an ingest command names.
fn ingest_sources(
    a: &IngestArgs,
) -> anyhow::Result<Vec<(renkei_catalog::Declaration, std::path::PathBuf)>> {
    Ok(if let Some(world) = &a.world {
        renkei_app::world::sources(world)?
    } else {
        let source = a
            .source
            .clone()
            .context("give --source DIR (with --dataset or --declaration), or --world DIR")?;
        let decl = match (&a.dataset, &a.declaration) {
            (Some(id), None) => renkei_catalog::builtin(id).with_context(|| {
                format!(
                    "no built-in dataset {id:?}; built-in: {}",
                    renkei_catalog::BUILTIN.map(|b| b.0).join(", ")
                )
            })?,
            (None, Some(path)) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
                renkei_catalog::Declaration::parse(&text)
                    .with_context(|| format!("{}", path.display()))?
            }
            _ => bail!("give --dataset ID or --declaration FILE"),
        };
        vec![(decl, source)]
    })
}

/// `renkei synth`
#[derive(Args)]
pub struct SynthArgs {
    /// Number of persons (1,000 for tests, 10,000 for the demo, up to 10,000,000).
    #[arg(long, default_value_t = 10_000)]
    persons: u64,
    /// Seed: the same seed (and generator version) gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (created; must be empty or absent).
    #[arg(long)]
    out: std::path::PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// `renkei synth`
pub fn synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    if a.out.exists() && std::fs::read_dir(&a.out)?.next().is_some() {
        bail!("{} is not empty; choose a new directory", a.out.display());
    }
    let mut cfg = renkei_synth::Config::new(a.persons, a.seed, &a.out);
    if let Some(t) = a.threads {
        cfg.threads = t.max(1);
    }
    let bar = indicatif::ProgressBar::new(a.persons);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {wide_bar} {pos}/{len} persons ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let summary = renkei_synth::generate(&cfg, &|n| bar.set_position(n))?;
    bar.finish_and_clear();
    let c = |k: &str| summary.counts.get(k).copied().unwrap_or(0);
    println!(
        "{} persons in {} areas, seed {}, {:.1} s, {:.1} MB written to {}",
        summary.persons,
        summary.areas,
        summary.seed,
        started.elapsed().as_secs_f64(),
        summary.bytes as f64 / 1e6,
        a.out.display()
    );
    println!(
        "  claims: {} 医科, {} DPC, {} 調剤 receipts; checkups: {}; DPC stays: {}; care certifications: {}; deaths: {}; EHR bundles: {}; registry rows: {}",
        c("uke_ika_receipts"),
        c("uke_dpc_receipts"),
        c("uke_chozai_receipts"),
        c("checkups"),
        c("dpc_stays"),
        c("ltc_certifications"),
        c("deaths"),
        c("ehr_bundles"),
        c("registry_rows")
    );
    println!("  ground truth: {}", a.out.join("ground_truth").display());
    Ok(ExitCode::SUCCESS)
}

/// `renkei init`
pub async fn init(config: Option<&Path>, a: InitArgs) -> anyhow::Result<ExitCode> {
    let app = open(config, Keys::CreateMaster).await?;
    println!("data directory: {}", app.config.data_dir.display());
    if !app.holds_linkage_key() {
        println!(
            "linkage key: not here. The linkage authority creates it with `renkei linkage-key init --out FILE` and provides it as keys.linkage_key_file or RENKEI_LINKAGE_KEY"
        );
    }
    println!("metadata store: {}", app.store_url());
    if let Some(name) = a.admin {
        let pw = read_password(a.password_stdin)?;
        let display = a.display_name.unwrap_or_else(|| name.clone());
        let u = app
            .accounts
            .admin(&operator(Duty::Accounts))
            .await?
            .create_user(&name, &display, &pw, &[Role::Admin])
            .await?;
        println!(
            "created admin {} ({}); they set up their authenticator at first sign-in",
            u.username, u.id
        );
    }
    app.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// Where a user opens their enrolment link.
fn enrol_url(app: &App, token: &str) -> String {
    let base = app
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", app.config.bind));
    format!("{}/enrol/{token}", base.trim_end_matches('/'))
}

/// `renkei user ...`
pub async fn user(config: Option<&Path>, cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let app = open(config, Keys::MustExist).await?;
    let admin = app.accounts.admin(&operator(Duty::Accounts)).await?;
    match cmd {
        UserCmd::Add {
            username,
            display_name,
            roles,
            password_stdin,
        } => {
            let roles = parse_roles(&roles)?;
            let display = display_name.unwrap_or_else(|| username.clone());
            let roles_text = |u: &renkei_accounts::User| {
                u.roles
                    .iter()
                    .map(|r| r.code())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            if password_stdin {
                let pw = read_password(true)?;
                let u = admin.create_user(&username, &display, &pw, &roles).await?;
                println!(
                    "created user {} ({}) with roles {}; they set up their authenticator at first sign-in",
                    u.username,
                    u.id,
                    roles_text(&u)
                );
            } else {
                let (u, link, _) = admin.invite(&username, &display, &roles).await?;
                println!(
                    "invited {} ({}) with roles {}. Give them this single-use link (valid until {}):",
                    u.username,
                    u.id,
                    roles_text(&u),
                    link.expires_at.to_rfc3339()
                );
                println!("{}", enrol_url(&app, &link.token));
            }
        }
        UserCmd::List { json } => {
            let users = admin.list_users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!(
                    "{:<20} {:<10} {:<5} {:<40} DISPLAY NAME",
                    "USERNAME", "STATUS", "MFA", "ROLES"
                );
                for u in users {
                    println!(
                        "{:<20} {:<10} {:<5} {:<40} {}",
                        u.username.as_str(),
                        if u.status == UserStatus::Active {
                            "active"
                        } else {
                            "disabled"
                        },
                        if u.mfa_enrolled { "yes" } else { "no" },
                        u.roles
                            .iter()
                            .map(|r| r.code())
                            .collect::<Vec<_>>()
                            .join(","),
                        u.display_name
                    );
                }
            }
        }
        UserCmd::Disable { username } => {
            let id = user_id(&admin, &username).await?;
            admin.set_status(&id, UserStatus::Disabled).await?;
            println!("disabled {username}; their sessions and API tokens were revoked");
        }
        UserCmd::Enable { username } => {
            let id = user_id(&admin, &username).await?;
            admin.set_status(&id, UserStatus::Active).await?;
            println!("enabled {username}");
        }
        UserCmd::Roles { username, roles } => {
            let id = user_id(&admin, &username).await?;
            let u = match admin.change_roles(&id, &parse_roles(&roles)?).await? {
                renkei_accounts::RoleChange::Applied(u) => u,
                renkei_accounts::RoleChange::Pending { .. } => {
                    anyhow::bail!("the change waits for an administrator's approval")
                }
            };
            println!(
                "{username}: {}",
                u.roles
                    .iter()
                    .map(|r| r.code())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        UserCmd::Custodian {
            username,
            dataset,
            remove,
        } => {
            let id = user_id(&admin, &username).await?;
            let changed = app
                .catalog
                .assign_custodian(&operator(Duty::Accounts), &dataset, &id, !remove)
                .await?;
            println!(
                "{username} {} custodian of {dataset}{}",
                if remove { "is no longer" } else { "is" },
                if changed { "" } else { " (already so)" }
            );
        }
        UserCmd::ResetMfa { username } => {
            let id = user_id(&admin, &username).await?;
            let link = admin.reset_access(&id).await?;
            println!(
                "{username}'s password and authenticator are cleared and their sessions ended. Give them this single-use link (valid until {}):",
                link.expires_at.to_rfc3339()
            );
            println!("{}", enrol_url(&app, &link.token));
        }
        UserCmd::SetPassword {
            username,
            password_stdin,
        } => {
            let id = user_id(&admin, &username).await?;
            let pw = read_password(password_stdin)?;
            admin.set_password(&id, &pw).await?;
            println!("password set for {username}; their sessions have ended");
        }
    }
    app.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// `renkei audit ...`
pub async fn audit(config: Option<&Path>, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(config)?;
    match cmd {
        AuditCmd::Verify {
            public_key,
            witness_keys,
            witness_log,
            max_tail,
            json,
        } => {
            let key = |h: &str, what: &str| {
                renkei_audit::witness::parse_public_key(h)
                    .with_context(|| format!("{what}: an Ed25519 public key, 64 hex characters"))
            };
            let trusted = public_key
                .as_deref()
                .map(|h| key(h, "--public-key"))
                .transpose()?;
            let witness_keys = witness_keys
                .iter()
                .map(|h| key(h, "--witness-key"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let req = renkei_app::VerifyRequest {
                trusted,
                witness_keys,
                witness_log,
                max_tail_secs: max_tail,
            };
            let v = renkei_app::verify_audit(&cfg, &operator(Duty::Audit), req).await?;
            if !v.report.mac_checked {
                eprintln!(
                    "warning: entry MACs were not checked and this verification is not recorded: the master key is not available here"
                );
            } else if !v.recorded {
                eprintln!("warning: this verification could not be recorded in the audit log");
            }
            let report = v.report;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCmd::Export { since, until, out } => {
            let time =
                |s: Option<String>, name: &str| -> anyhow::Result<Option<renkei_core::Timestamp>> {
                    s.map(|v| {
                        renkei_core::Timestamp::parse(&v)
                            .with_context(|| format!("--{name} {v:?}: use YYYY-MM-DD or RFC 3339"))
                    })
                    .transpose()
                };
            let filter = renkei_audit::ExportFilter {
                since: time(since, "since")?,
                until: time(until, "until")?,
                ..Default::default()
            };
            let app = App::open(cfg, Keys::MustExist).await?;
            let reader = app.audit.reader(&operator(Duty::Audit)).await?;
            let n = match &out {
                Some(path) => {
                    let mut f = std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("{}", path.display()))?,
                    );
                    let n = reader.export(&filter, &mut f).await?;
                    f.flush()?;
                    n
                }
                None => {
                    let mut lock = std::io::BufWriter::new(std::io::stdout());
                    reader.export(&filter, &mut lock).await?
                }
            };
            app.close().await?;
            eprintln!("exported {n} entries");
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Checkpoint => {
            let app = App::open(cfg, Keys::MustExist).await?;
            match app.audit.checkpoint().await? {
                Some(cp) => println!("checkpoint at entry {} ({})", cp.seq, cp.hash),
                None => println!("no new entries since the last checkpoint"),
            }
            app.close().await?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::PublicKey => {
            println!("{}", renkei_app::checkpoint_public_key(&cfg)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::WitnessKey { out } => {
            let pk = renkei_audit::witness::new_witness_key(&out)
                .with_context(|| format!("{}: cannot create (it must not exist)", out.display()))?;
            eprintln!(
                "witness key written to {}; keep it on the supervisor's side. Register its public half:",
                out.display()
            );
            println!("{}", hex::encode(pk.to_bytes()));
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Witness {
            key,
            log,
            url,
            token_file,
            ca_file,
            every,
        } => {
            let token = match token_file {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("{}", p.display()))?
                    .trim()
                    .to_owned(),
                None => std::env::var("RENKEI_WITNESS_TOKEN").context(
                    "give --token-file or RENKEI_WITNESS_TOKEN (an auditor's API token)",
                )?,
            };
            let ca = ca_file
                .map(|p| std::fs::read(&p).with_context(|| format!("{}", p.display())))
                .transpose()?;
            let signing = renkei_audit::witness::load_witness_key(&key)
                .with_context(|| format!("{}", key.display()))?;
            let witness = renkei_audit::witness::Witness::new(signing, log);
            let source = crate::witness::HttpSource::new(&url, token, ca.as_deref())?;
            crate::witness::run(
                &witness,
                &source,
                every.map(std::time::Duration::from_secs),
                &|line| println!("{line}"),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(r: &renkei_audit::VerifyReport) {
    if !r.witness_checked {
        eprintln!(
            "warning: no witness key: this verification trusts the operator's own keys (see `renkei audit witness-key`)"
        );
    }
    if r.unverified_checkpoints > 0 {
        eprintln!(
            "warning: {} checkpoints were not checked: give the trusted key with --public-key (see `renkei audit public-key`)",
            r.unverified_checkpoints
        );
    }
    match r.first_problem() {
        None => println!(
            "audit log OK: {} entries (last {}), {} signed checkpoints{}, MACs {}",
            r.entries,
            r.last_seq,
            r.checkpoints,
            r.latest_checkpoint
                .map(|s| format!(" (latest at entry {s})"))
                .unwrap_or_default(),
            if r.mac_checked {
                "checked"
            } else {
                "not checked (no master key)"
            }
        ),
        Some(p) => {
            println!(
                "audit log FAILED: entry {} {}: {}",
                p.seq,
                p.kind.name(),
                p.detail
            );
            println!("{} problems in {} entries:", r.problems.len(), r.entries);
            for p in r.problems.iter().take(50) {
                println!("  entry {:>8}  {:<10} {}", p.seq, p.kind.name(), p.detail);
            }
            if r.problems.len() > 50 {
                println!(
                    "  ... and {} more (use --json for all)",
                    r.problems.len() - 50
                );
            }
        }
    }
    if r.witness_checked {
        println!(
            "witnessed: up to entry {}; not yet countersigned: {} entries, the oldest waiting {} s",
            r.latest_witnessed
                .map_or_else(|| "(none)".to_owned(), |s| s.to_string()),
            r.tail_entries,
            r.tail_secs
        );
    } else if r.entries > 0 {
        println!(
            "not yet covered by a signed checkpoint: {} entries, the oldest waiting {} s",
            r.tail_entries, r.tail_secs
        );
    }
}

/// `renkei totp-code`
pub fn totp_code(secret: &str) -> anyhow::Result<ExitCode> {
    let now = renkei_core::time::Clock::now(&renkei_core::time::SystemClock).secs() as u64;
    let code = renkei_accounts::current_code(secret, now).context("not a base32 TOTP secret")?;
    println!("{code}");
    Ok(ExitCode::SUCCESS)
}

/// `renkei serve`
pub async fn serve(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let app = open(config, Keys::MustExist).await?;
    let listener = std::net::TcpListener::bind(&app.config.bind)
        .with_context(|| format!("cannot listen on {}", app.config.bind))?;
    let addr = listener.local_addr()?;
    let scheme = if app.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("Renkei listening on {scheme}://{addr}/");
    run(app, listener).await
}

async fn run(app: App, listener: std::net::TcpListener) -> anyhow::Result<ExitCode> {
    let state = renkei_server::AppState::new(app);
    renkei_server::serve(state, listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}

/// `renkei demo`
pub async fn demo(config: Option<&Path>, a: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::load(config)?;
    if std::env::var_os("RENKEI_DATA_DIR").is_none() && config.is_none() {
        cfg.data_dir = "renkei-demo".into();
    }
    renkei_app::demo::prepare_dir(&cfg.data_dir, a.fresh)?;
    let explicit_bind = std::env::var_os("RENKEI_BIND").is_some() || config.is_some();
    let listener = match std::net::TcpListener::bind(&cfg.bind) {
        Ok(l) => l,
        Err(e) if !explicit_bind => {
            tracing::info!("{} is taken ({e}); using a free port", cfg.bind);
            std::net::TcpListener::bind("127.0.0.1:0")?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen on {}", cfg.bind)),
    };
    if cfg.public_url.is_none() {
        // The port may be a free one picked just now; exported links must use it.
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        cfg.public_url = Some(format!("{scheme}://{}", listener.local_addr()?));
    }
    // The demo plays the supervisor's witness too (see DemoWitness for where a real one
    // lives): its public key is registered, and it countersigns over the API.
    let demo_witness = renkei_app::demo::DemoWitness::ensure(&cfg.data_dir)?;
    if !cfg.audit.witness_keys.contains(&demo_witness.public_hex()) {
        cfg.audit.witness_keys.push(demo_witness.public_hex());
    }
    let app = App::open(cfg, Keys::CreateIfMissing).await?;
    let accounts = renkei_app::demo::ensure_accounts(&app).await?;
    renkei_app::demo::ensure_world(&app, a.persons, &|line| println!("{line}")).await?;
    renkei_app::demo::assign_custodians(&app).await?;
    renkei_app::demo_review::seed_review(&app).await?;
    renkei_app::demo::ensure_index(&app, &|line| println!("{line}")).await?;
    // The world is ingested: from here on this process serves, and the web server never
    // holds the linkage key. Reopen with the master key alone.
    let cfg = (*app.config).clone();
    app.close().await?;
    let app = App::open(cfg, Keys::MustExist).await?;
    let witness_token = renkei_app::demo::witness_token(&app, &accounts).await?;
    let ca = match &app.config.tls {
        Some(t) => Some(
            std::fs::read(&t.cert_file).with_context(|| format!("{}", t.cert_file.display()))?,
        ),
        None => None,
    };
    let source = crate::witness::HttpSource::new(
        app.config.public_url.as_deref().unwrap_or_default(),
        witness_token,
        ca.as_deref(),
    )?;
    let every = std::time::Duration::from_secs(app.config.audit.checkpoint_interval_secs);
    let witness_log = demo_witness.log.clone();
    tokio::spawn(async move {
        let witness = renkei_audit::witness::Witness::new(demo_witness.key, demo_witness.log);
        // Give the server a moment to start listening.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        if let Err(e) = crate::witness::run(&witness, &source, Some(every), &|line| {
            tracing::info!("witness: {line}")
        })
        .await
        {
            tracing::error!("witness: {e:#}");
        }
    });
    let addr = listener.local_addr()?;
    let scheme = if app.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "renkei".into());
    let mut out = String::new();
    out.push_str("\n  Renkei demo is ready / デモの準備ができました\n\n");
    out.push_str(&format!("  Open / 開く:   {scheme}://{addr}/\n"));
    out.push_str(&format!(
        "  Catalogue / データカタログ (no sign-in / ログイン不要): {scheme}://{addr}/catalog\n"
    ));
    out.push_str(&format!(
        "  Data / データ: {}\n",
        app.config.data_dir.display()
    ));
    out.push_str(&format!(
        "  Audit witness / 監査ログの連署: every {} s, record in {}\n\n",
        app.config.audit.checkpoint_interval_secs,
        witness_log.display()
    ));
    out.push_str(&format!(
        "  {:<18} {:<12} {:<20} {}\n",
        "ROLE", "USERNAME", "PASSWORD", "TOTP SECRET (base32)"
    ));
    for acc in &accounts {
        out.push_str(&format!(
            "  {:<18} {:<12} {:<20} {}\n",
            acc.role.code(),
            acc.username,
            acc.password,
            acc.totp_secret
        ));
    }
    out.push_str("\n  Sign in with a username and password, then a one-time code.\n");
    out.push_str("  Add a secret to any authenticator app, or print the current code with:\n");
    out.push_str(&format!("    {exe} totp-code <TOTP SECRET>\n"));
    out.push_str("  ユーザー名とパスワードの後に、ワンタイムコードを入力します。\n");
    out.push_str("  Stop with Ctrl-C. Run again to reuse this world; --fresh starts over.\n\n");
    print!("{out}");
    std::io::stdout().flush()?;
    run(app, listener).await
}
