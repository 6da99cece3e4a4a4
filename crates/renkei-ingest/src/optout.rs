//! The opt-out register (A7): a person's request that their data no longer be used,
//! recorded only as the linkage tokens their identifying fields make at the door, the
//! same tokens ingest makes, under the same keyring. No name, number or birth date is
//! stored; an extract made after the request leaves out every record carrying one of
//! the tokens. Recording it needs the linkage key, like ingest, so it is the linkage
//! authority's act at the command line, never the web server's.

use crate::tokens::Tokens;
use crate::{IngestError, Ingestor};
use renkei_core::{Action, Caller, Coded as _, Outcome, Permission};
use renkei_crypto::Rekey;
use renkei_store::sqlx;
use serde::Deserialize;

/// What a person gives at the window. Any of the three ways the platform's datasets
/// know a person may be given; each one given becomes a token.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptOutRequest {
    /// Name in kana (ID2).
    pub kana: String,
    /// Name in kanji (death records, EHR).
    pub kanji: String,
    /// Birth date: `YYYY-MM-DD`, `YYYYMMDD` or a Japanese era date (`昭和16年11月6日`).
    pub birth: String,
    /// `1` or `male`, `2` or `female`.
    pub sex: String,
    /// Health insurer number, 記号 and 番号 (ID1).
    pub insurer: String,
    /// 記号.
    pub kigo: String,
    /// 番号.
    pub bango: String,
}

/// What was recorded: the receipt's id and the token families made (never the tokens
/// or the fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptOutReceipt {
    /// The receipt, to quote if the person withdraws the request.
    pub id: String,
    /// The families recorded (`id1`, `id2`, `kanji`).
    pub families: Vec<&'static str>,
}

impl OptOutRequest {
    /// The tokens it makes, or what is wrong with it (naming the field, never echoing it).
    fn tokens(&self, t: &Tokens) -> Result<Vec<(&'static str, [u8; 16])>, IngestError> {
        let birth = renkei_core::wareki::parse_any(self.birth.trim())
            .ok_or_else(|| IngestError::InvalidRequest("birth: not a date".into()))?;
        let sex = match self.sex.trim() {
            "1" | "male" | "M" | "男" => "1",
            "2" | "female" | "F" | "女" => "2",
            _ => return Err(IngestError::InvalidRequest("sex: not 1 or 2".into())),
        };
        let mut out = Vec::new();
        if !self.insurer.trim().is_empty()
            && let Some(tk) = t.id1(&self.insurer, &self.kigo, &self.bango, birth, sex)
        {
            out.push(("id1", tk.0));
        }
        if let Some(tk) = t.id2(&self.kana, birth, sex) {
            out.push(("id2", tk.0));
        }
        if let Some(tk) = t.kanji(&self.kanji, birth, sex) {
            out.push(("kanji", tk.0));
        }
        if out.is_empty() {
            return Err(IngestError::InvalidRequest(
                "a name (kana or kanji) or an insurer number is needed".into(),
            ));
        }
        Ok(out)
    }
}

impl Ingestor {
    /// Records `req` as tokens (the linkage authority only; refusals audited). The
    /// audit entry names the families, not the person.
    pub async fn record_opt_out(
        &self,
        caller: &Caller,
        req: &OptOutRequest,
    ) -> Result<OptOutReceipt, IngestError> {
        match self.opt_out_checked(caller, req).await {
            Ok(r) => Ok(r),
            Err(e) => {
                if e.kind().is_refusal() || matches!(e, IngestError::InvalidRequest(_)) {
                    self.audit
                        .record(
                            caller
                                .event(Action::OptOut, "opt_out", Outcome::denied(e.code()))
                                .detail(serde_json::json!({ "error": e.to_string() })),
                        )
                        .await?;
                }
                Err(e)
            }
        }
    }

    async fn opt_out_checked(
        &self,
        caller: &Caller,
        req: &OptOutRequest,
    ) -> Result<OptOutReceipt, IngestError> {
        caller.require(Permission::ManageLinkage)?;
        let tokens = Tokens::new(renkei_crypto::Tokenizer::new(
            &self.keys,
            renkei_core::normalize::VERSION,
        )?);
        let made = req.tokens(&tokens)?;
        // Tokens match ingest's only under the platform's keyring.
        let keyring = self.linkage.admit(caller, &self.keys).await?;
        let id = format!("oo-{}", uuid::Uuid::now_v7());
        let now = self.clock.now().micros();
        let mut tx = self.store.begin().await?;
        for (family, token) in &made {
            sqlx::query(
                "INSERT INTO opt_outs (request, token_kind, token, token_generation, recorded_at, recorded_by) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(*family)
            .bind(hex::encode(token))
            .bind(keyring.generation)
            .bind(now)
            .bind(caller.actor().id)
            .execute(&mut *tx)
            .await?;
        }
        let families: Vec<&'static str> = made.iter().map(|(f, _)| *f).collect();
        self.audit
            .append_in(
                &mut tx,
                &[caller
                    .event(Action::OptOut, format!("opt_out:{id}"), Outcome::Allowed)
                    .detail(serde_json::json!({ "families": families }))],
            )
            .await?;
        tx.commit().await?;
        Ok(OptOutReceipt { id, families })
    }

    /// How many requests are in force (not withdrawn).
    pub async fn opt_outs_in_force(&self) -> Result<i64, IngestError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(DISTINCT request) FROM opt_outs WHERE withdrawn_at IS NULL",
        )
        .fetch_one(self.store.pool())
        .await?)
    }
}

/// Re-keys every opt-out token made under `from` to the next generation, inside the
/// rotation's closing transaction, so the register keeps matching the datasets.
pub(crate) async fn rekey_opt_outs(
    tx: &mut renkei_store::Tx,
    step: &Rekey,
    from: i64,
) -> Result<u64, IngestError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT request, token_kind, token FROM opt_outs WHERE token_generation = $1",
    )
    .bind(from)
    .fetch_all(&mut **tx)
    .await?;
    for (request, kind, token) in &rows {
        let mut t = [0u8; 16];
        hex::decode_to_slice(token, &mut t).map_err(|_| {
            IngestError::Schema(format!("opt-out {request}: stored token is not hex"))
        })?;
        sqlx::query(
            "UPDATE opt_outs SET token = $1, token_generation = $2 WHERE request = $3 AND token_kind = $4",
        )
        .bind(hex::encode(step.apply(&t)))
        .bind(from + 1)
        .bind(request)
        .bind(kind)
        .execute(&mut **tx)
        .await?;
    }
    Ok(rows.len() as u64)
}
