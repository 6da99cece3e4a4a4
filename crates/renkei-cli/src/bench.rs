//! `renkei bench`: the platform's performance figures, each printed beside a baseline measured
//! in the same run on the same machine. Build with `--release` (or `--profile
//! bench-lto`); debug builds give meaningless numbers.

use anyhow::Context as _;
use clap::Args;
use renkei_app::{App, Config, Keys};
use renkei_audit::{Audit, VerifyOptions};
use renkei_core::time::SystemClock;
use renkei_core::{Action, Actor, AuditEvent, Caller, Outcome, Role};
use renkei_crypto::{KeyStore, PasswordHasher, PasswordParams, RootKey};
use renkei_store::{Store, StoreOptions};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `renkei bench`
#[derive(Args)]
pub struct BenchArgs {
    /// Which figures: all, audit, signin, page, tokens, ingest, synth, index, extract,
    /// query, load, sdc (or verify: verification alone, repeated).
    #[arg(long, default_value = "all")]
    only: String,
    /// Audit entries to append and verify.
    #[arg(long, default_value_t = 200_000)]
    entries: usize,
    /// Concurrent producers for the group-commit figure.
    #[arg(long, default_value_t = 512)]
    producers: usize,
    /// Also measure the audit figures on this PostgreSQL server (a fresh database is
    /// created and dropped).
    #[arg(long, env = "RENKEI_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Identifiers to tokenize.
    #[arg(long, default_value_t = 2_000_000)]
    tokens: usize,
    /// Persons in the world whose UKE files are ingested.
    #[arg(long, default_value_t = 20_000)]
    ingest_persons: u64,
    /// Persons to generate for the synth figure (10000000 for the full figure).
    #[arg(long, default_value_t = 200_000)]
    synth_persons: u64,
    /// Persons for the person-index figure (10000000 for the full figure).
    #[arg(long, default_value_t = 1_000_000)]
    index_persons: u64,
    /// Persons in the world whose extract is materialized.
    #[arg(long, default_value_t = 20_000)]
    extract_persons: u64,
    /// Persons in the world whose project extract the query workload runs on.
    #[arg(long, default_value_t = 20_000)]
    query_persons: u64,
    /// Runs of each query (the median is reported).
    #[arg(long, default_value_t = 5)]
    query_runs: usize,
    /// Researchers running queries at once in the load test.
    #[arg(long, default_value_t = 20)]
    load_researchers: usize,
    /// Queries each of them runs, back to back.
    #[arg(long, default_value_t = 10)]
    load_rounds: usize,
    /// Cells of the frequency table the output checks run on.
    #[arg(long, default_value_t = 1_000_000)]
    sdc_cells: usize,
    /// Earlier releases the differencing check compares a new table with.
    #[arg(long, default_value_t = 1_000)]
    sdc_releases: usize,
    /// Skip the comparison with ACRO (which takes a minute or more on 1,000,000 cells).
    #[arg(long)]
    no_acro: bool,
    /// Persons in the world of the load test.
    #[arg(long, default_value_t = 20_000)]
    load_persons: u64,
    /// Delete generated files as they are written (for 10 M persons on a small disk).
    #[arg(long)]
    discard: bool,
}

pub(crate) fn line(name: &str, figure: String, baseline: String, target: &str) {
    println!("{name:<34} {figure:>22}   baseline: {baseline:<38} target: {target}");
}

/// Runs the selected benchmarks.
pub async fn run(a: BenchArgs) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; build with --release for meaningful figures");
    }
    println!(
        "renkei bench — {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH
    );
    let all = a.only == "all";
    if all || a.only == "audit" {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let store = Store::open(&url, &StoreOptions::default()).await?;
        audit_figures("SQLite", &store, &a).await?;
        store.close().await;
        if let Some(pg) = &a.postgres {
            let (store, drop_db) = fresh_postgres(pg).await?;
            audit_figures("PostgreSQL", &store, &a).await?;
            store.close().await;
            drop_db.await?;
        }
    }
    if a.only == "verify" {
        // Verification alone, repeated, on a log filled in bulk, beside reading the
        // rows alone: for profiling (on PostgreSQL with --postgres).
        let dir = tempfile::tempdir()?;
        let (store, cleanup, backend) = match &a.postgres {
            Some(pg) => {
                let (s, c) = fresh_postgres(pg).await?;
                (s, Some(c), "PostgreSQL")
            }
            None => (
                Store::open(
                    &format!("sqlite://{}/bench.db", dir.path().display()),
                    &StoreOptions::default(),
                )
                .await?,
                None,
                "SQLite",
            ),
        };
        let keys = Arc::new(KeyStore::from_keys(RootKey::generate(), None));
        let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);
        for chunk in 0..a.entries.div_ceil(1000) {
            let mut tx = store.begin().await?;
            let events: Vec<_> = (0..1000).map(|i| event(chunk * 1000 + i)).collect();
            audit.append_in(&mut tx, &events).await?;
            tx.commit().await?;
        }
        for _ in 0..5 {
            let t = Instant::now();
            let r = renkei_audit::verify(
                &store,
                &VerifyOptions {
                    keys: Some(keys.clone()),
                    ..Default::default()
                },
            )
            .await?;
            let vrate = r.entries as f64 / t.elapsed().as_secs_f64();
            let read_rate = read_rows(&store).await?;
            println!(
                "audit verify ({backend}, bulk-filled)  {vrate:.0} entries/s; reading the rows alone {read_rate:.0}/s"
            );
        }
        store.close().await;
        if let Some(c) = cleanup {
            c.await?;
        }
    }
    if all || a.only == "signin" {
        signin_figures()?;
        signin_uniformity().await?;
    }
    if all || a.only == "page" {
        page_figures().await?;
    }
    if all || a.only == "tokens" {
        crate::bench_data::tokens(a.tokens)?;
    }
    if all || a.only == "ingest" {
        crate::bench_data::ingest(a.ingest_persons).await?;
    }
    if all || a.only == "index" {
        let n = a.index_persons;
        tokio::task::spawn_blocking(move || crate::bench_link::index(n)).await??;
    }
    if all || a.only == "extract" {
        crate::bench_link::extract(a.extract_persons).await?;
    }
    if all || a.only == "query" {
        crate::bench_query::queries(a.query_persons, a.query_runs.max(1)).await?;
    }
    if all || a.only == "load" {
        crate::bench_load::load(
            a.load_persons,
            a.load_researchers.max(1),
            a.load_rounds.max(1),
        )
        .await?;
    }
    if all || a.only == "sdc" {
        crate::bench_sdc::figures(a.sdc_cells.max(1), a.sdc_releases.max(1), !a.no_acro)?;
    }
    if all || a.only == "synth" {
        let (n, discard) = (a.synth_persons, a.discard);
        tokio::task::spawn_blocking(move || crate::bench_data::synth(n, discard)).await??;
    }
    Ok(ExitCode::SUCCESS)
}

fn event(i: usize) -> AuditEvent {
    AuditEvent::new(
        Actor::cli("bench", "audit"),
        Action::Probe,
        format!("object:{i}"),
        Outcome::Allowed,
    )
    .request(format!("req-{i}"))
    .detail(serde_json::json!({ "i": i, "rows": 12345 }))
}

async fn audit_figures(backend: &str, store: &Store, a: &BenchArgs) -> anyhow::Result<()> {
    let keys = Arc::new(KeyStore::from_keys(RootKey::generate(), None));
    let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);

    // Baseline: one transaction (one durable commit) per entry.
    let n_base = 500;
    let t = Instant::now();
    for i in 0..n_base {
        let mut tx = store.begin().await?;
        audit.append_in(&mut tx, &[event(i)]).await?;
        tx.commit().await?;
    }
    let base_rate = n_base as f64 / t.elapsed().as_secs_f64();

    // Figure: group commit under concurrent producers.
    let per = a.entries.div_ceil(a.producers);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..a.producers {
        let au = audit.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                au.record(event(p * per + i)).await?;
            }
            Ok::<_, renkei_audit::AuditError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let n = per * a.producers;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    line(
        &format!("audit append, durable ({backend})"),
        format!("{:.0} entries/s", rate),
        format!("{:.0}/s one commit per entry", base_rate),
        ">= 20,000/s",
    );
    println!(
        "{:<34} ({} producers, {} entries, synchronous=FULL on SQLite)",
        "", a.producers, n
    );

    // Verify, against the cost of hashing alone.
    let total = n + n_base;
    let t = Instant::now();
    let report = renkei_audit::verify(
        store,
        &VerifyOptions {
            keys: Some(keys.clone()),
            ..Default::default()
        },
    )
    .await?;
    let vrate = report.entries as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.is_ok(),
        "verification found problems: {:?}",
        report.first_problem()
    );
    anyhow::ensure!(
        report.entries as usize == total,
        "expected {total} entries, verified {}",
        report.entries
    );
    let sample = event(1);
    let detail = serde_json::to_string(&sample.detail)?;
    let fields = [
        "cli",
        "bench",
        "operator",
        Action::Probe.code(),
        "object:1",
        "allowed",
        "",
        "req-1",
        detail.as_str(),
    ];
    let t = Instant::now();
    let mut h = [0u8; 32];
    let reps = 1_000_000;
    for i in 0..reps {
        h = renkei_audit::entry_hash(&h, i, fields);
    }
    let hash_rate = reps as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(h);
    let read_rate = read_rows(store).await?;
    line(
        &format!("audit verify ({backend})"),
        format!("{:.0} entries/s", vrate),
        format!("{:.0}/s SHA-256 alone, 1 core", hash_rate),
        ">= 1,000,000/s",
    );
    line(
        "",
        String::new(),
        format!("{:.0}/s reading the rows alone", read_rate),
        "",
    );
    Ok(())
}

/// Rows per second reading the whole log, as verification reads it, doing nothing else.
async fn read_rows(store: &Store) -> anyhow::Result<f64> {
    let t = Instant::now();
    let sql = "SELECT seq, at, actor, actor_name, actor_roles, action, object, outcome, reason, request_id, detail, prev_hash, hash, mac FROM audit_log ORDER BY seq";
    let mut rx = store.scan(sql, Vec::new(), 14, 4096);
    let mut read = 0usize;
    while let Some(b) = rx.recv().await {
        read += b?.len();
    }
    Ok(read as f64 / t.elapsed().as_secs_f64())
}

fn signin_figures() -> anyhow::Result<()> {
    let time = |p: PasswordParams| -> anyhow::Result<Duration> {
        let h = PasswordHasher::new(p);
        let phc = h.hash("correct horse battery staple")?;
        let mut v: Vec<Duration> = (0..9)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(h.verify("correct horse battery staple", &phc));
                t.elapsed()
            })
            .collect();
        v.sort();
        Ok(v[v.len() / 2])
    };
    let d = PasswordParams::default();
    let ours = time(d)?;
    let owasp = time(PasswordParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    })?;
    line(
        "sign-in: argon2id verify (median)",
        format!("{:.0} ms", ours.as_secs_f64() * 1000.0),
        format!(
            "{:.0} ms OWASP minimum m=19MiB t=2",
            owasp.as_secs_f64() * 1000.0
        ),
        "50–250 ms",
    );
    println!(
        "{:<34} (m={} KiB, t={}, p={})",
        "", d.memory_kib, d.iterations, d.parallelism
    );
    Ok(())
}

/// How long the password step takes to answer an unknown name, a locked account and a
/// wrong password, with the real argon2 parameters: the three must not be told apart.
async fn signin_uniformity() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = Config {
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let app = App::open(cfg, Keys::CreateMaster).await?;
    let pw = "correct horse battery staple";
    let admin = app
        .accounts
        .admin(&Caller::operator("bench", renkei_core::Duty::Accounts))
        .await?;
    admin
        .create_user("victim", "被害者", pw, &[Role::Researcher])
        .await?;
    let attacker = Caller::anonymous("bench").from_source("203.0.113.1");
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    let time = |name: &'static str, pw: &'static str, n: usize| {
        let app = app.clone();
        let attacker = attacker.clone();
        async move {
            let mut v = Vec::new();
            for _ in 0..n {
                let t = Instant::now();
                let r = app
                    .accounts
                    .sign_in_password(&attacker, name, pw, "bench")
                    .await;
                v.push(t.elapsed());
                anyhow::ensure!(r.is_err(), "a bench sign-in succeeded");
            }
            Ok::<_, anyhow::Error>(v)
        }
    };
    let wrong = median(time("victim", "not the password at all", 5).await?);
    // The five wrong passwords above locked the pair: now every answer is a lock's.
    let locked = median(time("victim", pw, 7).await?);
    let unknown = median(time("nobody-here", pw, 7).await?);
    let spread = [wrong, locked, unknown]
        .iter()
        .fold(0.0f64, |m, a| m.max((a - wrong).abs()));
    line(
        "sign-in: unknown / locked / wrong",
        format!("{unknown:.0} / {locked:.0} / {wrong:.0} ms"),
        format!("spread {spread:.1} ms of {wrong:.0} ms"),
        "indistinguishable",
    );
    app.close().await?;
    Ok(())
}

async fn page_figures() -> anyhow::Result<()> {
    use tower_service_ext::oneshot;
    let dir = tempfile::tempdir()?;
    let cfg = Config {
        data_dir: dir.path().to_owned(),
        password: PasswordParams::insecure_for_tests(),
        ..Default::default()
    };
    let app = App::open(cfg, Keys::CreateIfMissing).await?;
    let op = Caller::operator("bench", renkei_core::Duty::Accounts);
    let admin = app.accounts.admin(&op).await?;
    let pw = "correct horse battery staple";
    let u = admin
        .create_user("bench", "ベンチ", pw, &[Role::Researcher, Role::Auditor])
        .await?;
    let secret = b"bench-secret-bench-secret";
    admin.enrol_known_secret(&u.id, secret).await?;
    let anon = Caller::anonymous("bench");
    let signin = app
        .accounts
        .sign_in_password(&anon, "bench", pw, "bench")
        .await?;
    let s = app.accounts.resolve_session(&signin.token).await?;
    let now = renkei_core::time::Clock::now(&renkei_core::time::SystemClock).secs() as u64;
    let code = renkei_accounts::current_code(&renkei_accounts::encode_secret(secret), now)
        .context("code")?;
    let token = app.accounts.verify_mfa(&anon, &s, &code).await?;
    let router = renkei_server::router(renkei_server::AppState::new(app.clone()));
    let cookie = format!("{}={token}", renkei_server::SESSION_COOKIE);
    let measure = |path: &'static str, cookie: Option<String>| {
        let router = router.clone();
        async move {
            let mut v = Vec::with_capacity(2000);
            for _ in 0..2000 {
                let t = Instant::now();
                let status = oneshot(&router, path, cookie.as_deref()).await?;
                v.push(t.elapsed());
                anyhow::ensure!(status == 200, "{path} answered {status}");
            }
            v.sort();
            Ok::<_, anyhow::Error>((v[v.len() / 2], v[v.len() * 95 / 100]))
        }
    };
    let (home50, home95) = measure("/home", Some(cookie.clone())).await?;
    let (audit50, _) = measure("/audit", Some(cookie.clone())).await?;
    let (health50, _) = measure("/healthz", None).await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // The public catalogue over a small world, beside the signed-in home page: served
    // from the cached, pre-folded view it should be at least as fast.
    renkei_app::demo::ensure_world(&app, 300, &|_| {}).await?;
    let (cat50, cat95) = measure("/catalog", None).await?;
    let (q50, _) = measure("/catalog?q=%E6%AD%BB%E4%BA%A1%20icd", None).await?;
    let throughput = |path: &'static str, cookie: Option<String>| {
        let router = router.clone();
        async move {
            let until = Instant::now() + Duration::from_secs(2);
            let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut tasks = Vec::new();
            for _ in 0..64 {
                let (router, cookie, n) = (router.clone(), cookie.clone(), n.clone());
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < until {
                        if oneshot(&router, path, cookie.as_deref()).await? == 200 {
                            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Ok::<_, anyhow::Error>(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            Ok::<_, anyhow::Error>(n.load(std::sync::atomic::Ordering::Relaxed) as f64 / 2.0)
        }
    };
    // 1,000 applications in the store, all the researcher's: their list and one
    // application's page.
    let researcher = Caller::user(
        u.id.clone(),
        u.username.clone(),
        vec![Role::Researcher],
        renkei_core::AuthMethod::SessionMfa,
        "bench",
    );
    let desk = app.applications.applicant(&researcher).await?;
    let mut first = String::new();
    for i in 0..1000 {
        let a = renkei_access::application::Application {
            title: format!("ベンチ申出 {i}"),
            institution: "合成大学".into(),
            handlers: vec![u.id.to_string()],
            ..Default::default()
        };
        let id = desk.create(&a).await?;
        if first.is_empty() {
            first = id;
        }
    }
    let one: &'static str = Box::leak(format!("/applications/{first}").into_boxed_str());
    let (apps50, apps95) = measure("/applications", Some(cookie.clone())).await?;
    let (app50, _) = measure(one, Some(cookie.clone())).await?;
    // 1,000 projects under a permit (another researcher's, so that the list above
    // keeps its 1,000), each through the whole review: the public register and the
    // auditor's list of projects.
    let other = admin
        .create_user("bench2", "ベンチ2", pw, &[Role::Researcher])
        .await?;
    permitted_projects(&app, &admin, &other, 1000).await?;
    let (reg50, reg95) = measure("/register", None).await?;
    let (proj50, _) = measure("/projects", Some(cookie.clone())).await?;
    let cat_rps = throughput("/catalog", None).await?;
    let home_rps = throughput("/home", Some(cookie)).await?;
    line(
        "public /catalog, 64 at once",
        format!(
            "{cat_rps:.0} requests/s (p50 {:.2} ms alone, p95 {:.2})",
            ms(cat50),
            ms(cat95)
        ),
        format!("{home_rps:.0}/s signed-in /home"),
        "≥ /home",
    );
    line(
        "public /catalog search (p50)",
        format!("{:.2} ms", ms(q50)),
        format!("{:.2} ms /home", ms(home50)),
        "< 5 ms",
    );
    line(
        "signed-in page /home (p50)",
        format!("{:.2} ms (p95 {:.2})", ms(home50), ms(home95)),
        format!("{:.2} ms /healthz, no session", ms(health50)),
        "< 5 ms",
    );
    line(
        "/applications, 1,000 in the store, 50 a page (p50)",
        format!("{:.2} ms (p95 {:.2})", ms(apps50), ms(apps95)),
        format!("{:.2} ms /home", ms(home50)),
        "< 10 ms",
    );
    line(
        "one application's page (p50)",
        format!("{:.2} ms", ms(app50)),
        format!("{:.2} ms /home", ms(home50)),
        "< 10 ms",
    );
    line(
        "public /register, 1,000 projects, 50 a page (p50)",
        format!("{:.2} ms (p95 {:.2})", ms(reg50), ms(reg95)),
        format!("{:.2} ms /home", ms(home50)),
        "< 10 ms",
    );
    line(
        "/projects, 1,000 in the store, 50 a page (p50)",
        format!("{:.2} ms", ms(proj50)),
        format!("{:.2} ms /home", ms(home50)),
        "< 10 ms",
    );
    line(
        "signed-in page /audit, 200 rows (p50)",
        format!("{:.2} ms", ms(audit50)),
        String::new(),
        "< 5 ms",
    );
    app.close().await?;
    Ok(())
}

/// `n` projects of `researcher`, each taken from draft to permit through the services:
/// submission, a meeting, a quorate decision, the custodian's confirmation.
async fn permitted_projects(
    app: &App,
    admin: &renkei_accounts::UserAdmin,
    researcher: &renkei_accounts::User,
    n: usize,
) -> anyhow::Result<()> {
    use renkei_access::application::{Application, DataRequest, Purpose, TableRequest};
    use renkei_access::committee::{Expertise, Member, Sex};
    let pw = "correct horse battery staple";
    let as_caller = |u: &renkei_accounts::User, role: Role| {
        Caller::user(
            u.id.clone(),
            u.username.clone(),
            vec![role],
            renkei_core::AuthMethod::SessionMfa,
            "bench",
        )
    };
    let sec_user = admin
        .create_user("bench-sec", "事務局", pw, &[Role::Secretariat])
        .await?;
    let sec = app
        .applications
        .secretariat(&as_caller(&sec_user, Role::Secretariat))
        .await?;
    let today = app.applications.today();
    let later = |days| {
        today
            .checked_add(time::Duration::days(days))
            .unwrap_or(today)
    };
    sec.accredit(&renkei_access::accreditation::Accreditation {
        user: researcher.id.to_string(),
        course: "研修".into(),
        trained_on: Some(today),
        pledge_signed_on: Some(today),
        institution: "合成大学".into(),
        safety_measures: "施錠".into(),
        expires_on: later(365),
        revoked: None,
    })
    .await?;
    let attrs = [
        (Expertise::NaturalScience, false, Sex::Male),
        (Expertise::HumanitiesSocial, true, Sex::Female),
        (Expertise::GeneralPublic, true, Sex::Male),
        (Expertise::NaturalScience, false, Sex::Female),
        (Expertise::NaturalScience, false, Sex::Male),
    ];
    let mut present = Vec::new();
    for (i, (expertise, external, sex)) in attrs.into_iter().enumerate() {
        let m = admin
            .create_user(&format!("bench-m{i}"), "委員", pw, &[Role::CommitteeMember])
            .await?;
        sec.appoint(&Member {
            id: m.id.to_string(),
            expertise,
            external,
            sex,
        })
        .await?;
        present.push(m.id.to_string());
    }
    let cust_user = admin
        .create_user("bench-cust", "保有者", pw, &[Role::Custodian])
        .await?;
    app.catalog
        .assign_custodian(
            &Caller::operator("bench", renkei_core::Duty::Accounts),
            "deaths",
            &cust_user.id,
            true,
        )
        .await?;
    let custody = app
        .applications
        .custodian(&as_caller(&cust_user, Role::Custodian))
        .await?;
    let desk = app
        .applications
        .applicant(&as_caller(researcher, Role::Researcher))
        .await?;
    let meeting = sec.schedule("ベンチ委員会", today, &[]).await?;
    for i in 0..n {
        let a = Application {
            title: format!("ベンチ研究 {i}"),
            institution: "合成大学".into(),
            handlers: vec![researcher.id.to_string()],
            purpose: Some(Purpose::Research),
            purpose_text: "死亡の記述".into(),
            summary_ja: "死亡の動向を調べます。".into(),
            public_interest: "公衆衛生".into(),
            commercial: Some(false),
            why_pseudonymized: "個人単位の集計".into(),
            methods: "記述疫学".into(),
            data: vec![DataRequest {
                dataset: "deaths".into(),
                tables: vec![TableRequest {
                    table: "deaths".into(),
                    variables: vec!["sex".into()],
                }],
                ..Default::default()
            }],
            use_from: Some(today),
            use_to: Some(later(300)),
            place_of_use: "Visiting".into(),
            publication_plan: "論文".into(),
            safety_measures: "施錠".into(),
            conflicts_of_interest: "なし".into(),
            ..Default::default()
        };
        let id = desk.create(&a).await?;
        desk.submit(&id).await?;
        sec.send_to_meeting(&id, &meeting.id).await?;
        sec.decide(&id, renkei_access::flow::Decision::Approve, &present, "")
            .await?;
        custody.confirm(&id, "deaths", "").await?;
    }
    Ok(())
}

/// One in-process request through the full middleware stack (no socket), returning the
/// status. Written here with `tower::ServiceExt` so the bench needs no HTTP client.
mod tower_service_ext {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    pub async fn oneshot(
        router: &axum::Router,
        path: &str,
        cookie: Option<&str>,
    ) -> anyhow::Result<u16> {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = router.clone().oneshot(req.body(Body::empty())?).await?;
        let status = resp.status().as_u16();
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
        Ok(status)
    }
}

async fn fresh_postgres(
    url: &str,
) -> anyhow::Result<(Store, impl std::future::Future<Output = anyhow::Result<()>>)> {
    renkei_store::sqlx::any::install_default_drivers();
    let admin = renkei_store::sqlx::AnyPool::connect(url)
        .await
        .context("bench PostgreSQL")?;
    let name = format!("renkei_bench_{}", std::process::id());
    renkei_store::sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&admin)
        .await?;
    renkei_store::sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    let db_url = format!(
        "{}/{name}",
        url.rsplit_once('/').map(|(a, _)| a).unwrap_or(url)
    );
    let store = Store::open(
        &db_url,
        &StoreOptions {
            max_connections: 16,
            ..Default::default()
        },
    )
    .await?;
    let cleanup = async move {
        renkei_store::sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
        admin.close().await;
        Ok(())
    };
    Ok((store, cleanup))
}
