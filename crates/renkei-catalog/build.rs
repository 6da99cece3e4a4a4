//! Sets `cfg(renkei_pg)` when `RENKEI_TEST_POSTGRES_URL` is set, so PostgreSQL tests run
//! then and are reported as ignored ("skipped") otherwise, never silently passed.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(renkei_pg)");
    println!("cargo::rerun-if-env-changed=RENKEI_TEST_POSTGRES_URL");
    if std::env::var_os("RENKEI_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=renkei_pg");
    }
}
