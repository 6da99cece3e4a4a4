// The migrations are embedded at compile time (`sqlx::migrate!`): rebuild when one is
// added or changed, not only when a source file is. Each file is named as well as the
// directory, so a new file is seen whatever the file system's directory times say.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    if let Ok(entries) = std::fs::read_dir("migrations") {
        for e in entries.flatten() {
            println!("cargo:rerun-if-changed={}", e.path().display());
        }
    }
}
