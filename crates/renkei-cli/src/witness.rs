//! The witness on the supervisor's side, talking to the platform over its API: it
//! fetches the newest checkpoint and the entries since the last one it countersigned,
//! checks they continue what it saw, countersigns with a key the platform never holds,
//! keeps its own copy and hands the countersignature back.

use anyhow::Context as _;
use renkei_audit::witness::{Witness, WitnessSource};
use renkei_audit::{Checkpoint, EntryRow, WitnessedCheckpoint};
use std::time::Duration;

/// The platform's audit API, called with an auditor's API token.
pub struct HttpSource {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// A call to the platform failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request did not complete.
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    /// The platform refused or failed.
    #[error("{status} from {url}: {body}")]
    Status {
        /// The status.
        status: reqwest::StatusCode,
        /// The URL called (no token in it).
        url: String,
        /// The error body, shortened.
        body: String,
    },
}

impl HttpSource {
    /// A source at `base` (e.g. `https://renkei.example.jp`), with an API token of an
    /// auditor, trusting the system's roots and `ca_pem` if given.
    pub fn new(base: &str, token: String, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("renkei-witness/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            b = b.add_root_certificate(
                reqwest::Certificate::from_pem(pem).context("--ca-file: not a PEM certificate")?,
            );
        }
        Ok(Self {
            client: b.build()?,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, HttpError> {
        let resp = req.bearer_auth(&self.token).send().await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let url = resp.url().path().to_owned();
        let body: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(500)
            .collect();
        Err(HttpError::Status { status, url, body })
    }
}

impl WitnessSource for HttpSource {
    type Error = HttpError;

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, HttpError> {
        let url = format!("{}/api/v1/audit/checkpoint", self.base);
        Ok(self.send(self.client.post(url)).await?.json().await?)
    }

    async fn entries_after(&self, seq: i64, limit: i64) -> Result<Vec<EntryRow>, HttpError> {
        let url = format!("{}/api/v1/audit/chain", self.base);
        let req = self
            .client
            .get(url)
            .query(&[("after_seq", seq), ("limit", limit)]);
        Ok(self.send(req).await?.json().await?)
    }

    async fn submit(&self, w: &WitnessedCheckpoint) -> Result<(), HttpError> {
        let url = format!("{}/api/v1/audit/witness", self.base);
        self.send(self.client.post(url).json(w)).await?;
        Ok(())
    }
}

fn now_micros() -> i64 {
    renkei_core::time::Clock::now(&renkei_core::time::SystemClock).micros()
}

/// Runs rounds: once, or every `every` until the process ends. A refusal (the
/// platform's log does not continue what was countersigned) ends the loop with an
/// error: that is the alarm. Failures to reach the platform are reported and retried.
pub async fn run(
    witness: &Witness,
    source: &HttpSource,
    every: Option<Duration>,
    say: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<()> {
    let Some(every) = every else {
        return match witness.round(source, now_micros()).await? {
            Some(w) => {
                say(&format!("countersigned the log up to entry {}", w.seq));
                Ok(())
            }
            None => {
                say("nothing new to countersign");
                Ok(())
            }
        };
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match witness.round(source, now_micros()).await {
            Ok(Some(w)) => say(&format!("countersigned the log up to entry {}", w.seq)),
            Ok(None) => {}
            Err(e @ renkei_audit::witness::RoundError::Refused(_)) => {
                return Err(e).context("ALARM: the platform's audit log no longer continues what this witness countersigned");
            }
            Err(e) => say(&format!("witness round failed (will retry): {e}")),
        }
    }
}
