//! The local repository, through git2: the manifest's repository, HEAD, and whether the work
//! tree is clean. git2 is built without TLS and SSH (no OpenSSL): everything that talks to a
//! remote goes through the user's `git` program in `remote.rs`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The local repository as a plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    pub root: PathBuf,
    pub head: String,
    /// The branch HEAD is on, or `None` when detached.
    pub branch: Option<String>,
    /// Tracked files changed in the index or the work tree (these refuse a plan).
    pub dirty: Vec<String>,
    /// Untracked files that are not ignored: not in HEAD, so not deployed (a warning only).
    pub untracked: Vec<String>,
}

/// The first seven characters (of any text: a server's value is not trusted to be hex).
pub fn short(sha: &str) -> &str {
    match sha.char_indices().nth(7) {
        Some((end, _)) => &sha[..end],
        None => sha,
    }
}

#[derive(Debug)]
pub enum GitError {
    NotARepository {
        path: PathBuf,
    },
    NoCommits {
        root: PathBuf,
    },
    InProgress {
        root: PathBuf,
        what: &'static str,
    },
    Dirty {
        root: PathBuf,
        files: Vec<String>,
    },
    Remote {
        source: crate::remote::RemoteError,
    },
    Git {
        action: &'static str,
        source: git2::Error,
    },
}

impl GitError {
    /// Preconditions the user fixes (exit 4) versus failures of git or the network (exit 1).
    pub fn exit_code(&self) -> i32 {
        match self {
            GitError::Remote { source } => source.exit_code(),
            GitError::Git { .. } => 1,
            _ => 4,
        }
    }
}

impl From<crate::remote::RemoteError> for GitError {
    fn from(source: crate::remote::RemoteError) -> Self {
        GitError::Remote { source }
    }
}

/// Names what git was doing when a `git2` call failed:
/// `repo.find_tree(oid).doing("read a tree")?`.
pub trait Doing<T> {
    fn doing(self, action: &'static str) -> Result<T, GitError>;
}

impl<T> Doing<T> for Result<T, git2::Error> {
    fn doing(self, action: &'static str) -> Result<T, GitError> {
        self.map_err(|source| GitError::Git { action, source })
    }
}

impl fmt::Display for GitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitError::NotARepository { path } => write!(
                f,
                "`{}` is not inside a git repository; algodeploy publishes a commit, so the manifest must live in the algorithm's repository",
                path.display()
            ),
            GitError::NoCommits { root } => write!(
                f,
                "the repository `{}` has no commits yet; commit the algorithm first",
                root.display()
            ),
            GitError::InProgress { root, what } => write!(
                f,
                "a {what} is in progress in `{}`; finish or abort it first",
                root.display()
            ),
            GitError::Dirty { root, files } => {
                let shown: Vec<&str> = files.iter().take(20).map(String::as_str).collect();
                let more = if files.len() > 20 {
                    format!(" and {} more", files.len() - 20)
                } else {
                    String::new()
                };
                write!(
                    f,
                    "the work tree `{}` has uncommitted changes: {}{more}; commit or stash them (or pass --allow-dirty: HEAD is published, not the work tree)",
                    root.display(),
                    shown.join(", ")
                )
            }
            GitError::Remote { source } => write!(f, "{source}"),
            GitError::Git { action, source } => {
                write!(f, "git could not {action}: {}", source.message())
            }
        }
    }
}

impl std::error::Error for GitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GitError::Remote { source } => std::error::Error::source(source),
            _ => None,
        }
    }
}

/// Inspect the repository that holds `manifest`.
pub fn inspect(manifest: &Path) -> Result<GitState, GitError> {
    inspect_repo(&discover(manifest)?)
}

/// The repository that holds `manifest` (found from its folder upwards).
pub fn discover(manifest: &Path) -> Result<git2::Repository, GitError> {
    let folder = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    git2::Repository::discover(folder).map_err(|_| GitError::NotARepository {
        path: folder.to_path_buf(),
    })
}

/// Each repository inspected once, whatever the number of manifests in it: HEAD and the work
/// tree's status cost O(files) per repository, not per manifest.
#[derive(Default)]
pub struct Inspections {
    /// By the work tree's `.git` (canonical).
    by_dot_git: std::collections::HashMap<PathBuf, GitState>,
}

impl Inspections {
    /// The state of the repository holding `manifest`, and whether this is its first manifest.
    pub fn of(&mut self, manifest: &Path) -> Result<(GitState, bool), GitError> {
        // The nearest folder with a `.git` holds the repository: a few stat calls, where
        // opening the repository again would read its config and refs for every manifest.
        let folder = manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(folder) = folder.canonicalize()
            && let Some(dot_git) = folder
                .ancestors()
                .map(|a| a.join(".git"))
                .find(|g| g.exists())
            && let Some(state) = self.by_dot_git.get(&dot_git)
        {
            return Ok((state.clone(), false));
        }
        let repo = discover(manifest)?;
        let state = inspect_repo(&repo)?;
        if let Some(root) = repo.workdir().and_then(|w| w.canonicalize().ok()) {
            self.by_dot_git.insert(root.join(".git"), state.clone());
        }
        Ok((state, true))
    }
}

/// HEAD, branch, state and status of one repository.
pub fn inspect_repo(repo: &git2::Repository) -> Result<GitState, GitError> {
    let root = repo
        .workdir()
        .map_or_else(|| repo.path().to_path_buf(), Path::to_path_buf);
    let what = match repo.state() {
        git2::RepositoryState::Clean => None,
        git2::RepositoryState::Merge => Some("merge"),
        git2::RepositoryState::Revert | git2::RepositoryState::RevertSequence => Some("revert"),
        git2::RepositoryState::CherryPick | git2::RepositoryState::CherryPickSequence => {
            Some("cherry-pick")
        }
        git2::RepositoryState::Bisect => Some("bisect"),
        _ => Some("rebase"),
    };
    if let Some(what) = what {
        return Err(GitError::InProgress { root, what });
    }
    let head = match repo.head() {
        Ok(head) => head,
        Err(e)
            if e.code() == git2::ErrorCode::UnbornBranch
                || e.code() == git2::ErrorCode::NotFound =>
        {
            return Err(GitError::NoCommits { root });
        }
        Err(source) => {
            return Err(GitError::Git {
                action: "read HEAD",
                source,
            });
        }
    };
    let commit = head.peel_to_commit().doing("read HEAD's commit")?;
    let branch = if head.is_branch() {
        head.shorthand().ok().map(str::to_owned)
    } else {
        None
    };
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let statuses = repo
        .statuses(Some(&mut options))
        .doing("read the work tree's status")?;
    let mut dirty = Vec::new();
    let mut untracked = Vec::new();
    for entry in statuses.iter() {
        let status = entry.status();
        let Ok(path) = entry.path() else { continue };
        if status.is_ignored() || status == git2::Status::CURRENT {
            continue;
        }
        if status == git2::Status::WT_NEW {
            untracked.push(path.to_owned());
        } else {
            dirty.push(path.to_owned());
        }
    }
    Ok(GitState {
        root,
        head: commit.id().to_string(),
        branch,
        dirty,
        untracked,
    })
}

/// Whether `commit` is HEAD or in HEAD's history (false when the object is not even in the
/// local repository: then HEAD cannot contain it).
pub fn contains(root: &Path, head: &str, commit: &str) -> bool {
    let Ok(repo) = git2::Repository::open(root) else {
        return false;
    };
    let (Ok(head), Ok(commit)) = (git2::Oid::from_str(head), git2::Oid::from_str(commit)) else {
        return false;
    };
    head == commit
        || (repo.find_commit(commit).is_ok()
            && repo.graph_descendant_of(head, commit).unwrap_or(false))
}

/// The algorithm's repository URL on the git server.
pub fn remote_url(git_server: &str, owner: &str, name: &str) -> String {
    format!("{git_server}/git/{owner}/{name}.git")
}

/// A commit's object name: 40 (SHA-1) or 64 (SHA-256) hex digits. Checked wherever a commit
/// comes from outside (the API, `ls-remote`, a trailer) before git is asked about it.
pub fn is_object_name(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_takes_characters_not_bytes() {
        assert_eq!(super::short("0123456789abcdef"), "0123456");
        assert_eq!(super::short("ééééééééé"), "ééééééé");
        assert_eq!(super::short("abc"), "abc");
    }
}
