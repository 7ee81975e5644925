//! Which manifests a run covers, for pipelines over monorepos: `--changed-since REF` keeps the
//! manifests whose folder (or `summary_file`) changed between the merge base of REF and HEAD,
//! or has uncommitted changes; `--shard I/N` keeps a deterministic share of them, by algorithm
//! name (not position, so adding one manifest moves few others), each manifest in exactly one
//! shard.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `--shard I/N`: shard I (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not I/N (such as 1/4)"))?;
        let (index, count): (u32, u32) = (
            i.trim()
                .parse()
                .map_err(|_| format!("`{i}` is not a shard number"))?,
            n.trim()
                .parse()
                .map_err(|_| format!("`{n}` is not a number of shards"))?,
        );
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "shard {index}/{count} does not exist: I is 1 to N, N at least 1"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The names (of everything the run could cover) that this shard holds. Names are ordered
    /// by a hash of the name and cut into N contiguous runs of equal length (±1): every shard
    /// gets its share, whatever the names; adding one name moves at most one name across each
    /// cut, so shards stay stable as a monorepo grows. Every shard computes the same cuts from
    /// the same list.
    pub fn select(&self, names: &[String]) -> std::collections::HashSet<String> {
        let mut ordered: Vec<(u64, &String)> = names
            .iter()
            .map(|name| {
                let digest = Sha256::digest(name.as_bytes());
                (
                    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")),
                    name,
                )
            })
            .collect();
        ordered.sort();
        ordered.dedup_by(|a, b| a.1 == b.1);
        let (count, total) = (self.count as usize, ordered.len());
        let (index, shards) = ((self.index - 1) as usize, count.max(1));
        let start = index * total / shards;
        let end = (index + 1) * total / shards;
        ordered[start..end]
            .iter()
            .map(|(_, name)| (*name).clone())
            .collect()
    }
}

/// Why `--changed-since` cannot be worked out.
#[derive(Debug)]
pub enum ChangedError {
    /// REF names nothing, or has no history in common with HEAD.
    BadRef {
        reference: String,
        reason: String,
    },
    Git {
        root: PathBuf,
        message: String,
    },
}

impl std::fmt::Display for ChangedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangedError::BadRef { reference, reason } => {
                write!(f, "--changed-since `{reference}`: {reason}")
            }
            ChangedError::Git { root, message } => write!(
                f,
                "cannot work out what changed in `{}`: {message}",
                root.display()
            ),
        }
    }
}

/// What changed in one repository since the merge base of REF and HEAD, work tree included.
pub struct Changes {
    pub root: PathBuf,
    /// Paths relative to the root (`/`-separated).
    pub paths: Vec<String>,
    /// Manifests (`…/algorithm.yaml`) that existed at the merge base and are gone at HEAD.
    pub removed: Vec<String>,
}

/// The changes of the repository holding `path`, computed once per repository.
#[derive(Default)]
pub struct ChangedSince {
    by_root: HashMap<PathBuf, Changes>,
}

impl ChangedSince {
    pub fn of(&mut self, reference: &str, path: &Path) -> Result<&Changes, ChangedError> {
        let folder = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        };
        let repo = git2::Repository::discover(&folder).map_err(|e| ChangedError::Git {
            root: folder.clone(),
            message: e.message().to_string(),
        })?;
        let root = repo
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.path().to_path_buf());
        let root = root.canonicalize().unwrap_or(root);
        if !self.by_root.contains_key(&root) {
            let changes = changes(&repo, &root, reference)?;
            self.by_root.insert(root.clone(), changes);
        }
        Ok(&self.by_root[&root])
    }
}

fn changes(repo: &git2::Repository, root: &Path, reference: &str) -> Result<Changes, ChangedError> {
    let git = |e: git2::Error| ChangedError::Git {
        root: root.to_path_buf(),
        message: e.message().to_string(),
    };
    let bad = |reason: String| ChangedError::BadRef {
        reference: reference.to_string(),
        reason,
    };
    let target = repo
        .revparse_single(reference)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| bad(format!("no such commit ({})", e.message())))?;
    let head = repo.head().and_then(|h| h.peel_to_commit()).map_err(git)?;
    let base = repo
        .merge_base(target.id(), head.id())
        .map_err(|_| bad("it has no history in common with HEAD".into()))?;
    let diff = (|| {
        let base_tree = repo.find_commit(base)?.tree()?;
        repo.diff_tree_to_tree(Some(&base_tree), Some(&head.tree()?), None)
    })()
    .map_err(git)?;
    let mut paths = Vec::new();
    let mut removed = Vec::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(path) = file.path() {
                paths.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
        if delta.status() == git2::Delta::Deleted
            && let Some(path) = delta.old_file().path()
            && path
                .file_name()
                .is_some_and(|n| n == crate::manifest::MANIFEST_NAME)
        {
            removed.push(path.to_string_lossy().replace('\\', "/"));
        }
    }
    // Uncommitted changes count too (a run on a work tree plans what is there).
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    if let Ok(statuses) = repo.statuses(Some(&mut options)) {
        for entry in statuses.iter() {
            if let Ok(path) = entry.path()
                && !entry.status().is_ignored()
            {
                paths.push(path.to_string());
            }
        }
    }
    paths.sort();
    paths.dedup();
    Ok(Changes {
        root: root.to_path_buf(),
        paths,
        removed,
    })
}

impl Changes {
    /// Whether anything under `folder` (relative to the root; empty for the root) or the file
    /// `extra` changed.
    /// Whether anything under `folder` (relative to the root; empty for the root) changed, or
    /// any of `extra` (files, or folders whose content counts: a `summary_file`, an include).
    pub fn touches(&self, folder: &str, extra: &[String]) -> bool {
        let under = |folder: &str, path: &str| {
            folder.is_empty()
                || path == folder
                || path
                    .strip_prefix(folder.trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        self.paths
            .iter()
            .any(|p| under(folder, p) || extra.iter().any(|e| under(e, p)))
    }

    /// `file` (relative to `folder`, itself relative to the root) as a root-relative path, with
    /// `.` and `..` resolved by name.
    pub fn join(folder: &str, file: &Path) -> String {
        let mut parts: Vec<String> = folder
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        for component in file.components() {
            match component {
                std::path::Component::ParentDir => {
                    parts.pop();
                }
                std::path::Component::Normal(part) => {
                    parts.push(part.to_string_lossy().into_owned());
                }
                _ => {}
            }
        }
        parts.join("/")
    }

    /// `path` relative to the root, `/`-separated.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let full = path.canonicalize().ok()?;
        let relative = full.strip_prefix(&self.root).ok()?;
        Some(relative.to_string_lossy().replace('\\', "/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition() {
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        let names: Vec<String> = (0..200).map(|n| format!("demo/algo_{n}")).collect();
        let held: Vec<_> = shards.iter().map(|s| s.select(&names)).collect();
        for name in &names {
            assert_eq!(
                held.iter().filter(|h| h.contains(name)).count(),
                1,
                "{name}"
            );
        }
        let one: Shard = "1/1".parse().unwrap();
        assert_eq!(one.select(&names).len(), 200);
    }

    #[test]
    fn shards_are_balanced_and_stable_as_names_are_added() {
        for count in [2u32, 3, 7] {
            let shards: Vec<Shard> = (1..=count)
                .map(|i| format!("{i}/{count}").parse().unwrap())
                .collect();
            let mut names: Vec<String> = (0..300).map(|n| format!("demo/a{n}")).collect();
            let before: Vec<_> = shards.iter().map(|s| s.select(&names)).collect();
            let sizes: Vec<usize> = before.iter().map(std::collections::HashSet::len).collect();
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "{count} shards: {sizes:?}");
            names.push("demo/new_one".into());
            let after: Vec<_> = shards.iter().map(|s| s.select(&names)).collect();
            let moved: usize = before
                .iter()
                .zip(&after)
                .map(|(b, a)| b.difference(a).count())
                .sum();
            assert!(
                moved < count as usize,
                "{count} shards: {moved} names moved"
            );
        }
    }
}
