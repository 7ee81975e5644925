//! Which certificate authorities algodeploy trusts, one rule for the API client and for git:
//! the system's roots, plus the profile's `ca_cert` (the official CLI's field), plus
//! `SSL_CERT_FILE` and every folder in `SSL_CERT_DIR`. The union, not a replacement: pointing
//! `SSL_CERT_FILE` at a private CA does not stop public hosts (or a proxy) from working.
//!
//! [`Trust::load`] reads the files once; [`Trust::rustls_config`] gives the API client its TLS
//! configuration and [`Trust::git_bundle`] writes the same roots as one PEM file for the `git`
//! program (`GIT_SSL_CAINFO`), so that a remote read or push trusts exactly what the API client
//! does. Files the user named (the profile's `ca_cert`, `SSL_CERT_FILE`) must exist and hold at
//! least one certificate; a broken system store only loses its unreadable entries.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Where a set of trusted certificates came from, for messages and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    System(PathBuf),
    Profile(PathBuf),
    EnvFile(PathBuf),
    EnvDir(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::System(path) => write!(f, "the system store `{}`", path.display()),
            Origin::Profile(path) => write!(f, "the profile's ca_cert `{}`", path.display()),
            Origin::EnvFile(path) => write!(f, "SSL_CERT_FILE `{}`", path.display()),
            Origin::EnvDir(path) => write!(f, "SSL_CERT_DIR `{}`", path.display()),
        }
    }
}

#[derive(Debug)]
pub enum TrustError {
    /// A file the user named cannot be read or holds no certificate.
    Unusable { origin: Origin, reason: String },
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::Unusable { origin, reason } => {
                write!(f, "cannot use {origin} as trusted certificates: {reason}")
            }
        }
    }
}

impl std::error::Error for TrustError {}

/// The trusted roots, loaded once per run.
#[derive(Debug, Clone)]
pub struct Trust {
    roots: Vec<CertificateDer<'static>>,
    /// Each source and how many certificates it gave.
    pub sources: Vec<(Origin, usize)>,
    /// Whether anything beyond the system store is trusted (then git needs to be told).
    pub extra: bool,
}

/// The system bundles, as OpenSSL-based tools look for them (first found wins).
const SYSTEM_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
];

/// The largest certificate file read (a system bundle is about 200 KiB).
const MAX_FILE: u64 = 16 * 1024 * 1024;

impl Trust {
    /// The system store, the profile's `ca_cert` and `SSL_CERT_FILE` / `SSL_CERT_DIR` from the
    /// environment.
    pub fn load(profile_ca: Option<&Path>) -> Result<Trust, TrustError> {
        let env_file = std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let env_dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Trust::from_sources(
            SYSTEM_FILES.iter().map(PathBuf::from).find(|p| p.is_file()),
            profile_ca,
            env_file.as_deref(),
            &env_dirs,
        )
    }

    /// The same as [`Trust::load`] with every location given (pure apart from reading files).
    pub fn from_sources(
        system: Option<PathBuf>,
        profile_ca: Option<&Path>,
        env_file: Option<&Path>,
        env_dirs: &[PathBuf],
    ) -> Result<Trust, TrustError> {
        let mut trust = Trust {
            roots: Vec::new(),
            sources: Vec::new(),
            extra: false,
        };
        if let Some(path) = system {
            // A damaged system store loses what cannot be read; it is not the user's file.
            if let Ok(certs) = read_pem(&path) {
                trust.add(Origin::System(path), certs);
            }
        }
        // macOS keeps its trust (and the CAs an administrator added) in the keychain, which no
        // bundle file holds.
        #[cfg(target_os = "macos")]
        {
            let found = rustls_native_certs::load_native_certs();
            if !found.certs.is_empty() {
                trust.add(
                    Origin::System(PathBuf::from("(macOS keychain)")),
                    found.certs,
                );
            }
        }
        let mut named = Vec::new();
        if let Some(path) = profile_ca {
            named.push((Origin::Profile(path.to_path_buf()), path));
        }
        if let Some(path) = env_file {
            named.push((Origin::EnvFile(path.to_path_buf()), path));
        }
        for (origin, path) in named {
            let certs = read_pem(path).map_err(|reason| TrustError::Unusable {
                origin: origin.clone(),
                reason,
            })?;
            if certs.is_empty() {
                return Err(TrustError::Unusable {
                    origin,
                    reason: "it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
                });
            }
            trust.extra = true;
            trust.add(origin, certs);
        }
        for dir in env_dirs {
            let origin = Origin::EnvDir(dir.clone());
            let entries = std::fs::read_dir(dir).map_err(|e| TrustError::Unusable {
                origin: origin.clone(),
                reason: e.to_string(),
            })?;
            let mut certs = Vec::new();
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths.iter().filter(|p| p.is_file()) {
                // A folder of hashed links holds other files too; only certificates count.
                if let Ok(found) = read_pem(path) {
                    certs.extend(found);
                }
            }
            trust.extra = true;
            trust.add(origin, certs);
        }
        Ok(trust)
    }

    fn add(&mut self, origin: Origin, certs: Vec<CertificateDer<'static>>) {
        self.sources.push((origin, certs.len()));
        self.roots.extend(certs);
    }

    /// How many certificates are trusted in all.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The roots as rustls anchors. Certificates rustls cannot use as anchors (old, malformed)
    /// are skipped, as every OpenSSL-based tool skips them.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore::empty();
        let _ = store.add_parsable_certificates(self.roots.iter().cloned());
        store
    }

    /// A rustls client configuration trusting these roots (ring provider; HTTP/2 and 1.1).
    pub fn rustls_config(&self) -> rustls::ClientConfig {
        let store = self.root_store();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }

    /// Every trusted root as one PEM file (plus `more`, certificates git itself was configured
    /// to trust), for `GIT_SSL_CAINFO`. The file holds only public certificates.
    pub fn git_bundle(
        &self,
        more: &[CertificateDer<'static>],
    ) -> std::io::Result<tempfile::NamedTempFile> {
        let mut file = tempfile::Builder::new()
            .prefix("algodeploy-ca-")
            .suffix(".pem")
            .tempfile()?;
        let mut text = String::new();
        for cert in self.roots.iter().chain(more) {
            text.push_str(&pem("CERTIFICATE", cert.as_ref()));
        }
        file.write_all(text.as_bytes())?;
        file.flush()?;
        Ok(file)
    }
}

/// The certificates in a PEM file (other PEM sections are skipped).
pub fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {} MiB", MAX_FILE / 1024 / 1024));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        match cert {
            Ok(cert) => certs.push(cert),
            Err(e) => return Err(format!("not valid PEM ({e})")),
        }
    }
    Ok(certs)
}

/// DER bytes as a PEM section with 64-character lines.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn named_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(dir.path(), "empty.pem", "not a certificate\n");
        let err = Trust::from_sources(None, Some(&empty), None, &[]).unwrap_err();
        assert!(
            err.to_string().contains("ca_cert") && err.to_string().contains("no PEM"),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = Trust::from_sources(None, None, Some(&missing), &[]).unwrap_err();
        assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");
    }

    #[test]
    fn a_bundle_round_trips_through_pem() {
        let der = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let text = pem("CERTIFICATE", der.as_ref());
        let back: Vec<_> = CertificateDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![der]);
    }
}
