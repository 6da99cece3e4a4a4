//! Writing, publishing, reading back, locking, and destroying, on both backends.

use super::*;
use arrow_array::{ArrayRef, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema};
use renkei_core::time::SystemClock;
use renkei_core::{Role, UserId, Username};
use renkei_crypto::RootKey;
use renkei_store::store_test;

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let a: ArrayRef = Arc::new(StringArray::from(vec!["ヤマダハナコ-PLAINTEXT"; 100]));
    let b: ArrayRef = Arc::new(Int64Array::from((0..100).collect::<Vec<i64>>()));
    RecordBatch::try_new(schema, vec![a, b]).unwrap()
}

struct Fx {
    ds: DataStore,
    _dir: tempfile::TempDir,
}

fn fixture(store: &Store) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(KeyStore::from_keys(RootKey::generate(), None));
    let audit = Audit::new(store.clone(), keys.clone(), Arc::new(SystemClock), None);
    Fx {
        ds: DataStore::new(
            dir.path(),
            store.clone(),
            keys,
            audit,
            Arc::new(SystemClock),
        ),
        _dir: dir,
    }
}

/// The operator's data duty: holds every dataset.
fn custodian() -> Caller {
    Caller::operator("test", renkei_core::Duty::Data)
}

/// A custodian with no dataset assigned.
fn other_custodian() -> Caller {
    Caller::user(
        UserId::from_stored("u-c".into()),
        Username::parse("custodian").unwrap(),
        vec![Role::Custodian],
        renkei_core::AuthMethod::SessionMfa,
        "req",
    )
}

/// Writes one version of `holder` with 100 rows in table `rows`, and records the
/// dataset as current (as an ingest's commit would).
async fn write_version(fx: &Fx, store: &Store, holder: &Holder, version: i64) {
    let op = Caller::operator("test", renkei_core::Duty::Data);
    let writer = fx.ds.writer(&op, holder).await.unwrap();
    let key = writer.write_key().await.unwrap();
    let st = writer.begin(version, &key).unwrap();
    let mut w = st.writer("rows", batch().schema()).unwrap();
    w.write(&batch()).unwrap();
    assert_eq!(w.finish().unwrap(), 100);
    st.publish().unwrap();
    commit(store, holder.id(), version, key.id().as_str(), "committed").await;
}

/// Records `version` in the catalogue as an ingest's commit would.
async fn commit(store: &Store, id: &str, version: i64, key_id: &str, status: &str) {
    renkei_store::sqlx::query("INSERT INTO datasets (id, kind, declaration, wrapped_key, created_at, updated_at, current_version, key_id) VALUES ($1, 'private', '', '', 0, 0, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET current_version = $2")
        .bind(id)
        .bind(version)
        .bind(key_id)
        .execute(store.pool())
        .await
        .unwrap();
    renkei_store::sqlx::query("INSERT INTO dataset_versions (dataset_id, version, status, reason, created_at, created_by, files, rows_in, rows_rejected, coverage_from, coverage_to, profile) \
         VALUES ($1, $2, $3, '', 0, 'test', '[]', 100, 0, '', '', '{}')")
        .bind(id)
        .bind(version)
        .bind(status)
        .execute(store.pool())
        .await
        .unwrap();
}

async fn write_publish_read_and_nothing_in_clear(store: Store) {
    let fx = fixture(&store);
    let h = Holder::dataset("t").unwrap();
    write_version(&fx, &store, &h, 1).await;
    let v = fx.ds.open_dataset(&custodian(), "t", None).await.unwrap();
    assert_eq!(v.version(), 1);
    assert_eq!(v.tables().unwrap(), ["rows"]);
    let back = v.read_table("rows").unwrap();
    assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
    for f in fx.ds.all_files() {
        let bytes = std::fs::read(&f).unwrap();
        for needle in ["PLAINTEXT".as_bytes(), "ヤマダ".as_bytes(), b"name"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} reveals {:?}",
                f.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // A file moved to another version, or to an extract, does not open.
    let part = fx
        .ds
        .all_files()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let (_, key) = fx.ds.every_live_key().await.unwrap().remove(0);
    assert!(testing::opens_under(&h, 1, "rows", &part, &key));
    assert!(
        !testing::opens_under(&h, 2, "rows", &part, &key),
        "the AAD binds a file to its version"
    );
    assert!(
        !testing::opens_under(&Holder::extract("t").unwrap(), 1, "rows", &part, &key),
        "and to its namespace"
    );
}

async fn readers_are_checked_and_audited(store: Store) {
    let fx = fixture(&store);
    write_version(&fx, &store, &Holder::dataset("t").unwrap(), 1).await;
    let researcher = Caller::user(
        UserId::from_stored("u-r".into()),
        Username::parse("researcher").unwrap(),
        vec![Role::Researcher],
        renkei_core::AuthMethod::SessionMfa,
        "req-r",
    );
    let err = fx
        .ds
        .open_dataset(&researcher, "t", None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "permission_missing");
    // A custodian reads only the datasets assigned to them.
    let err = fx
        .ds
        .open_dataset(&other_custodian(), "t", None)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "not_custodian");
    let err = fx
        .ds
        .open_dataset(&custodian(), "../t", None)
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.code(),
        "invalid_id",
        "ids never reach the file system unchecked"
    );
    let err = fx
        .ds
        .open_dataset(&custodian(), "t", Some(9))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "no_such_version");
    let rows: Vec<(String, String, String)> =
        renkei_store::sqlx::query_as("SELECT action, outcome, reason FROM audit_log ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let opens: Vec<_> = rows.iter().filter(|r| r.0 == "dataset.open").collect();
    assert_eq!(opens.len(), 4, "{rows:?}");
    assert!(opens.iter().all(|r| r.1 == "denied"));
    assert_eq!(opens[0].2, "permission_missing");
    assert_eq!(opens[1].2, "not_custodian");
}

async fn destroyed_data_opens_under_no_key(store: Store) {
    let fx = fixture(&store);
    let extract = Holder::dataset("withdrawn").unwrap();
    let other = Holder::dataset("kept").unwrap();
    write_version(&fx, &store, &extract, 1).await;
    write_version(&fx, &store, &extract, 2).await;
    write_version(&fx, &store, &other, 1).await;
    // Someone kept a copy of the extract's files (a backup, a stolen disk).
    let copies = tempfile::tempdir().unwrap();
    let mut kept = Vec::new();
    for (i, f) in fx
        .ds
        .all_files()
        .into_iter()
        .filter(|f| {
            f.starts_with(fx.ds.version_dir(&extract, 1).parent().unwrap())
                && f.extension().is_some_and(|e| e == "parquet")
        })
        .enumerate()
    {
        // Same file name: the part's name is part of what binds it.
        let to = copies
            .path()
            .join(i.to_string())
            .join(f.file_name().unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
        let version = if f.starts_with(fx.ds.version_dir(&extract, 1)) {
            1
        } else {
            2
        };
        kept.push((to, version));
    }
    assert_eq!(kept.len(), 2);
    let ids = fx.ds.vault.live_keys("dataset:withdrawn").await.unwrap();
    let (_, before) = fx
        .ds
        .every_live_key()
        .await
        .unwrap()
        .into_iter()
        .find(|(id, _)| ids.contains(id))
        .unwrap();
    assert!(
        testing::opens_under(&extract, kept[0].1, "rows", &kept[0].0, &before),
        "the copy opens before destruction"
    );

    let op = Caller::operator("closer", renkei_core::Duty::Data);
    let cert = fx
        .ds
        .destroy(&op, &extract, "project closed")
        .await
        .unwrap();
    assert_eq!(cert.subject, "dataset:withdrawn");
    assert_eq!(cert.key_ids.len(), 1);
    assert!(cert.is_intact());
    assert_eq!(
        fx.ds.certificates(&extract).await.unwrap(),
        vec![cert.clone()]
    );

    // The platform's files are gone, and the copies open under no key it still holds.
    assert!(!fx.ds.version_dir(&extract, 1).exists());
    let live = fx.ds.every_live_key().await.unwrap();
    assert_eq!(live.len(), 1, "only the other dataset's key is left");
    for (copy, version) in &kept {
        for (id, key) in &live {
            assert!(
                !testing::opens_under(&extract, *version, "rows", copy, key),
                "{id} opens destroyed data"
            );
        }
    }
    let err = fx.ds.vault.open(&cert.key_ids[0]).await.err().unwrap();
    assert_eq!(err.code(), "data_deleted");
    // The wrapped key is gone from the table, not just flagged.
    let wrapped: Option<String> =
        renkei_store::sqlx::query_scalar("SELECT wrapped FROM data_keys WHERE id = $1")
            .bind(cert.key_ids[0].as_str())
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(wrapped, None);
    // The other holder is untouched.
    let v = fx
        .ds
        .open_dataset(&custodian(), "kept", None)
        .await
        .unwrap();
    assert_eq!(v.read_table("rows").unwrap()[0].num_rows(), 100);
    // A second destruction has nothing left to do, and says so.
    let again = fx.ds.destroy(&op, &extract, "again").await.err().unwrap();
    assert_eq!(again.code(), "nothing_to_destroy");
    // The destruction and its certificate are in the audit log, in one entry.
    let (detail, actor): (String, String) = renkei_store::sqlx::query_as(
        "SELECT detail, actor FROM audit_log WHERE action = 'key.destroy'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(actor, "cli");
    assert!(
        detail.contains(&cert.id) && detail.contains(&cert.digest),
        "{detail}"
    );
}

async fn interrupted_staging_is_cleaned_and_versions_replaced(store: Store) {
    let fx = fixture(&store);
    let op = Caller::operator("t", renkei_core::Duty::Data);
    let h = Holder::dataset("t").unwrap();
    let writer = fx.ds.writer(&op, &h).await.unwrap();
    let key = writer.write_key().await.unwrap();
    let st = writer.begin(1, &key).unwrap();
    st.writer("rows", batch().schema())
        .unwrap()
        .finish()
        .unwrap();
    drop(st); // a crash: the staging directory stays behind
    assert_eq!(
        fx.ds.clean_staging().unwrap(),
        0,
        "a holder being written is left alone"
    );
    assert!(
        matches!(fx.ds.writer(&op, &h).await, Err(DataStoreError::Busy(_))),
        "a second writer is refused while the first holds the lock"
    );
    drop(writer);
    assert_eq!(fx.ds.clean_staging().unwrap(), 1);
    let writer = fx.ds.writer(&op, &h).await.unwrap();
    let st = writer.begin(1, &key).unwrap();
    let mut w = st.writer("rows", batch().schema()).unwrap();
    w.write(&batch()).unwrap();
    w.finish().unwrap();
    st.publish().unwrap();
    // Publishing the same (uncommitted) version again replaces it.
    let st = writer.begin(1, &key).unwrap();
    st.writer("rows", batch().schema())
        .unwrap()
        .finish()
        .unwrap();
    st.publish().unwrap();
    assert!(fx.ds.version_exists(&h, 1));
    // Published but never committed (a crash before the catalogue's commit, or files
    // planted beside the store): it does not open.
    drop(writer);
    commit(&store, "t", 1, key.id().as_str(), "refused").await;
    let e = fx
        .ds
        .open_dataset(&custodian(), "t", Some(1))
        .await
        .err()
        .unwrap();
    assert_eq!(e.code(), "no_such_version");
}

async fn versions_are_rewritten_in_place_once(store: Store) {
    let fx = fixture(&store);
    let h = Holder::dataset("t").unwrap();
    write_version(&fx, &store, &h, 1).await;
    let writer = fx
        .ds
        .writer(&Caller::operator("t", renkei_core::Duty::Data), &h)
        .await
        .unwrap();
    let double = |_: &str, b: RecordBatch| -> Result<RecordBatch, DataStoreError> {
        let n = b
            .column_by_name("n")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .iter()
            .map(|v| v.map(|x| x * 2))
            .collect::<Int64Array>();
        Ok(RecordBatch::try_new(b.schema(), vec![b.column(0).clone(), Arc::new(n)]).unwrap())
    };
    let rows = writer
        .rewrite_version(1, "double", &mut { double })
        .await
        .unwrap();
    assert_eq!(rows, Some(100));
    assert_eq!(
        writer
            .rewrite_version(1, "double", &mut { double })
            .await
            .unwrap(),
        None,
        "a version carrying the marker is not rewritten again"
    );
    drop(writer);
    let read = || async {
        let v = fx
            .ds
            .open_dataset(&custodian(), "t", Some(1))
            .await
            .unwrap();
        let b = v.read_table("rows").unwrap().remove(0);
        b.column_by_name("n")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(3)
    };
    assert_eq!(read().await, 6, "doubled once");
    // A crash mid-swap left the old version aside and no new one: the next lock puts
    // it back.
    let dir = fx.ds.version_dir(&h, 1);
    let aside = dir.parent().unwrap().join(".retired-v1-crash");
    std::fs::rename(&dir, &aside).unwrap();
    drop(
        fx.ds
            .writer(&Caller::operator("t", renkei_core::Duty::Data), &h)
            .await
            .unwrap(),
    );
    assert!(dir.is_dir() && !aside.exists());
    assert_eq!(read().await, 6);
}

/// Writing and destroying are checked like reading: a researcher cannot write or
/// destroy a dataset, nobody writes or destroys an extract without a permit, and each
/// refusal is audited before the caller hears of it.
async fn writers_and_destruction_are_checked_and_audited(store: Store) {
    let fx = fixture(&store);
    let h = Holder::dataset("t").unwrap();
    write_version(&fx, &store, &h, 1).await;
    let researcher = Caller::user(
        UserId::from_stored("u-r".into()),
        Username::parse("researcher").unwrap(),
        vec![Role::Researcher],
        renkei_core::AuthMethod::SessionMfa,
        "req",
    );
    let linkage = Caller::user(
        UserId::from_stored("u-l".into()),
        Username::parse("linkage").unwrap(),
        vec![Role::LinkageAuthority],
        renkei_core::AuthMethod::SessionMfa,
        "req",
    );
    let e = fx.ds.writer(&researcher, &h).await.err().unwrap();
    assert_eq!(e.code(), "permission_missing");
    let e = fx.ds.destroy(&researcher, &h, "no").await.err().unwrap();
    assert_eq!(e.code(), "permission_missing");
    // The linkage authority may re-key a dataset's tokens, not destroy it.
    drop(fx.ds.writer(&linkage, &h).await.unwrap());
    let e = fx.ds.destroy(&linkage, &h, "no").await.err().unwrap();
    assert_eq!(e.code(), "permission_missing");
    let x = Holder::extract("p-1").unwrap();
    let op = Caller::operator("t", renkei_core::Duty::Data);
    assert_eq!(
        fx.ds.writer(&op, &x).await.err().unwrap().code(),
        "no_permit"
    );
    assert_eq!(
        fx.ds.destroy(&op, &x, "x").await.err().unwrap().code(),
        "no_permit"
    );
    // Still there, still opening.
    let v = fx.ds.open_dataset(&custodian(), "t", None).await.unwrap();
    assert_eq!(v.read_table("rows").unwrap()[0].num_rows(), 100);
    let rows: Vec<(String, String, String)> = renkei_store::sqlx::query_as(
        "SELECT action, object, reason FROM audit_log WHERE outcome = 'denied' ORDER BY seq",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("dataset.write", "dataset:t", "permission_missing"),
            ("key.destroy", "dataset:t", "permission_missing"),
            ("key.destroy", "dataset:t", "permission_missing"),
            ("dataset.write", "extract:p-1", "no_permit"),
            ("key.destroy", "extract:p-1", "no_permit"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
}

store_test!(
    writers_and_destruction_are_checked_and_audited,
    versions_are_rewritten_in_place_once,
    write_publish_read_and_nothing_in_clear,
    readers_are_checked_and_audited,
    destroyed_data_opens_under_no_key,
    interrupted_staging_is_cleaned_and_versions_replaced,
);
