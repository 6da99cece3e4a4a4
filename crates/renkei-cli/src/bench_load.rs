//! The workspace under load, from a second process on loopback: `renkei serve` runs as
//! a child over a prepared world; `researchers` people named on one project each run
//! the example queries back to back through the API, while another client times pages
//! that have nothing to do with queries. Reported: errors, query times, those pages'
//! p99 against the same pages on the idle server, and the server's peak memory against
//! its configured budget.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use renkei_core::{AuthMethod, Caller, Duty, Role, TokenScope};
use serde_json::{Value, json};

use crate::bench::line;

const PASSWORD: &str = "load-bench-password-2026";

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Kilobytes of a `/proc/<pid>/status` field (VmHWM: peak resident memory).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Times `n` requests of each probe page, one after another.
async fn probe(c: &reqwest::Client, base: &str, token: &str, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n * 2);
    for _ in 0..n {
        for (path, auth) in [("/catalog", false), ("/api/v1/me", true)] {
            let mut r = c.get(format!("{base}{path}"));
            if auth {
                r = r.bearer_auth(token);
            }
            let t = Instant::now();
            let ok = r.send().await.is_ok_and(|r| r.status().is_success());
            if ok {
                out.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out
}

/// Runs the load test.
pub async fn load(persons: u64, researchers: usize, rounds: usize) -> anyhow::Result<()> {
    let (dir, app) = crate::bench_link::demo_world(persons).await?;
    app.linkage
        .run(&Caller::operator("bench", Duty::Linkage), None)
        .await?;
    let admin = app
        .accounts
        .admin(&Caller::operator("bench", Duty::Accounts))
        .await?;
    let mut users = Vec::new();
    for i in 0..researchers {
        users.push(
            admin
                .create_user(
                    &format!("load{i:02}"),
                    &format!("負荷 {i}"),
                    PASSWORD,
                    &[Role::Researcher],
                )
                .await?,
        );
    }
    let project = renkei_app::demo_review::seed_shared_project(&app, &users).await?;
    app.ensure_extracts().await;
    let mut tokens = Vec::new();
    for u in &users {
        let caller = Caller::user(
            u.id.clone(),
            u.username.clone(),
            vec![Role::Researcher],
            AuthMethod::SessionMfa,
            "bench",
        );
        let scope = TokenScope::Project(project.clone());
        tokens.push(
            app.accounts
                .create_api_token(&caller, "load", 7, scope, PASSWORD)
                .await?
                .1,
        );
    }
    // The prober is someone else: the demo's committee member.
    let member = admin.find_user("committee").await?;
    let member_c = Caller::user(
        member.id.clone(),
        member.username.clone(),
        member.roles.clone(),
        AuthMethod::SessionMfa,
        "bench",
    );
    let probe_pw = "probe-password-2026-x";
    admin.set_password(&member.id, probe_pw).await?;
    let probe_token = app
        .accounts
        .create_api_token(&member_c, "probe", 7, TokenScope::ReadOnly, probe_pw)
        .await?
        .1;
    let budget_mib = {
        let w = &app.config.workspace;
        w.queries_total * w.query_memory_mib
    };
    app.close().await?;

    // The server, a second process.
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .env("RENKEI_DATA_DIR", dir.path())
        .env("RENKEI_BIND", "127.0.0.1:0")
        // All clients come from one loopback address: the per-client rate limit would
        // measure itself, not the workspace.
        .env("RENKEI_HTTP_PER_CLIENT_PER_SEC", "100000")
        .env("RENKEI_HTTP_PER_CLIENT_BURST", "100000")
        .env("RENKEI_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting renkei serve")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("server stdout")?;
    let base = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        for l in lines.by_ref() {
            let l = l.ok()?;
            if let Some(rest) = l.strip_prefix("Renkei listening on ") {
                // Keep draining so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Some(rest.trim_end_matches('/').to_owned());
            }
        }
        None
    })
    .await?
    .context("the server did not start")?;
    let result = drive(
        &base,
        &project,
        &tokens,
        &probe_token,
        rounds,
        pid,
        budget_mib,
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    base: &str,
    project: &str,
    tokens: &[String],
    probe_token: &str,
    rounds: usize,
    pid: u32,
    budget_mib: usize,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let base_rss = status_kb(pid, "VmRSS:").unwrap_or(0);
    let mut idle = probe(&client, base, probe_token, 100).await;
    let (idle_p50, idle_p99) = (percentile(&mut idle, 0.5), percentile(&mut idle, 0.99));

    let started = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (c, base, token, stop) = (
            client.clone(),
            base.to_owned(),
            probe_token.to_owned(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut all = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                all.extend(probe(&c, &base, &token, 5).await);
            }
            all
        })
    };
    let mut workers = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (c, url, token) = (
            client.clone(),
            format!("{base}/api/v1/projects/{project}/queries"),
            token.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut errors = Vec::new();
            let examples = renkei_workspace::examples::EXAMPLES;
            for r in 0..rounds {
                let e = &examples[(i + r) % examples.len()];
                let t = Instant::now();
                let answer: Result<Value, String> = async {
                    let resp = c
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({ "sql": e.sql, "wait_ms": 30000 }))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let mut v: Value = resp.json().await.map_err(|e| e.to_string())?;
                    if !status.is_success() {
                        return Err(format!("{status}: {v}"));
                    }
                    // Still running after the wait: ask until it ends.
                    while v["state"] == "running" {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let id = v["id"].as_str().unwrap_or_default().to_owned();
                        v = c
                            .get(format!("{url}/{id}"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .map_err(|e| e.to_string())?
                            .json()
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(v)
                }
                .await;
                match answer {
                    Ok(v) if v["state"] == "finished" => {
                        times.push(t.elapsed().as_secs_f64() * 1000.0)
                    }
                    Ok(v) => errors.push(format!("{}: {}", e.id, v)),
                    Err(msg) => errors.push(format!("{}: {msg}", e.id)),
                }
            }
            (times, errors)
        }));
    }
    let mut times = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        let (t, e) = w.await?;
        times.extend(t);
        errors.extend(e);
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut pages = prober.await?;
    let peak = status_kb(pid, "VmHWM:").unwrap_or(0);
    let n = times.len();
    println!(
        "{:<34} {} researchers × {rounds} queries: {n} answered, {} errors in {secs:.1} s; query p50 {:.0} ms, p99 {:.0} ms",
        "workspace load",
        tokens.len(),
        errors.len(),
        percentile(&mut times, 0.5),
        percentile(&mut times, 0.99),
    );
    for e in errors.iter().take(5) {
        println!("{:<34}   error: {e}", "");
    }
    line(
        "other pages under query load",
        format!(
            "p99 {:.1} ms (p50 {:.1})",
            percentile(&mut pages, 0.99),
            percentile(&mut pages, 0.5)
        ),
        format!("idle server p99 {idle_p99:.1} ms (p50 {idle_p50:.1})"),
        "p99 < 100 ms, no errors",
    );
    line(
        "server peak memory under load",
        format!("{} MiB", peak / 1024),
        format!(
            "{} MiB at rest + {budget_mib} MiB engine budget",
            base_rss / 1024
        ),
        "within the budget",
    );
    Ok(())
}
