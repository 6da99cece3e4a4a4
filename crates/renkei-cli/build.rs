//! Test configuration from the environment:
//! - `cfg(renkei_pg)` when `RENKEI_TEST_POSTGRES_URL` is set: PostgreSQL tests run, and
//!   are reported as ignored ("skipped") otherwise, never silently passed;
//! - `cfg(renkei_browser)` when `chromedriver` is on `PATH` (or `RENKEI_TEST_CHROMEDRIVER`
//!   names it): the headless-Chromium tests run, and are reported as ignored otherwise.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(renkei_pg)");
    println!("cargo::rustc-check-cfg=cfg(renkei_browser)");
    println!("cargo::rerun-if-env-changed=RENKEI_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=RENKEI_TEST_CHROMEDRIVER");
    println!("cargo::rerun-if-env-changed=PATH");
    if std::env::var_os("RENKEI_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=renkei_pg");
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("chromedriver").is_file()))
        .unwrap_or(false);
    if on_path || std::env::var_os("RENKEI_TEST_CHROMEDRIVER").is_some() {
        println!("cargo::rustc-cfg=renkei_browser");
    }
}
