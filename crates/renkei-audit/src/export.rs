//! Reading the log out: JSON Lines for the auditor, recent entries for the UI.

use crate::AuditError;
use crate::chain::{COLUMNS, EntryRow};
use futures::TryStreamExt as _;
use renkei_core::Timestamp;
use renkei_store::Store;
use renkei_store::sqlx;
use serde::Serialize;
use std::io::Write;

/// Which entries to read.
#[derive(Clone, Debug, Default)]
pub struct ExportFilter {
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// Exact actor (`user:<id>`, `cli`, ...).
    pub actor: Option<String>,
    /// Action prefix (`auth.` for every sign-in event).
    pub action_prefix: Option<String>,
    /// Only denials.
    pub denied_only: bool,
}

impl ExportFilter {
    /// The filter as the audit entry of a read records it.
    pub(crate) fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "since": self.since.map(|t| t.to_rfc3339()),
            "until": self.until.map(|t| t.to_rfc3339()),
            "actor": self.actor,
            "action": self.action_prefix,
            "denied_only": self.denied_only,
        })
    }

    fn where_clause(&self) -> (String, Vec<Bind>) {
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        if let Some(t) = self.since {
            binds.push(Bind::I(t.micros()));
            conds.push(format!("at >= ${}", binds.len()));
        }
        if let Some(t) = self.until {
            binds.push(Bind::I(t.micros()));
            conds.push(format!("at < ${}", binds.len()));
        }
        if let Some(a) = &self.actor {
            binds.push(Bind::S(a.clone()));
            conds.push(format!("actor = ${}", binds.len()));
        }
        if let Some(p) = &self.action_prefix {
            // substr rather than LIKE (no pattern characters to escape) or a range (which
            // depends on the collation).
            binds.push(Bind::S(p.clone()));
            let n = binds.len();
            conds.push(format!("substr(action, 1, length(${n})) = ${n}"));
        }
        if self.denied_only {
            conds.push("outcome = 'denied'".into());
        }
        let w = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        (w, binds)
    }
}

enum Bind {
    I(i64),
    S(String),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::I(i) => q.bind(*i),
            Bind::S(s) => q.bind(s.as_str()),
        };
    }
    q
}

/// One exported line.
#[derive(Serialize)]
struct Line<'a> {
    seq: i64,
    at: String,
    at_us: i64,
    actor: &'a str,
    actor_name: &'a str,
    actor_roles: &'a str,
    action: &'a str,
    object: &'a str,
    outcome: &'a str,
    reason: &'a str,
    request_id: &'a str,
    detail: serde_json::Value,
    prev_hash: &'a str,
    hash: &'a str,
    mac: &'a str,
    client: &'a str,
}

fn line(e: &EntryRow) -> Line<'_> {
    Line {
        seq: e.seq,
        at: Timestamp(e.at).to_rfc3339(),
        at_us: e.at,
        actor: &e.actor,
        actor_name: &e.actor_name,
        actor_roles: &e.actor_roles,
        action: &e.action,
        object: &e.object,
        outcome: &e.outcome,
        reason: &e.reason,
        request_id: &e.request_id,
        detail: serde_json::from_str(&e.detail)
            .unwrap_or(serde_json::Value::String(e.detail.clone())),
        prev_hash: &e.prev_hash,
        hash: &e.hash,
        mac: &e.mac,
        client: &e.client,
    }
}

/// Writes matching entries as JSON Lines, oldest first. Returns how many.
pub(crate) async fn export_jsonl(
    store: &Store,
    filter: &ExportFilter,
    out: &mut (dyn Write + Send),
) -> Result<u64, AuditError> {
    let (w, binds) = filter.where_clause();
    let sql = format!("SELECT {COLUMNS} FROM audit_log{w} ORDER BY seq");
    let mut rows = bind_all(sqlx::query(&sql), &binds).fetch(store.pool());
    let mut n = 0;
    let io = AuditError::Export;
    while let Some(r) = rows.try_next().await? {
        let e = EntryRow::from_row(&r)?;
        serde_json::to_writer(&mut *out, &line(&e)).map_err(|e| io(std::io::Error::other(e)))?;
        out.write_all(b"\n").map_err(io)?;
        n += 1;
    }
    out.flush().map_err(io)?;
    Ok(n)
}

/// Bytes handed on at a time by [`export_chunks`].
const CHUNK: usize = 64 * 1024;

/// Sends matching entries as JSON Lines, oldest first, in chunks of about 64 KiB,
/// waiting whenever the receiver is behind: the log is never held whole. Returns how
/// many; stops early (with an error) if the receiver goes away.
pub(crate) async fn export_chunks(
    store: &Store,
    filter: &ExportFilter,
    tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<u64, AuditError> {
    let (w, binds) = filter.where_clause();
    let sql = format!("SELECT {COLUMNS} FROM audit_log{w} ORDER BY seq");
    let mut rows = bind_all(sqlx::query(&sql), &binds).fetch(store.pool());
    let gone = || AuditError::Export(std::io::Error::other("the receiver went away"));
    let mut buf = Vec::with_capacity(CHUNK);
    let mut n = 0;
    while let Some(r) = rows.try_next().await? {
        let e = EntryRow::from_row(&r)?;
        serde_json::to_writer(&mut buf, &line(&e))
            .map_err(|e| AuditError::Export(std::io::Error::other(e)))?;
        buf.push(b'\n');
        n += 1;
        if buf.len() >= CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK));
            tx.send(full).await.map_err(|_| gone())?;
        }
    }
    if !buf.is_empty() {
        tx.send(buf).await.map_err(|_| gone())?;
    }
    Ok(n)
}

/// The newest `limit` matching entries, newest first.
pub async fn recent(
    store: &Store,
    filter: &ExportFilter,
    limit: i64,
) -> Result<Vec<EntryRow>, AuditError> {
    let (w, binds) = filter.where_clause();
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log{w} ORDER BY seq DESC LIMIT {}",
        limit.clamp(1, 10_000)
    );
    let rows = bind_all(sqlx::query(&sql), &binds)
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| EntryRow::from_row(r).map_err(Into::into))
        .collect()
}
