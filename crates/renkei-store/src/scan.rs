//! Bulk reads: a read-only query's rows streamed in batches, for whole-table walks
//! (audit verification, export) where per-row overhead dominates.
//!
//! Why not through the pool: sqlx's SQLite driver hands every row from its worker thread
//! to the async side one at a time (about 18 µs a row here), and the `Any` driver copies
//! every value again. For SQLite we read the file directly with rusqlite on a thread of
//! our own (the same bundled SQLite library sqlx links); for PostgreSQL, a native sqlx
//! connection. Rows arrive in batches with one text buffer each, so a batch of 4096 rows
//! costs a handful of allocations.

use crate::{Backend, Store, StoreError};
use tokio::sync::mpsc;

/// A value to bind to a `$n` placeholder.
#[derive(Clone, Debug)]
pub enum ScanBind {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

#[derive(Clone, Copy, Debug)]
enum Cell {
    Null,
    Int(i64),
    Text { start: u32, len: u32 },
}

/// Up to `batch_rows` rows of integer and text cells.
#[derive(Debug)]
pub struct Batch {
    ncols: usize,
    cells: Vec<Cell>,
    text: String,
}

impl Batch {
    fn new(ncols: usize, rows: usize) -> Self {
        Self {
            ncols,
            cells: Vec::with_capacity(ncols * rows),
            text: String::with_capacity(rows * 256),
        }
    }
    fn push_text(&mut self, s: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        self.cells.push(Cell::Text {
            start,
            len: s.len() as u32,
        });
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.cells.len().checked_div(self.ncols).unwrap_or(0)
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
    /// An integer cell (`None` if NULL or text).
    pub fn int(&self, row: usize, col: usize) -> Option<i64> {
        match self.cells.get(row * self.ncols + col) {
            Some(Cell::Int(i)) => Some(*i),
            _ => None,
        }
    }
    /// A text cell (`None` if NULL or an integer).
    pub fn text(&self, row: usize, col: usize) -> Option<&str> {
        match self.cells.get(row * self.ncols + col) {
            Some(Cell::Text { start, len }) => {
                self.text.get(*start as usize..(*start + *len) as usize)
            }
            _ => None,
        }
    }
}

impl Store {
    /// Streams the rows of a read-only query with `ncols` columns in batches of
    /// `batch_rows`. Reading runs on its own thread (SQLite) or task (PostgreSQL) while
    /// the caller consumes, with a few batches of buffer between them.
    pub fn scan(
        &self,
        sql: &str,
        binds: Vec<ScanBind>,
        ncols: usize,
        batch_rows: usize,
    ) -> mpsc::Receiver<Result<Batch, StoreError>> {
        let (tx, rx) = mpsc::channel(4);
        let sql = sql.to_owned();
        let batch_rows = batch_rows.max(1);
        match self.backend {
            Backend::Sqlite => {
                let path = crate::sqlite_path(&self.raw_url);
                std::thread::spawn(move || {
                    if let Err(e) = scan_sqlite(&path, &sql, &binds, ncols, batch_rows, &tx) {
                        let _ = tx.blocking_send(Err(e));
                    }
                });
            }
            Backend::Postgres => {
                let url = self.raw_url.clone();
                tokio::spawn(async move {
                    let r = if binds.is_empty() {
                        scan_postgres_copy(&url, &sql, ncols, batch_rows, &tx).await
                    } else {
                        scan_postgres(&url, &sql, &binds, ncols, batch_rows, &tx).await
                    };
                    if let Err(e) = r {
                        let _ = tx.send(Err(e)).await;
                    }
                });
            }
        }
        rx
    }
}

fn scan_sqlite(
    path: &str,
    sql: &str,
    binds: &[ScanBind],
    ncols: usize,
    batch_rows: usize,
    tx: &mpsc::Sender<Result<Batch, StoreError>>,
) -> Result<(), StoreError> {
    use rusqlite::types::ValueRef;
    let err =
        |e: rusqlite::Error| StoreError::Db(sqlx::Error::Protocol(format!("sqlite scan: {e}")));
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(err)?;
    let mut stmt = conn.prepare(sql).map_err(err)?;
    for (i, b) in binds.iter().enumerate() {
        match b {
            ScanBind::Int(v) => stmt.raw_bind_parameter(i + 1, v),
            ScanBind::Text(v) => stmt.raw_bind_parameter(i + 1, v),
        }
        .map_err(err)?;
    }
    let mut rows = stmt.raw_query();
    let mut batch = Batch::new(ncols, batch_rows);
    while let Some(row) = rows.next().map_err(err)? {
        for c in 0..ncols {
            match row.get_ref(c).map_err(err)? {
                ValueRef::Null => batch.cells.push(Cell::Null),
                ValueRef::Integer(i) => batch.cells.push(Cell::Int(i)),
                ValueRef::Real(f) => batch.push_text(&f.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    batch.push_text(&String::from_utf8_lossy(t))
                }
            }
        }
        if batch.len() == batch_rows {
            let full = std::mem::replace(&mut batch, Batch::new(ncols, batch_rows));
            if tx.blocking_send(Ok(full)).is_err() {
                return Ok(()); // the consumer stopped listening
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(batch));
    }
    Ok(())
}

async fn scan_postgres(
    url: &str,
    sql: &str,
    binds: &[ScanBind],
    ncols: usize,
    batch_rows: usize,
    tx: &mpsc::Sender<Result<Batch, StoreError>>,
) -> Result<(), StoreError> {
    use futures_util::TryStreamExt as _;
    use sqlx::{Column as _, Connection as _, Row as _, TypeInfo as _};
    let mut conn = pg_connect(url).await?;
    let mut q = sqlx::query(sql);
    for b in binds {
        q = match b {
            ScanBind::Int(v) => q.bind(*v),
            ScanBind::Text(v) => q.bind(v.clone()),
        };
    }
    let mut rows = q.fetch(&mut conn);
    let mut batch = Batch::new(ncols, batch_rows);
    // Column kinds, from the first row's metadata: 8 = INT8, 4 = INT4, 0 = text.
    let mut kinds: Vec<u8> = Vec::new();
    while let Some(row) = rows.try_next().await? {
        if kinds.is_empty() {
            kinds = (0..ncols)
                .map(
                    |c| match row.columns().get(c).map(|col| col.type_info().name()) {
                        Some("INT8") => 8,
                        Some("INT4") => 4,
                        _ => 0,
                    },
                )
                .collect();
        }
        for (c, kind) in kinds.iter().enumerate() {
            match kind {
                8 => batch.cells.push(
                    row.try_get::<Option<i64>, _>(c)?
                        .map_or(Cell::Null, Cell::Int),
                ),
                4 => batch.cells.push(
                    row.try_get::<Option<i32>, _>(c)?
                        .map_or(Cell::Null, |v| Cell::Int(v.into())),
                ),
                _ => match row.try_get::<Option<&str>, _>(c)? {
                    Some(s) => batch.push_text(s),
                    None => batch.cells.push(Cell::Null),
                },
            }
        }
        if batch.len() == batch_rows {
            let full = std::mem::replace(&mut batch, Batch::new(ncols, batch_rows));
            if tx.send(Ok(full)).await.is_err() {
                return Ok(());
            }
        }
    }
    drop(rows);
    conn.close().await?;
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
    Ok(())
}

/// A connection for a bulk read: the statement is expected to run long, so sqlx's
/// slow-statement warning is off.
async fn pg_connect(url: &str) -> Result<sqlx::postgres::PgConnection, StoreError> {
    use sqlx::ConnectOptions as _;
    use std::str::FromStr as _;
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)?.log_slow_statements(
        tracing::log::LevelFilter::Off,
        std::time::Duration::from_secs(3600),
    );
    Ok(opts.connect().await?)
}

/// The same scan through `COPY (query) TO STDOUT (FORMAT binary)`, parsed here: sqlx's
/// per-row decoding (row objects, type checks per cell) was most of a whole-table
/// read's cost, and on two cores it competed with whoever consumes the rows (audit
/// verification). The binary format needs no escaping: each field is a length and its
/// bytes (integers big-endian, text as UTF-8). Column types come from describing the
/// query first.
async fn scan_postgres_copy(
    url: &str,
    sql: &str,
    ncols: usize,
    batch_rows: usize,
    tx: &mpsc::Sender<Result<Batch, StoreError>>,
) -> Result<(), StoreError> {
    use futures_util::TryStreamExt as _;
    use sqlx::{Column as _, Connection as _, Executor as _, TypeInfo as _};
    let mut conn = pg_connect(url).await?;
    let described = (&mut conn).describe(sql).await?;
    let bad = |why: &str| StoreError::Db(sqlx::Error::Protocol(format!("COPY scan: {why}")));
    // Only types whose binary form is read here; anything else (a boolean, a
    // timestamp, bytea) would be misread as text, so it is refused up front.
    let kinds: Vec<Kind> = (0..ncols)
        .map(
            |c| match described.columns().get(c).map(|col| col.type_info().name()) {
                Some("INT8") => Ok(Kind::I64),
                Some("INT4") => Ok(Kind::I32),
                Some("INT2") => Ok(Kind::I16),
                Some("TEXT" | "VARCHAR" | "BPCHAR" | "NAME") => Ok(Kind::Text),
                Some(other) => Err(bad(&format!("column {c} is of type {other}, not read"))),
                None => Err(bad(&format!("the query has no column {c}"))),
            },
        )
        .collect::<Result<_, _>>()?;
    let mut batch = Batch::new(ncols, batch_rows);
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    let mut header = false;
    let mut ended = false;
    {
        let mut stream = conn
            .copy_out_raw(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)"))
            .await?;
        while let Some(chunk) = stream.try_next().await? {
            buf.drain(..pos);
            pos = 0;
            buf.extend_from_slice(&chunk);
            if !header {
                match copy_header(&buf).map_err(bad)? {
                    Some(start) => {
                        pos = start;
                        header = true;
                    }
                    None => continue,
                }
            }
            loop {
                match copy_tuple(&buf, pos, &kinds, &mut batch).map_err(bad)? {
                    Tuple::Row(next) => pos = next,
                    Tuple::End => {
                        ended = true;
                        break;
                    }
                    Tuple::Incomplete => break,
                }
                if batch.len() == batch_rows {
                    let full = std::mem::replace(&mut batch, Batch::new(ncols, batch_rows));
                    if tx.send(Ok(full)).await.is_err() {
                        return Ok(()); // the consumer stopped listening
                    }
                }
            }
        }
    }
    if !ended {
        return Err(bad("the stream ended before its trailer"));
    }
    conn.close().await?;
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    I64,
    I32,
    I16,
    Text,
}

enum Tuple {
    /// A row was added; the next starts here.
    Row(usize),
    /// The trailer.
    End,
    /// The buffer ends inside the row: wait for more.
    Incomplete,
}

/// Where the tuples of a binary COPY stream start, once `b` holds the whole header
/// (signature, flags, extension area); `None` while it does not.
fn copy_header(b: &[u8]) -> Result<Option<usize>, &'static str> {
    if b.len() < 19 {
        return Ok(None);
    }
    if b.get(..11) != Some(b"PGCOPY\n\xff\r\n\0".as_slice()) {
        return Err("not a binary COPY stream");
    }
    let flags = be_u32(b, 11).ok_or("short header")?;
    // Bit 16: each tuple carries an OID, which this reader does not expect. The
    // low 16 bits are critical flags, none of them defined: refuse any.
    if flags & 0x0001_ffff != 0 {
        return Err("unexpected COPY header flags");
    }
    let ext = be_u32(b, 15).ok_or("short header")? as usize;
    let start = 19usize
        .checked_add(ext)
        .ok_or("header extension too long")?;
    Ok((b.len() >= start).then_some(start))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
}

/// One tuple of the binary COPY format starting at `at`: a 16-bit field count (-1 for
/// the trailer), then per field a 32-bit length (-1 for NULL) and that many bytes. The
/// row is added to `batch` only once it is whole.
fn copy_tuple(
    b: &[u8],
    at: usize,
    kinds: &[Kind],
    batch: &mut Batch,
) -> Result<Tuple, &'static str> {
    let Some(count) = b.get(at..at + 2) else {
        return Ok(Tuple::Incomplete);
    };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Tuple::End);
    }
    if count as usize != kinds.len() {
        return Err("a row has another number of columns than the query");
    }
    // First find the fields' extents, so a row split across chunks adds nothing.
    let mut p = at + 2;
    let mut extents = [(0usize, -1i64); 32];
    if kinds.len() > extents.len() {
        return Err("more than 32 columns");
    }
    for e in extents.iter_mut().take(kinds.len()) {
        let Some(len) = be_u32(b, p) else {
            return Ok(Tuple::Incomplete);
        };
        let len = len as i32;
        p += 4;
        if len == -1 {
            *e = (p, -1);
            continue;
        }
        if len < 0 {
            return Err("a negative field length");
        }
        let len = len as usize;
        if b.len() < p + len {
            return Ok(Tuple::Incomplete);
        }
        *e = (p, len as i64);
        p += len;
    }
    for (kind, &(start, len)) in kinds.iter().zip(extents.iter()) {
        if len < 0 {
            batch.cells.push(Cell::Null);
            continue;
        }
        let v = b
            .get(start..start + len as usize)
            .ok_or("field out of bounds")?;
        let int = |n: usize| -> Result<i64, &'static str> {
            if v.len() != n {
                return Err("an integer of the wrong width");
            }
            let mut x: i64 = if v.first().is_some_and(|f| f & 0x80 != 0) {
                -1
            } else {
                0
            };
            for byte in v {
                x = (x << 8) | i64::from(*byte);
            }
            Ok(x)
        };
        match kind {
            Kind::I64 => batch.cells.push(Cell::Int(int(8)?)),
            Kind::I32 => batch.cells.push(Cell::Int(int(4)?)),
            Kind::I16 => batch.cells.push(Cell::Int(int(2)?)),
            Kind::Text => batch.push_text(std::str::from_utf8(v).map_err(|_| "not UTF-8")?),
        }
    }
    Ok(Tuple::Row(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    #[test]
    fn copy_header_waits_for_its_extension_and_refuses_what_it_cannot_read() {
        let mut h = b"PGCOPY\n\xff\r\n\0".to_vec();
        h.extend_from_slice(&0u32.to_be_bytes());
        h.extend_from_slice(&4u32.to_be_bytes());
        assert_eq!(copy_header(&h), Ok(None), "the extension is not here yet");
        h.extend_from_slice(b"abcd");
        assert_eq!(copy_header(&h), Ok(Some(23)));
        let mut oids = h.clone();
        oids[11..15].copy_from_slice(&(1u32 << 16).to_be_bytes());
        assert!(copy_header(&oids).is_err());
        let mut wrong = h.clone();
        wrong[0] = b'Q';
        assert!(copy_header(&wrong).is_err());
        assert_eq!(copy_header(&h[..10]), Ok(None));
    }

    #[test]
    fn copy_tuples_refuse_negative_lengths_and_wrong_widths() {
        let tuple = |fields: &[(i32, &[u8])]| {
            let mut t = (fields.len() as i16).to_be_bytes().to_vec();
            for (len, bytes) in fields {
                t.extend_from_slice(&len.to_be_bytes());
                t.extend_from_slice(bytes);
            }
            t
        };
        let kinds = [Kind::I64, Kind::Text];
        let mut batch = Batch::new(2, 8);
        let ok = tuple(&[(8, &7i64.to_be_bytes()), (2, b"hi")]);
        assert!(
            matches!(copy_tuple(&ok, 0, &kinds, &mut batch), Ok(Tuple::Row(n)) if n == ok.len())
        );
        let null = tuple(&[(-1, b""), (2, b"hi")]);
        assert!(matches!(
            copy_tuple(&null, 0, &kinds, &mut batch),
            Ok(Tuple::Row(_))
        ));
        let negative = tuple(&[(-5, b""), (2, b"hi")]);
        assert!(copy_tuple(&negative, 0, &kinds, &mut batch).is_err());
        let narrow = tuple(&[(4, &7i32.to_be_bytes()), (2, b"hi")]);
        assert!(copy_tuple(&narrow, 0, &kinds, &mut batch).is_err());
        let cut = &ok[..ok.len() - 1];
        assert!(matches!(
            copy_tuple(cut, 0, &kinds, &mut batch),
            Ok(Tuple::Incomplete)
        ));
        let columns = tuple(&[(2, b"hi")]);
        assert!(copy_tuple(&columns, 0, &kinds, &mut batch).is_err());
        assert!(matches!(
            copy_tuple(&(-1i16).to_be_bytes(), 0, &kinds, &mut batch),
            Ok(Tuple::End)
        ));
        assert_eq!(batch.len(), 2, "only whole, valid rows were added");
    }

    async fn round_trip(store: Store) {
        sqlx::query("INSERT INTO audit_checkpoints (seq, at, hash, public_key, signature) VALUES (1, 10, 'h1', 'k', 's'), (2, 20, 'h2', 'k', 's'), (3, 30, 'h3', 'k', 's')")
            .execute(store.pool())
            .await
            .unwrap();
        let mut rx = store.scan(
            "SELECT seq, hash, at FROM audit_checkpoints WHERE at >= $1 ORDER BY seq",
            vec![ScanBind::Int(20)],
            3,
            1,
        );
        let mut got = Vec::new();
        while let Some(b) = rx.recv().await {
            let b = b.unwrap();
            for r in 0..b.len() {
                got.push((
                    b.int(r, 0).unwrap(),
                    b.text(r, 1).unwrap().to_owned(),
                    b.int(r, 2).unwrap(),
                ));
            }
        }
        assert_eq!(got, vec![(2, "h2".into(), 20), (3, "h3".into(), 30)]);
        let mut rx = store.scan("SELECT nope FROM nowhere", vec![], 1, 10);
        assert!(
            rx.recv().await.unwrap().is_err(),
            "errors arrive through the channel"
        );
        // Without binds (the bulk path on PostgreSQL): text that needs escaping, NULLs,
        // multibyte characters and batches that split the rows all come back as stored.
        let odd = "tab\there\nnew line \\ back\\slash \r 漢字 \u{1}";
        sqlx::query("INSERT INTO audit_checkpoints (seq, at, hash, public_key, signature) VALUES (4, -40, $1, '', 's')")
            .bind(odd)
            .execute(store.pool())
            .await
            .unwrap();
        let mut rx = store.scan(
            "SELECT seq, hash, public_key, at, NULL FROM audit_checkpoints ORDER BY seq",
            vec![],
            5,
            3,
        );
        let mut got = Vec::new();
        while let Some(b) = rx.recv().await {
            let b = b.unwrap();
            for r in 0..b.len() {
                got.push((
                    b.int(r, 0).unwrap(),
                    b.text(r, 1).unwrap().to_owned(),
                    b.text(r, 2).map(str::to_owned),
                    b.int(r, 3),
                    b.text(r, 4).is_none() && b.int(r, 4).is_none(),
                ));
            }
        }
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[3],
            (4, odd.to_owned(), Some(String::new()), Some(-40), true)
        );
    }

    #[test]
    fn binary_tuples_are_read_whole_or_not_at_all() {
        let kinds = [Kind::I64, Kind::Text, Kind::I32];
        let mut t = vec![0u8, 3];
        t.extend(8u32.to_be_bytes());
        t.extend((-5i64).to_be_bytes());
        t.extend(3u32.to_be_bytes());
        t.extend("漢".as_bytes());
        t.extend((-1i32).to_be_bytes());
        let mut b = Batch::new(3, 4);
        for cut in 0..t.len() {
            assert!(matches!(
                copy_tuple(&t[..cut], 0, &kinds, &mut b),
                Ok(Tuple::Incomplete)
            ));
        }
        assert!(b.is_empty(), "nothing added from a partial row");
        assert!(matches!(copy_tuple(&t, 0, &kinds, &mut b), Ok(Tuple::Row(n)) if n == t.len()));
        assert_eq!(
            (b.int(0, 0), b.text(0, 1), b.int(0, 2)),
            (Some(-5), Some("漢"), None)
        );
        assert!(matches!(
            copy_tuple(&[0xff, 0xff], 0, &kinds, &mut b),
            Ok(Tuple::End)
        ));
        assert!(copy_tuple(&[0, 2], 0, &kinds, &mut b).is_err());
    }

    #[tokio::test]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &format!("sqlite://{}/s.db", dir.path().display()),
            &StoreOptions::default(),
        )
        .await
        .unwrap();
        round_trip(store).await;
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(db) = crate::testing::TestDb::postgres().await {
            round_trip(db.store.clone()).await;
        }
    }
}
