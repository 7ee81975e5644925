//! Secrets on the client side: values are read from algodeploy's own environment when it
//! applies (the manifest names the variable, never the value), and what was set is remembered
//! as a keyed fingerprint — HMAC-SHA256 with a random key of this machine kept in
//! `.algodeploy/fingerprint.key` (mode 600) — so that a plan can say "changed" or "unchanged"
//! without the value being stored anywhere, or being guessable from a plain hash.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// What a plan knows of one declared secret's value here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInput {
    pub spec: crate::manifest::SecretSpec,
    /// The keyed fingerprint of the value in `from_env`; `None`: the variable is not set.
    pub fingerprint: Option<String>,
}

/// HMAC-SHA256 (RFC 2104) of `name` and `value` under `key`, hex.
pub fn fingerprint(key: &[u8; 32], name: &str, value: &str) -> String {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(name.as_bytes());
    inner.update([0]);
    inner.update(value.as_bytes());
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    algodeploy_platform::hex(&outer.finalize())
}

/// This machine's fingerprint key for the manifest's folder: read, or made (32 random bytes,
/// mode 600) the first time. Never followed through a link.
pub fn machine_key(manifest: &Path) -> std::io::Result<[u8; 32]> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = crate::state::folder(manifest)?.join("fingerprint.key");
    let mut key = [0u8; 32];
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(mut file) => {
            let mut hex = String::new();
            Read::by_ref(&mut file).take(200).read_to_string(&mut hex)?;
            let hex = hex.trim();
            if hex.len() == 64 {
                for (i, byte) in key.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
                return Ok(key);
            }
            Err(std::io::Error::other(format!(
                "`{}` is not a fingerprint key; remove it to make a new one",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let random = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
            key[..16].copy_from_slice(random[0].as_bytes());
            key[16..].copy_from_slice(random[1].as_bytes());
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            let hex = algodeploy_platform::hex(&key);
            file.write_all(hex.as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// The value of `from_env` in algodeploy's environment (an empty variable is not set).
pub fn value(from_env: &str) -> Option<String> {
    std::env::var(from_env).ok().filter(|v| !v.is_empty())
}

/// Each declared secret with the fingerprint of its value here.
pub fn inputs(
    manifest: &Path,
    specs: &[crate::manifest::SecretSpec],
) -> std::io::Result<Vec<SecretInput>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let key = machine_key(manifest)?;
    Ok(specs
        .iter()
        .map(|spec| SecretInput {
            spec: spec.clone(),
            fingerprint: value(&spec.from_env).map(|v| fingerprint(&key, &spec.name, &v)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_are_keyed() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(
            super::fingerprint(&a, "N", "v"),
            super::fingerprint(&a, "N", "v")
        );
        assert_ne!(
            super::fingerprint(&a, "N", "v"),
            super::fingerprint(&b, "N", "v")
        );
        assert_ne!(
            super::fingerprint(&a, "N", "v"),
            super::fingerprint(&a, "M", "v")
        );
        assert_eq!(super::fingerprint(&a, "N", "v").len(), 64);
    }
}
