//! `renkei`: one binary for every face of the platform. Each subcommand parses its
//! arguments, loads the configuration and calls library code; nothing here decides
//! anything a library should.

mod bench;
mod bench_data;
mod bench_link;
mod bench_load;
mod bench_query;
mod bench_sdc;
mod commands;
mod witness;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Renkei information linkage platform (情報連携基盤).
#[derive(Parser)]
#[command(name = "renkei", version, about, long_about = None, after_help = env_help())]
struct Cli {
    /// Configuration file (TOML). Environment variables override it.
    #[arg(long, global = true, env = "RENKEI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a demo world (every role's account) and serve the web UI until Ctrl-C.
    Demo(commands::DemoArgs),
    /// Serve the web UI and API.
    Serve,
    /// Create the data directory, keys and database; optionally the first admin.
    Init(commands::InitArgs),
    /// As the database's owner: bring the schema up to date and install the
    /// append-only guards; optionally grant a serving role what it needs and no more.
    Migrate(commands::MigrateArgs),
    /// Manage users.
    #[command(subcommand)]
    User(commands::UserCmd),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(commands::AuditCmd),
    /// Print the current one-time code for a TOTP secret (base32), like `oathtool --totp`.
    TotpCode {
        /// The secret, base32.
        secret: String,
    },
    /// Ingest a dataset (or a whole synthetic world) as a new encrypted version.
    Ingest(commands::IngestArgs),
    /// The linkage authority's key: create it, show its fingerprint, rotate it.
    #[command(subcommand)]
    LinkageKey(commands::LinkageKeyCmd),
    /// Generate a synthetic world: a population and its health databases in their real formats.
    Synth(commands::SynthArgs),
    /// Record opt-out requests (the linkage authority, with the linkage key): one JSON
    /// object per line on standard input, with any of `kana`, `kanji`, `insurer`/`kigo`/
    /// `bango`, and `birth` and `sex`. Only the linkage tokens they make are stored; every
    /// project's extract is remade without the person.
    OptOut,
    /// Run the linkage authority's person index over every dataset's current version:
    /// a new index version with its quality report (records and people per dataset,
    /// tokens held for review; with `--truth`, precision and recall). Extracts made
    /// afterwards link people through it.
    Link(commands::LinkArgs),
    /// The platform's daily sweep: warn people 30 and 7 days before their permits and
    /// accreditations end (the outbox), and close every project whose period has ended,
    /// destroying its data keys with a deletion certificate. The server runs it hourly;
    /// run it from cron where no server runs. It also makes the extract of every
    /// project in use whose permit has none yet.
    Sweep,
    /// Measure the platform's performance (audit log, sign-in, pages, linkage tokens,
    /// ingest, synthetic data), each figure beside a baseline from the same run.
    Bench(bench::BenchArgs),
}

fn env_help() -> String {
    let mut s = String::from(
        "Environment variables:\n  RENKEI_CONFIG  configuration file\n  RENKEI_LOG     log filter (e.g. info, renkei=debug)\n  RENKEI_LOG_FORMAT  text or json\n",
    );
    for (k, v) in renkei_app::ENV_VARS {
        s.push_str(&format!("  {k}  {v}\n"));
    }
    s.push_str("  RENKEI_MASTER_KEY / RENKEI_LINKAGE_KEY  keys as 64 hex characters (instead of key files)\n");
    s
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RENKEI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("RENKEI_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Demo(_) | Command::Serve);
    init_tracing(if serving { "info,sqlx=warn" } else { "warn" });
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("renkei: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Demo(a) => commands::demo(cli.config.as_deref(), a).await,
            Command::Serve => commands::serve(cli.config.as_deref()).await,
            Command::Init(a) => commands::init(cli.config.as_deref(), a).await,
            Command::Migrate(a) => commands::migrate(cli.config.as_deref(), a).await,
            Command::User(c) => commands::user(cli.config.as_deref(), c).await,
            Command::Audit(c) => commands::audit(cli.config.as_deref(), c).await,
            Command::TotpCode { secret } => commands::totp_code(&secret),
            Command::Synth(a) => commands::synth(a),
            Command::Ingest(a) => commands::ingest(cli.config.as_deref(), a).await,
            Command::LinkageKey(c) => commands::linkage_key(cli.config.as_deref(), c).await,
            Command::OptOut => commands::opt_out(cli.config.as_deref()).await,
            Command::Sweep => commands::sweep(cli.config.as_deref()).await,
            Command::Link(a) => commands::link(cli.config.as_deref(), a).await,
            Command::Bench(a) => bench::run(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line, with the cause chain: what failed and why.
            eprintln!("renkei: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
