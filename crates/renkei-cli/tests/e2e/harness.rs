//! Running the binary and talking to it.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const PW: &str = "correct horse battery staple";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_renkei"))
}

/// Environment for one platform instance: its own data dir and store.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new(database_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vars = vec![
            ("RENKEI_DATA_DIR".into(), dir.path().display().to_string()),
            ("RENKEI_DATABASE_URL".into(), database_url.to_owned()),
            ("RENKEI_BIND".into(), "127.0.0.1:0".into()),
            // Cheap hashing keeps the suite fast; the parameters are exercised elsewhere.
            ("RENKEI_ARGON2_MEMORY_KIB".into(), "1024".into()),
            ("RENKEI_ARGON2_ITERATIONS".into(), "1".into()),
            ("RENKEI_LOG".into(), "warn".into()),
            // A small demo world: the full-size one is exercised by the ingest tests.
            ("RENKEI_DEMO_PERSONS".into(), "300".into()),
        ];
        Self { dir, vars }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env_remove("RENKEI_CONFIG")
            .env_remove("RENKEI_MASTER_KEY")
            .env_remove("RENKEI_LINKAGE_KEY");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Runs to completion with `stdin`; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and expects success.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let (code, out, err) = self.run(args, stdin);
        assert_eq!(code, 0, "renkei {args:?} failed:\n{out}\n{err}");
        out
    }

    /// Starts a long-running command and waits for the stdout line containing `ready`.
    pub fn start(&self, args: &[&str], ready: &str) -> Running {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let found = line.contains(ready);
                    seen.push(line);
                    if found {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let err = child.stderr.take().map(|mut e| {
                        let mut s = String::new();
                        let _ = std::io::Read::read_to_string(&mut e, &mut s);
                        s
                    });
                    panic!("{args:?} never printed {ready:?}; stdout: {seen:#?}; stderr: {err:?}");
                }
            }
        }
        let url = seen
            .iter()
            .find_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with("http://") || w.starts_with("https://"))
                    .map(|u| u.trim_end_matches('/').to_owned())
            })
            .unwrap_or_default();
        Running {
            child,
            url,
            stdout: seen,
            rest: rx,
        }
    }
}

pub struct Running {
    pub child: Child,
    pub url: String,
    pub stdout: Vec<String>,
    rest: mpsc::Receiver<String>,
}

impl Running {
    /// SIGTERM, then wait; returns the exit code.
    pub fn stop(mut self) -> i32 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A browser-like HTTP client: cookies kept, redirects not followed (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn csrf(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[i..i + html[i..].find('"').unwrap()].to_owned()
}

pub fn now_secs() -> u64 {
    renkei_core::time::Clock::now(&renkei_core::time::SystemClock).secs() as u64
}

/// The code for the next 30-second step (accepted: one step of skew), so a second
/// sign-in in the same step as the first does not reuse a code.
pub fn next_code(secret: &str) -> String {
    renkei_accounts::current_code(secret, now_secs() + 30).unwrap()
}

/// Signs `username` in for the first time through the pages, enrolling an
/// authenticator. Returns the TOTP secret.
pub async fn sign_in_and_enrol(
    c: &reqwest::Client,
    base: &str,
    username: &str,
    pw: &str,
) -> String {
    let login = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf(&login).as_str()),
            ("username", username),
            ("password", pw),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/mfa/enrol");
    let enrol = c
        .get(format!("{base}/mfa/enrol"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = enrol
        .find("<code class=\"secret\">")
        .unwrap_or_else(|| panic!("{enrol}"))
        + 21;
    let secret = enrol[i..i + enrol[i..].find('<').unwrap()].replace(' ', "");
    let code = renkei_accounts::current_code(&secret, now_secs()).unwrap();
    let r = c
        .post(format!("{base}/mfa/enrol"))
        .form(&[("csrf", csrf(&enrol).as_str()), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    secret
}

/// Creates an API token (all the user's permissions) on the account page of the
/// signed-in client, confirming with the password [`PW`]. Returns its value.
pub async fn create_api_token(c: &reqwest::Client, base: &str, name: &str) -> String {
    create_scoped_api_token(c, base, name, "all").await
}

/// Creates an API token of `scope` (`all`, `read_only`, `project:<id>`) through the
/// account page, and returns its value.
pub async fn create_scoped_api_token(
    c: &reqwest::Client,
    base: &str,
    name: &str,
    scope: &str,
) -> String {
    let account = c
        .get(format!("{base}/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let page = c
        .post(format!("{base}/account/tokens"))
        .form(&[
            ("csrf", csrf(&account).as_str()),
            ("name", name),
            ("days", "7"),
            ("scope", scope),
            ("password", PW),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = page
        .find("<code class=\"secret\">")
        .unwrap_or_else(|| panic!("{page}"))
        + 21;
    page[i..i + page[i..].find('<').unwrap()].to_owned()
}
