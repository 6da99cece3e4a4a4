//! Root keys, where they come from, and what is derived from them.

use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where the root keys come from. Each key is 64 hex characters (32 bytes), read from an
/// environment variable if set, otherwise from a file.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyConfig {
    /// File holding the master key (hex). Default: `<data_dir>/keys/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// File holding the linkage key (hex). Default: `<data_dir>/keys/linkage.key`.
    pub linkage_key_file: Option<PathBuf>,
}

/// Environment variable that overrides the master key file.
pub const MASTER_KEY_ENV: &str = "RENKEI_MASTER_KEY";
/// Environment variable that overrides the linkage key file.
pub const LINKAGE_KEY_ENV: &str = "RENKEI_LINKAGE_KEY";

/// Key loading failed. Messages name the source, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key in the environment and no file.
    #[error("no {which} key: set {env} or create {file} (64 hex characters)")]
    Missing {
        /// `master` or `linkage`.
        which: &'static str,
        /// The environment variable consulted.
        env: &'static str,
        /// The file consulted.
        file: String,
    },
    /// The key text is not 64 hex characters.
    #[error("the {which} key from {source_name} is not 64 hex characters (32 bytes)")]
    Malformed {
        /// `master` or `linkage`.
        which: &'static str,
        /// Where it came from (variable name or file path).
        source_name: String,
    },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {err}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// The linkage key is needed but this process was not given it.
    #[error(
        "this process does not hold the linkage key: the linkage authority creates it with \
         `renkei linkage-key init --out FILE` (kept apart from the master key) and gives it to \
         this process as keys.linkage_key_file or RENKEI_LINKAGE_KEY"
    )]
    NoLinkageKey,
    /// The keyring cannot grow here (given in the environment rather than a file).
    #[error("the linkage keyring must be a file to add a generation to it (not {0})")]
    NotAFile(String),
}

/// A root key. Zeroed on drop; no `Debug`.
pub struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(Zeroizing::new(crate::random_bytes::<32>()))
    }
    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut k = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(s.trim(), &mut k[..]).ok()?;
        Some(Self(k))
    }
    /// Writes the key as hex to `path` with owner-only permissions, refusing to overwrite.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write as _;
        let io = |err| KeyError::Io {
            path: path.display().to_string(),
            err,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(&self.0[..])));
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }
}

/// What a derived key is for. The label is part of the derivation, so keys for different
/// purposes are independent, and bumping a label's version rotates that key alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// CSRF tokens bound to a browser cookie.
    Csrf,
    /// Sealing small secrets in the store (TOTP secrets).
    Seal,
    /// The per-entry MAC of the audit log, so a database-only attacker cannot forge entries.
    AuditMac,
    /// The Ed25519 seed that signs audit checkpoints.
    AuditCheckpoint,
    /// Wrapping per-dataset data keys.
    DatasetKeyWrap,
    /// Digests of unknown usernames typed at sign-in, for the audit log.
    ClaimedName,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Csrf => "renkei/v1/csrf",
            Purpose::Seal => "renkei/v1/seal",
            Purpose::AuditMac => "renkei/v1/audit-mac",
            Purpose::AuditCheckpoint => "renkei/v1/audit-checkpoint-ed25519",
            Purpose::DatasetKeyWrap => "renkei/v1/dataset-key-wrap",
            Purpose::ClaimedName => "renkei/v1/claimed-name",
        }
    }
}

/// The loaded root keys.
///
/// The linkage key is a **keyring**: one key per generation, oldest first. Tokens are
/// computed under the first key and then passed, one step per later generation,
/// through a keyed HMAC under each later key. A rotation adds a generation and re-keys
/// every stored token by that one step, which needs no identifier (they are gone): old
/// versions and new ingests then agree, and a key that leaked alone no longer yields
/// tokens that match anything stored.
pub struct KeyStore {
    master: RootKey,
    linkage: Vec<RootKey>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("master", &"<redacted>")
            .field("linkage_generations", &self.linkage.len())
            .finish()
    }
}

impl KeyStore {
    /// Builds a key store from keys already in memory (tests, benchmarks).
    pub fn from_keys(master: RootKey, linkage: Option<RootKey>) -> Self {
        Self {
            master,
            linkage: linkage.into_iter().collect(),
        }
    }

    /// A key store whose linkage keyring has the given generations, oldest first.
    pub fn from_keyring(master: RootKey, linkage: Vec<RootKey>) -> Self {
        Self { master, linkage }
    }

    /// Loads the keys: the environment wins over files; files default to
    /// `<data_dir>/keys/{master,linkage}.key`. The master key is required, the linkage
    /// key optional (a server without it cannot compute linkage tokens).
    pub fn load(cfg: &KeyConfig, data_dir: &Path) -> Result<Self, KeyError> {
        let master_file = cfg
            .master_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/master.key"));
        let linkage_file = cfg
            .linkage_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/linkage.key"));
        let master =
            load_one("master", MASTER_KEY_ENV, &master_file)?.ok_or_else(|| KeyError::Missing {
                which: "master",
                env: MASTER_KEY_ENV,
                file: master_file.display().to_string(),
            })?;
        let linkage = load_keyring(&linkage_file)?;
        Ok(Self { master, linkage })
    }

    /// Loads the master key only. Every process but the ones that tokenize (ingest, the
    /// linkage authority's) uses this: the web server never holds the linkage key.
    pub fn load_master(cfg: &KeyConfig, data_dir: &Path) -> Result<Self, KeyError> {
        let master_file = cfg
            .master_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/master.key"));
        let master =
            load_one("master", MASTER_KEY_ENV, &master_file)?.ok_or_else(|| KeyError::Missing {
                which: "master",
                env: MASTER_KEY_ENV,
                file: master_file.display().to_string(),
            })?;
        Ok(Self {
            master,
            linkage: Vec::new(),
        })
    }

    /// Loads the keys, first creating missing key files with fresh random keys. For the
    /// demo and first-time set-up only; production keys are provisioned by the operator.
    ///
    /// With `linkage` false only the master key is created: in a real deployment the
    /// linkage key belongs to the linkage authority and is provisioned separately.
    pub fn load_or_create(
        cfg: &KeyConfig,
        data_dir: &Path,
        linkage: bool,
    ) -> Result<Self, KeyError> {
        let master_file = cfg
            .master_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/master.key"));
        let linkage_file = cfg
            .linkage_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/linkage.key"));
        for (env, file, wanted) in [
            (MASTER_KEY_ENV, &master_file, true),
            (LINKAGE_KEY_ENV, &linkage_file, linkage),
        ] {
            if wanted && std::env::var_os(env).is_none() && !file.exists() {
                RootKey::generate().write_new(file)?;
            }
        }
        Self::load(cfg, data_dir)
    }

    /// A 32-byte key for `purpose`, derived from the master key.
    pub fn derive(&self, purpose: Purpose) -> Zeroizing<[u8; 32]> {
        derive(&self.master, purpose.label().as_bytes())
    }

    /// A 32-byte key derived from the linkage key for a linkage-token family and
    /// normalizer version. Fails if this process does not hold the linkage key.
    pub fn derive_linkage(&self, label: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let root = self.linkage.first().ok_or(KeyError::NoLinkageKey)?;
        Ok(derive(
            root,
            format!("renkei/v1/linkage/{label}").as_bytes(),
        ))
    }

    /// Whether the linkage key is loaded.
    pub fn has_linkage_key(&self) -> bool {
        !self.linkage.is_empty()
    }

    /// How many generations the linkage keyring has (0 without one).
    pub fn linkage_generations(&self) -> usize {
        self.linkage.len()
    }

    /// The keyed step of generation `generation` (2 or later), which takes a token of
    /// the generation before to this one.
    pub fn linkage_step(&self, generation: usize) -> Result<Macer, KeyError> {
        let root = generation
            .checked_sub(1)
            .filter(|&i| i >= 1)
            .and_then(|i| self.linkage.get(i))
            .ok_or(KeyError::NoLinkageKey)?;
        Ok(Macer::new(&derive(root, b"renkei/v1/linkage/step")[..]))
    }

    /// The fingerprint of the keyring up to `generation` (`lk<g>:` and 20 hex digits):
    /// enough to tell two keyrings apart, nothing about the keys. `None` without the
    /// keyring, or beyond its last generation.
    pub fn linkage_fingerprint(&self, generation: usize) -> Option<String> {
        use sha2::Digest as _;
        if generation == 0 || generation > self.linkage.len() {
            return None;
        }
        let mut h = sha2::Sha256::new();
        h.update(b"renkei-linkage-fingerprint-v1");
        for k in &self.linkage[..generation] {
            h.update(Macer::new(&derive(k, b"renkei/v1/linkage/fingerprint")[..]).mac(b"fp"));
        }
        Some(format!(
            "lk{generation}:{}",
            hex::encode(&h.finalize()[..10])
        ))
    }

    /// The fingerprint of the whole keyring.
    pub fn current_linkage_fingerprint(&self) -> Option<String> {
        self.linkage_fingerprint(self.linkage.len())
    }

    /// A keyed HMAC for `purpose`, for computing many MACs without re-deriving the key.
    pub fn macer(&self, purpose: Purpose) -> Macer {
        let k = self.derive(purpose);
        Macer::new(&k[..])
    }

    /// The Ed25519 key that signs audit checkpoints.
    pub fn checkpoint_signing_key(&self) -> ed25519_dalek::SigningKey {
        let seed = self.derive(Purpose::AuditCheckpoint);
        ed25519_dalek::SigningKey::from_bytes(&seed)
    }
}

/// Appends a fresh key, as the next generation, to the keyring file at `path`
/// (written to a temporary file, synced, and renamed over the old one, so a crash
/// leaves either keyring whole). Returns how many generations the file now holds.
pub fn append_linkage_generation(path: &Path) -> Result<usize, KeyError> {
    use std::io::Write as _;
    let io = |err| KeyError::Io {
        path: path.display().to_string(),
        err,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let keys = parse_keyring(&text).ok_or_else(|| KeyError::Malformed {
        which: "linkage",
        source_name: path.display().to_string(),
    })?;
    let mut out = Zeroizing::new(String::new());
    for k in keys.iter().chain(std::iter::once(&RootKey::generate())) {
        out.push_str(&hex::encode(&k.0[..]));
        out.push('\n');
    }
    let tmp = path.with_extension("key.new");
    // A file left by an interrupted rotation may carry other permissions (or be a
    // link): remove it and create afresh, so the mode below always applies.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(out.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(keys.len() + 1)
}

/// Keys of a keyring: 64 hex characters each, one per line (or separated by commas, as
/// in an environment variable); `#` starts a comment. `None` if any entry is malformed.
fn parse_keyring(text: &str) -> Option<Vec<RootKey>> {
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for part in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            keys.push(RootKey::from_hex(part)?);
        }
    }
    Some(keys)
}

/// The linkage keyring: the environment wins over the file; absent if neither.
fn load_keyring(file: &Path) -> Result<Vec<RootKey>, KeyError> {
    let (text, source) = match std::env::var(LINKAGE_KEY_ENV) {
        Ok(v) => (Zeroizing::new(v), LINKAGE_KEY_ENV.to_owned()),
        Err(_) => match std::fs::read_to_string(file) {
            Ok(t) => (Zeroizing::new(t), file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(KeyError::Io {
                    path: file.display().to_string(),
                    err,
                });
            }
        },
    };
    parse_keyring(&text)
        .filter(|k| !k.is_empty())
        .ok_or(KeyError::Malformed {
            which: "linkage",
            source_name: source,
        })
}

fn load_one(
    which: &'static str,
    env: &'static str,
    file: &Path,
) -> Result<Option<RootKey>, KeyError> {
    if let Ok(v) = std::env::var(env) {
        let v = Zeroizing::new(v);
        return RootKey::from_hex(&v).map(Some).ok_or(KeyError::Malformed {
            which,
            source_name: env.to_owned(),
        });
    }
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            RootKey::from_hex(&text)
                .map(Some)
                .ok_or_else(|| KeyError::Malformed {
                    which,
                    source_name: file.display().to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(KeyError::Io {
            path: file.display().to_string(),
            err,
        }),
    }
}

fn derive(root: &RootKey, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(b"renkei"), &root.0[..]);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(info, &mut out[..]);
    out
}

/// HMAC-SHA256 under a fixed key. Holds the keyed state (not the key), and clones it per
/// message, so each MAC costs two compressions instead of four.
#[derive(Clone)]
pub struct Macer {
    keyed: Hmac<Sha256>,
}

impl Macer {
    pub(crate) fn new(key: &[u8]) -> Self {
        #[allow(clippy::expect_used)] // HMAC accepts keys of any length.
        let keyed = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        Self { keyed }
    }

    /// HMAC-SHA256 of `data`.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut m = self.keyed.clone();
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 over `fields`, each prefixed by its length, so that no two different
    /// field lists give the same input (`("ab","c")` vs `("a","bc")`).
    pub fn mac_fields(&self, fields: &[&[u8]]) -> [u8; 32] {
        let mut m = self.keyed.clone();
        for f in fields {
            m.update(&(f.len() as u32).to_be_bytes());
            m.update(f);
        }
        m.finalize().into_bytes().into()
    }

    /// HMAC-SHA256 of the concatenation of `parts`.
    pub fn mac_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.keyed.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> KeyStore {
        KeyStore::from_keys(
            RootKey::from_hex(&"11".repeat(32)).unwrap(),
            Some(RootKey::from_hex(&"22".repeat(32)).unwrap()),
        )
    }

    #[test]
    fn purposes_give_independent_keys() {
        let k = ks();
        assert_ne!(*k.derive(Purpose::Csrf), *k.derive(Purpose::Seal));
        assert_eq!(*k.derive(Purpose::Csrf), *ks().derive(Purpose::Csrf));
        assert_ne!(
            *k.derive_linkage("id1/v1").unwrap(),
            *k.derive_linkage("id2/v1").unwrap()
        );
    }

    #[test]
    fn debug_never_prints_keys() {
        let s = format!("{:?}", ks());
        assert!(!s.contains("1111") && !s.contains("2222"), "{s}");
    }

    #[test]
    fn files_are_created_owner_only_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = KeyConfig::default();
        let a = KeyStore::load_or_create(&cfg, dir.path(), true).unwrap();
        let b = KeyStore::load(&cfg, dir.path()).unwrap();
        assert_eq!(*a.derive(Purpose::Seal), *b.derive(Purpose::Seal));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("keys/master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
        }
    }

    #[test]
    fn missing_and_malformed_keys_are_named_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let err = KeyStore::load(&KeyConfig::default(), dir.path()).unwrap_err();
        assert!(matches!(
            err,
            KeyError::Missing {
                which: "master",
                ..
            }
        ));
        std::fs::create_dir_all(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/master.key"), "not-a-key-secretvalue").unwrap();
        let err = KeyStore::load(&KeyConfig::default(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not 64 hex") && !err.contains("secretvalue"),
            "{err}"
        );
    }

    #[test]
    fn keyrings_grow_by_generation_and_fingerprints_tell_them_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("linkage.key");
        RootKey::generate().write_new(&path).unwrap();
        let one = KeyStore::load(
            &KeyConfig {
                linkage_key_file: Some(path.clone()),
                ..Default::default()
            },
            dir.path(),
        );
        assert!(one.is_err(), "no master key here");
        let master_hex = "11".repeat(32);
        let load = || {
            KeyStore::from_keyring(
                RootKey::from_hex(&master_hex).unwrap(),
                parse_keyring(&std::fs::read_to_string(&path).unwrap()).unwrap(),
            )
        };
        let g1 = load();
        assert_eq!(g1.linkage_generations(), 1);
        let fp1 = g1.current_linkage_fingerprint().unwrap();
        assert!(fp1.starts_with("lk1:") && fp1.len() == 24, "{fp1}");
        assert!(g1.linkage_step(2).is_err(), "no second generation yet");
        assert_eq!(append_linkage_generation(&path).unwrap(), 2);
        let g2 = load();
        assert_eq!(
            g2.linkage_fingerprint(1).unwrap(),
            fp1,
            "the first generation is kept"
        );
        let fp2 = g2.current_linkage_fingerprint().unwrap();
        assert!(fp2.starts_with("lk2:") && fp2 != fp1);
        assert!(g2.linkage_step(2).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "keyring readable by others: {mode:o}");
        }
        let other = KeyStore::from_keys(
            RootKey::from_hex(&master_hex).unwrap(),
            Some(RootKey::generate()),
        );
        assert_ne!(other.current_linkage_fingerprint().unwrap(), fp1);
        assert!(parse_keyring("not-a-key").is_none());
        assert_eq!(
            parse_keyring(&format!(
                "# comment\n{}, {}",
                "ab".repeat(32),
                "cd".repeat(32)
            ))
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn linkage_key_is_optional() {
        let k = KeyStore::from_keys(RootKey::generate(), None);
        assert!(matches!(k.derive_linkage("x"), Err(KeyError::NoLinkageKey)));
    }
}
