//! Where release requests are kept: the machine's [`Request`] written whole in the
//! caller's transaction (so the change and its audit entry commit together) and read
//! back as it was.

use crate::{Ballot, Group, OutputRef, Request, Review, State};
use renkei_sdc::Outcome;
use renkei_store::{StoreError, Tx, sqlx};

/// A stored request that does not read back (a state or verdict this build does not
/// know, or unreadable JSON): never guessed at.
#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A row that does not read back.
    #[error("release request {0}: {1}")]
    Corrupt(String, String),
}

impl From<sqlx::Error> for KeptError {
    fn from(e: sqlx::Error) -> Self {
        KeptError::Store(e.into())
    }
}

fn verdict_code(o: Outcome) -> &'static str {
    o.code()
}

fn verdict(s: &str) -> Option<Outcome> {
    match s {
        "pass" => Some(Outcome::Pass),
        "review" => Some(Outcome::Review),
        "fail" => Some(Outcome::Fail),
        _ => None,
    }
}

/// Writes `r` as request `id` of `project`, replacing what was kept.
pub async fn save(
    tx: &mut Tx,
    id: &str,
    project: &str,
    r: &Request,
    now: i64,
) -> Result<(), KeptError> {
    let involved = serde_json::to_string(&r.involved)
        .map_err(|e| KeptError::Corrupt(id.to_string(), e.to_string()))?;
    let updated = sqlx::query(
        "UPDATE release_requests SET state = $1, turn = $2, involved = $3, updated_at = $4 \
         WHERE id = $5 AND project = $6",
    )
    .bind(r.state.code())
    .bind(i64::from(r.turn))
    .bind(&involved)
    .bind(now)
    .bind(id)
    .bind(project)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO release_requests (id, project, author, state, turn, involved, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(project)
        .bind(&r.author)
        .bind(r.state.code())
        .bind(i64::from(r.turn))
        .bind(&involved)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    for table in ["release_groups", "release_outputs"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE request = $1"))
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM release_reviews WHERE request = $1 AND turn = $2")
        .bind(id)
        .bind(i64::from(r.turn))
        .execute(&mut **tx)
        .await?;
    let mut k = 0i64;
    for (g_pos, g) in r.groups.iter().enumerate() {
        sqlx::query(
            "INSERT INTO release_groups (request, position, name, context, controls) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(g_pos as i64)
        .bind(&g.name)
        .bind(&g.context)
        .bind(&g.controls)
        .execute(&mut **tx)
        .await?;
        for o in &g.outputs {
            sqlx::query(
                "INSERT INTO release_outputs (request, output_id, group_name, position, verdict, exception, supporting) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(&o.id)
            .bind(&g.name)
            .bind(k)
            .bind(verdict_code(o.verdict))
            .bind(o.exception.as_deref())
            .bind(i64::from(o.supporting))
            .execute(&mut **tx)
            .await?;
            k += 1;
        }
    }
    for (pos, rv) in r.reviews.iter().enumerate() {
        let ballots = serde_json::to_string(&rv.ballots)
            .map_err(|e| KeptError::Corrupt(id.to_string(), e.to_string()))?;
        sqlx::query(
            "INSERT INTO release_reviews (request, turn, checker, position, submitted, ballots) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(i64::from(r.turn))
        .bind(&rv.checker)
        .bind(pos as i64)
        .bind(i64::from(rv.submitted))
        .bind(&ballots)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Reads request `id` of `project` as it was kept, or `None`.
pub async fn load(tx: &mut Tx, id: &str, project: &str) -> Result<Option<Request>, KeptError> {
    let bad = |m: String| KeptError::Corrupt(id.to_string(), m);
    let row: Option<(String, String, i64, String)> = sqlx::query_as(
        "SELECT author, state, turn, involved FROM release_requests WHERE id = $1 AND project = $2",
    )
    .bind(id)
    .bind(project)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((author, state, turn, involved)) = row else {
        return Ok(None);
    };
    let state = State::parse(&state).ok_or_else(|| bad(format!("unknown state {state:?}")))?;
    let involved: Vec<String> = serde_json::from_str(&involved).map_err(|e| bad(e.to_string()))?;
    let turn = u32::try_from(turn).map_err(|_| bad(format!("turn {turn}")))?;
    let groups: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, context, controls FROM release_groups WHERE request = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let outputs: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT output_id, group_name, verdict, exception, supporting FROM release_outputs \
         WHERE request = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|(name, context, controls)| Group {
            name,
            context,
            controls,
            outputs: Vec::new(),
        })
        .collect();
    for (oid, group, v, exception, supporting) in outputs {
        let verdict = verdict(&v).ok_or_else(|| bad(format!("unknown verdict {v:?}")))?;
        let g = groups
            .iter_mut()
            .find(|g| g.name == group)
            .ok_or_else(|| bad(format!("output {oid} in unknown group {group:?}")))?;
        g.outputs.push(OutputRef {
            id: oid,
            verdict,
            exception,
            supporting: supporting != 0,
        });
    }
    let reviews: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT checker, submitted, ballots FROM release_reviews WHERE request = $1 AND turn = $2 ORDER BY position",
    )
    .bind(id)
    .bind(i64::from(turn))
    .fetch_all(&mut **tx)
    .await?;
    let reviews = reviews
        .into_iter()
        .map(|(checker, submitted, ballots)| {
            let ballots: Vec<Ballot> =
                serde_json::from_str(&ballots).map_err(|e| bad(e.to_string()))?;
            Ok(Review {
                checker,
                ballots,
                submitted: submitted != 0,
            })
        })
        .collect::<Result<Vec<_>, KeptError>>()?;
    Ok(Some(Request {
        state,
        author,
        involved,
        groups,
        reviews,
        turn,
        checkers_needed: 2,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Act, Vote, Who};
    use renkei_store::{Store, store_test};

    async fn a_request_reads_back_as_it_was_kept_turn_by_turn(store: Store) {
        let mut r = Request::new("r1", vec!["r1".into()]);
        r.groups.push(Group {
            name: "g".into(),
            context: "what".into(),
            controls: "how".into(),
            outputs: vec![
                OutputRef {
                    id: "o-1".into(),
                    verdict: Outcome::Fail,
                    exception: Some("why".into()),
                    supporting: false,
                },
                OutputRef {
                    id: "o-2".into(),
                    verdict: Outcome::Review,
                    exception: None,
                    supporting: true,
                },
            ],
        });
        let author = Who {
            user: "r1",
            checker: false,
        };
        let c1 = Who {
            user: "c1",
            checker: true,
        };
        r.apply(author, Act::Submit).unwrap();
        r.apply(
            c1,
            Act::Vote(Ballot {
                output: "o-1".into(),
                vote: Vote::ChangesRequested,
                comment: Some("merge bands".into()),
                public: true,
                override_reason: None,
            }),
        )
        .unwrap();
        r.apply(c1, Act::SubmitReview).unwrap();
        let mut tx = store.begin().await.unwrap();
        save(&mut tx, "rr-1", "p-1", &r, 1).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            load(&mut tx, "rr-1", "p-1").await.unwrap().as_ref(),
            Some(&r)
        );
        assert!(load(&mut tx, "rr-1", "p-2").await.unwrap().is_none());
        // Returned and resubmitted: the new turn starts with no reviews; the old
        // turn's stay kept.
        r.apply(
            c1,
            Act::Return {
                comment: "see comments".into(),
            },
        )
        .unwrap();
        r.apply(author, Act::Submit).unwrap();
        save(&mut tx, "rr-1", "p-1", &r, 2).await.unwrap();
        let back = load(&mut tx, "rr-1", "p-1").await.unwrap().unwrap();
        assert_eq!(
            (back.state, back.turn, back.reviews.len()),
            (State::Submitted, 2, 0)
        );
        let kept: i64 =
            sqlx::query_scalar("SELECT count(*) FROM release_reviews WHERE request = 'rr-1'")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(kept, 1);
        tx.commit().await.unwrap();
    }

    store_test!(a_request_reads_back_as_it_was_kept_turn_by_turn);
}
