//! CSV files with a declared schema (D3/D7): a private database joins by declaration.
//! Columns are found by their header; identifying columns (by role) become tokens,
//! `birth_ym` and `postal3`, and are not stored.

use crate::IngestError;
use crate::ctx::{ReadCtx, birth_ym};
use renkei_catalog::{ColType, ColumnDecl, ColumnRole, Declaration};

/// Reads declared CSV files into the dataset's (first) table.
pub struct DeclaredCsvReader {
    source: Vec<ColumnDecl>,
    table: usize,
    stored: Vec<(usize, usize)>,
    birth_ym_col: Option<usize>,
    postal_col: Option<usize>,
    token_cols: Vec<(String, usize)>,
    cp932: bool,
}

fn parse_value(ty: ColType, s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Ok(());
    }
    match ty {
        ColType::Int => s
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| "not a whole number"),
        ColType::Float => s.parse::<f64>().map(|_| ()).map_err(|_| "not a number"),
        ColType::Date => renkei_core::wareki::parse_any(s)
            .map(|_| ())
            .ok_or("not a date"),
        ColType::Bool => {
            if matches!(s, "0" | "1" | "true" | "false") {
                Ok(())
            } else {
                Err("not a boolean")
            }
        }
        _ => Ok(()),
    }
}

impl DeclaredCsvReader {
    /// A reader for a declaration.
    pub fn new(d: &Declaration, ctx: &ReadCtx) -> Result<Self, IngestError> {
        let src = d
            .tables
            .first()
            .ok_or_else(|| IngestError::Schema("no table declared".into()))?;
        let table = ctx.table(&src.name)?;
        let sink = &ctx.tables[table];
        let mut stored = Vec::new();
        let (mut birth_ym_col, mut postal_col) = (None, None);
        for (i, c) in src.columns.iter().enumerate() {
            match c.role {
                Some(ColumnRole::KanaName) | Some(ColumnRole::KanjiName) => {}
                Some(ColumnRole::BirthDate) => birth_ym_col = Some(sink.col("birth_ym")?),
                Some(ColumnRole::PostalCode) => {
                    postal_col = Some(sink.col(c.store_as.as_deref().unwrap_or("postal3"))?)
                }
                _ => stored.push((i, sink.col(c.stored_name())?)),
            }
        }
        let token_cols = d
            .dataset
            .linkage
            .iter()
            .map(|l| Ok((l.clone(), sink.col(l)?)))
            .collect::<Result<_, IngestError>>()?;
        Ok(Self {
            source: src.columns.clone(),
            table,
            stored,
            birth_ym_col,
            postal_col,
            token_cols,
            cp932: d.dataset.encoding.as_deref().is_some_and(|e| {
                e.eq_ignore_ascii_case("cp932") || e.eq_ignore_ascii_case("shift_jis")
            }),
        })
    }

    /// Reads one file.
    pub fn read(&mut self, ctx: &mut ReadCtx, bytes: &[u8]) -> Result<(), IngestError> {
        let text = if self.cp932 {
            match crate::ctx::decode_cp932(bytes) {
                Some(t) => t.into_owned(),
                None => {
                    ctx.reject_file(bytes, "not CP932 text");
                    return Ok(());
                }
            }
        } else {
            match std::str::from_utf8(bytes) {
                Ok(t) => t.trim_start_matches('\u{feff}').to_owned(),
                Err(_) => {
                    ctx.reject_file(bytes, "not UTF-8 text");
                    return Ok(());
                }
            }
        };
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .collect();
        let mut pos = Vec::new();
        for c in &self.source {
            match header.iter().position(|h| *h == c.name) {
                Some(p) => pos.push(p),
                None => {
                    ctx.reject_file(
                        bytes,
                        &format!("declared column {:?} is not in the header", c.name),
                    );
                    return Ok(());
                }
            }
        }
        for (n, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let ln = n as u64 + 2;
            ctx.rows_in += 1;
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |i: usize| f.get(pos[i]).copied().unwrap_or("");
            let (mut kana, mut kanji, mut birth, mut sex) = (None, None, None, None);
            let mut problem = None;
            for (i, c) in self.source.iter().enumerate() {
                let v = get(i);
                match c.role {
                    Some(ColumnRole::KanaName) => kana = Some(v),
                    Some(ColumnRole::KanjiName) => kanji = Some(v),
                    Some(ColumnRole::BirthDate) => match renkei_core::wareki::parse_any(v) {
                        Some(d) => birth = Some(d),
                        None => problem = Some((c.name.clone(), "not a date")),
                    },
                    Some(ColumnRole::Sex) => sex = Some(v),
                    _ => {}
                }
                if problem.is_none() {
                    if !c.codes.is_empty() && !v.is_empty() && !c.codes.iter().any(|x| x == v) {
                        problem = Some((c.name.clone(), "not one of the declared codes"));
                    } else if let Err(why) = parse_value(c.ty, v) {
                        problem = Some((c.name.clone(), why));
                    }
                }
                if problem.is_some() {
                    break;
                }
            }
            if let Some((field, why)) = problem {
                ctx.reject(ln, &field, why);
                continue;
            }
            let mut covered = Vec::new();
            let t = &mut ctx.tables[self.table];
            for (src, dst) in &self.stored {
                let v = get(*src);
                let c = &self.source[*src];
                match c.ty {
                    ColType::Int => t.int(*dst, v.parse().ok()),
                    ColType::Float => t.float(*dst, v.parse().ok()),
                    ColType::Date => {
                        let d = renkei_core::wareki::parse_any(v);
                        t.date(*dst, d);
                        if let Some(d) = d {
                            covered.push(d);
                        }
                    }
                    ColType::Bool => t.boolean(
                        *dst,
                        if v.is_empty() {
                            None
                        } else {
                            Some(v == "1" || v == "true")
                        },
                    ),
                    _ => t.text(*dst, Some(v)),
                }
            }
            if let (Some(col), Some(b)) = (self.birth_ym_col, birth) {
                t.text(col, Some(&birth_ym(b)));
            }
            if let Some(col) = self.postal_col {
                let p = self
                    .source
                    .iter()
                    .position(|c| c.role == Some(ColumnRole::PostalCode))
                    .map(get)
                    .unwrap_or("");
                t.text(
                    col,
                    Some(
                        &p.chars()
                            .filter(char::is_ascii_digit)
                            .take(3)
                            .collect::<String>(),
                    ),
                );
            }
            for (family, col) in &self.token_cols {
                let tok = match (family.as_str(), birth, sex) {
                    ("id2", Some(b), Some(s)) => kana.and_then(|k| ctx.tokens.id2(k, b, s)),
                    ("kanji", Some(b), Some(s)) => kanji.and_then(|k| ctx.tokens.kanji(k, b, s)),
                    _ => None,
                };
                ctx.tables[self.table].token(*col, tok);
            }
            for d in covered {
                ctx.cover(d);
            }
            ctx.tables[self.table].end_row()?;
        }
        Ok(())
    }
}
