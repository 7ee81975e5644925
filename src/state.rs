//! The last-applied record: what algodeploy applied to an algorithm, kept beside the manifest in
//! `.algodeploy/state.json` (for `algorithm.yaml`; `.algodeploy/NAME.state.json` for a manifest
//! file called `NAME`). The folder carries its own `.gitignore` (`*`), so the record never makes
//! the work tree dirty and is never committed.
//!
//! A plan compares the live algorithm with this record to report drift (changes made outside
//! algodeploy). Writes are atomic (temporary file, fsync, rename, fsync of the folder). A
//! corrupt or truncated record is an error, never an empty record; a record written by a newer
//! format is refused. The record never holds a key.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read as _, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const FORMAT_VERSION: u32 = 1;
pub const DIR: &str = ".algodeploy";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub format_version: u32,
    pub tool_version: String,
    /// `owner/name`.
    pub algorithm: String,
    pub algorithm_id: String,
    /// sha256 of the manifest (and summary file) that was applied.
    pub manifest_digest: String,
    /// The managed fields as applied (`details.label`, `settings.license`, ...).
    pub fields: BTreeMap<String, Value>,
    /// The published version and its commit, when one was published or confirmed.
    pub version: Option<String>,
    pub commit: Option<String>,
    pub applied_at: String,
    /// The secrets algodeploy set, by name: a keyed fingerprint of each value (HMAC-SHA256 with
    /// this machine's key in `.algodeploy/fingerprint.key`), never the value or a plain hash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug)]
pub enum StateError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Corrupt {
        path: PathBuf,
        reason: String,
    },
    Newer {
        path: PathBuf,
        found: u32,
    },
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Read { path, .. } => {
                write!(f, "cannot read the state record `{}`", path.display())
            }
            StateError::Corrupt { path, reason } => write!(
                f,
                "the state record `{}` is corrupt ({reason}); it is not treated as empty: delete it to plan against the live state alone",
                path.display()
            ),
            StateError::Newer { path, found } => write!(
                f,
                "the state record `{}` has format {found}, newer than this algodeploy understands ({FORMAT_VERSION}); upgrade algodeploy",
                path.display()
            ),
            StateError::Write { path, .. } => {
                write!(f, "cannot write the state record `{}`", path.display())
            }
        }
    }
}

impl std::error::Error for StateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateError::Read { source, .. } | StateError::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The environment (`--env`) this process works in: each has its own records and locks.
static ENVIRONMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set once, at the start of a command, when `--env` is given.
pub fn set_environment(name: &str) {
    let _ = ENVIRONMENT.set(name.to_string());
}

/// `.NAME` for the environment in force, else nothing.
fn environment_suffix() -> String {
    ENVIRONMENT
        .get()
        .map_or_else(String::new, |name| format!(".{name}"))
}

/// Where the record of `manifest` lives (per environment: `state.staging.json`).
pub fn path_for(manifest: &Path) -> PathBuf {
    let folder = manifest.parent().unwrap_or(Path::new(""));
    let file = manifest.file_name().map_or_else(
        || "algorithm.yaml".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let env = environment_suffix();
    let name = if file == "algorithm.yaml" {
        format!("state{env}.json")
    } else {
        format!("{file}{env}.state.json")
    };
    folder.join(DIR).join(name)
}

/// The largest record read (a record is a few KiB).
const MAX_RECORD: u64 = 4 * 1024 * 1024;

/// A folder the repository could have committed as a symbolic link (pointing anywhere) is
/// never followed.
fn refuse_link(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(std::io::Error::other(format!(
            "`{}` is a symbolic link; algodeploy does not follow links for its own files (a repository could point them anywhere): remove it",
            path.display()
        ))),
        Ok(meta) if !meta.is_dir() => Err(std::io::Error::other(format!(
            "`{}` is not a folder; remove it",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Open one of algodeploy's own files without following a symbolic link (`O_NOFOLLOW`) and
/// without blocking on a FIFO (`O_NONBLOCK`); anything but a regular file is refused.
fn open_own(path: &Path, options: &mut std::fs::OpenOptions) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other(format!(
                    "`{}` is a symbolic link; algodeploy does not follow links for its own files: remove it",
                    path.display()
                ))
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(format!(
            "`{}` is not a regular file; remove it",
            path.display()
        )));
    }
    Ok(file)
}

pub fn load(manifest: &Path) -> Result<Option<Record>, StateError> {
    use std::io::Read;
    let path = path_for(manifest);
    let read = |path: &Path| -> std::io::Result<String> {
        refuse_link(path.parent().expect("a state path has a folder"))?;
        let file = open_own(path, std::fs::OpenOptions::new().read(true))?;
        let mut text = String::new();
        file.take(MAX_RECORD).read_to_string(&mut text)?;
        Ok(text)
    };
    let text = match read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path, source }),
    };
    let corrupt = |path, e: serde_json::Error| StateError::Corrupt {
        path,
        reason: e.to_string(),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| corrupt(path.clone(), e))?;
    let found = value["format_version"].as_u64().unwrap_or(0);
    if found > u64::from(FORMAT_VERSION) {
        return Err(StateError::Newer {
            path,
            found: u32::try_from(found).unwrap_or(u32::MAX),
        });
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| corrupt(path, e))
}

/// The `.algodeploy` folder beside `manifest`, made (with its self-ignoring `.gitignore`) if
/// missing.
pub fn folder(manifest: &Path) -> std::io::Result<PathBuf> {
    let folder = path_for(manifest)
        .parent()
        .expect("a state path has a folder")
        .to_path_buf();
    refuse_link(&folder)?;
    std::fs::create_dir_all(&folder)?;
    refuse_link(&folder)?;
    let ignore = folder.join(".gitignore");
    if !ignore.exists() {
        write_atomic(
            &ignore,
            b"# algodeploy's last-applied records and locks: local, never committed\n*\n",
        )?;
    }
    Ok(folder)
}

/// An exclusive OS lock on the manifest's `.algodeploy/lock`, held until dropped. Waits up to
/// `wait`; on failure returns who holds it (pid, host, start time), as the holder wrote it.
pub fn lock(
    manifest: &Path,
    wait: std::time::Duration,
) -> std::io::Result<Result<std::fs::File, (PathBuf, String)>> {
    let path = folder(manifest)?.join(format!("lock{}", environment_suffix()));
    let file = open_own(
        &path,
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644),
    )?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = std::io::Read::read_to_string(&mut (&file).take(1024), &mut holder);
                let holder = crate::sanitize::line(&holder, None, 200);
                return Ok(Err((
                    path,
                    if holder.is_empty() {
                        "holder unknown".into()
                    } else {
                        holder
                    },
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "unknown host".into(), |h| h.trim().to_string());
    let holder = format!(
        "pid {} on {host}, since {}",
        std::process::id(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    );
    file.set_len(0)?;
    std::io::Write::write_all(&mut &file, holder.as_bytes())?;
    Ok(Ok(file))
}

pub fn save(manifest: &Path, record: &Record) -> Result<(), StateError> {
    let path = path_for(manifest);
    let mut text = serde_json::to_vec_pretty(record).expect("a record serializes");
    text.push(b'\n');
    folder(manifest)
        .and_then(|_| write_atomic(&path, &text))
        .map_err(|source| StateError::Write { path, source })
}

/// The folder a path's file lives in (`.` for a bare name such as `plan.json`).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new file with the usual permissions (0644 less the umask), written whole and never over
/// an existing one (`AlreadyExists` then): for files meant for people, such as imported
/// manifests.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let folder = folder_of(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(folder)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist_noclobber(path)?;
    std::fs::File::open(folder)?.sync_all()
}

/// Temporary file in the same folder, fsync, rename over the target, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = folder_of(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(folder)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path)?;
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            format_version: FORMAT_VERSION,
            tool_version: "0.1.0".into(),
            algorithm: "demo/hello".into(),
            algorithm_id: "id".into(),
            manifest_digest: "d".into(),
            fields: BTreeMap::from([("details.label".to_string(), Value::from("Hello"))]),
            version: Some("1.0.0".into()),
            commit: Some("abc".into()),
            applied_at: "2026-01-01T00:00:00.000Z".into(),
            secrets: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trip_and_self_ignoring_folder() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("algorithm.yaml");
        assert_eq!(load(&manifest).unwrap(), None);
        save(&manifest, &record()).unwrap();
        assert_eq!(load(&manifest).unwrap(), Some(record()));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".algodeploy/.gitignore"))
                .unwrap()
                .lines()
                .last(),
            Some("*")
        );
        assert_eq!(
            path_for(&dir.path().join("prod.yaml")),
            dir.path().join(".algodeploy/prod.yaml.state.json")
        );
    }

    #[test]
    fn corrupt_or_newer_records_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("algorithm.yaml");
        save(&manifest, &record()).unwrap();
        let path = path_for(&manifest);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(matches!(load(&manifest), Err(StateError::Corrupt { .. })));
        std::fs::write(
            &path,
            text.replace("\"format_version\": 1", "\"format_version\": 9"),
        )
        .unwrap();
        assert!(matches!(
            load(&manifest),
            Err(StateError::Newer { found: 9, .. })
        ));
    }
}
