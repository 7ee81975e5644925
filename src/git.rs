//! Everything git, through git2: the manifest's repository and HEAD, whether the work tree is
//! clean, what the algorithm's remote `master` is, and pushing HEAD there.
//!
//! Credentials come from the API key through a credential callback and are never written into a
//! remote URL, `.git/config` or a credential store. The user name is the manifest's owner.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::ApiKey;

/// The local repository as a plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    pub root: PathBuf,
    pub head: String,
    /// The branch HEAD is on, or `None` when detached.
    pub branch: Option<String>,
    /// Changed tracked files and untracked files that are not ignored.
    pub dirty: Vec<String>,
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
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
        url: String,
        source: git2::Error,
    },
    PushRejected {
        url: String,
        reason: String,
    },
    Git {
        action: &'static str,
        source: git2::Error,
    },
}

impl GitError {
    /// Preconditions the user fixes (exit 4) versus failures of git or the network (exit 1).
    pub fn is_precondition(&self) -> bool {
        !matches!(self, GitError::Remote { .. } | GitError::Git { .. })
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
            GitError::Remote { url, source } => write!(
                f,
                "cannot read the git remote `{url}`: {}",
                source.message()
            ),
            GitError::PushRejected { url, reason } => {
                write!(f, "the push to `{url}` was rejected: {reason}")
            }
            GitError::Git { action, source } => {
                write!(f, "git could not {action}: {}", source.message())
            }
        }
    }
}

impl std::error::Error for GitError {}

/// Inspect the repository that holds `manifest`.
pub fn inspect(manifest: &Path) -> Result<GitState, GitError> {
    let folder = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let repo = git2::Repository::discover(folder).map_err(|_| GitError::NotARepository {
        path: folder.to_path_buf(),
    })?;
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
    let commit = head.peel_to_commit().map_err(|source| GitError::Git {
        action: "read HEAD's commit",
        source,
    })?;
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
        .map_err(|source| GitError::Git {
            action: "read the work tree's status",
            source,
        })?;
    let dirty = statuses
        .iter()
        .filter(|s| !s.status().is_ignored() && s.status() != git2::Status::CURRENT)
        .filter_map(|s| s.path().ok().map(str::to_owned))
        .collect();
    Ok(GitState {
        root,
        head: commit.id().to_string(),
        branch,
        dirty,
    })
}

/// libgit2's network timeouts (connect 10 s, reads and writes 60 s), set once before the first
/// network operation so that no git call can hang a pipeline.
fn network_timeouts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: these set process-wide libgit2 options; `Once` runs them before any network
        // operation of this process starts, and every one goes through this function.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(10_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
        }
    });
}

fn callbacks<'a>(user: &'a str, key: &'a ApiKey) -> git2::RemoteCallbacks<'a> {
    let mut callbacks = git2::RemoteCallbacks::new();
    let mut tries = 0;
    callbacks.credentials(move |_url, _user_from_url, _allowed| {
        // libgit2 asks again after a rejection; once is enough to know the key is refused.
        tries += 1;
        if tries > 1 {
            return Err(git2::Error::from_str("the git server rejected the API key"));
        }
        git2::Cred::userpass_plaintext(user, key.expose())
    });
    callbacks
}

/// The commit `master` points to on the remote, or `None` for an empty repository.
pub fn remote_master(url: &str, user: &str, key: &ApiKey) -> Result<Option<String>, GitError> {
    network_timeouts();
    let mut remote = git2::Remote::create_detached(url).map_err(|source| GitError::Remote {
        url: url.into(),
        source,
    })?;
    let connection = remote
        .connect_auth(git2::Direction::Fetch, Some(callbacks(user, key)), None)
        .map_err(|source| GitError::Remote {
            url: url.into(),
            source,
        })?;
    let heads = connection.list().map_err(|source| GitError::Remote {
        url: url.into(),
        source,
    })?;
    Ok(heads
        .iter()
        .find(|h| h.name() == "refs/heads/master")
        .map(|h| h.oid().to_string()))
}

/// Push `commit` to the remote's `master` (fast-forward only).
pub fn push(
    root: &Path,
    url: &str,
    user: &str,
    key: &ApiKey,
    commit: &str,
) -> Result<(), GitError> {
    network_timeouts();
    let repo = git2::Repository::open(root).map_err(|source| GitError::Git {
        action: "open the repository",
        source,
    })?;
    let oid = git2::Oid::from_str(commit).map_err(|source| GitError::Git {
        action: "parse HEAD",
        source,
    })?;
    // libgit2 pushes references, not commits: a temporary one names HEAD (detached or not).
    let temp = "refs/algodeploy/push";
    repo.reference(temp, oid, true, "algodeploy push")
        .map_err(|source| GitError::Git {
            action: "prepare the push",
            source,
        })?;
    let result = (|| {
        let mut remote = repo
            .remote_anonymous(url)
            .map_err(|source| GitError::Remote {
                url: url.into(),
                source,
            })?;
        let mut rejected: Option<String> = None;
        {
            let mut callbacks = callbacks(user, key);
            callbacks.push_update_reference(|_reference, status| {
                if let Some(status) = status {
                    rejected = Some(status.to_string());
                }
                Ok(())
            });
            let mut options = git2::PushOptions::new();
            options.remote_callbacks(callbacks);
            remote
                .push(&[format!("{temp}:refs/heads/master")], Some(&mut options))
                .map_err(|source| match source.code() {
                    git2::ErrorCode::NotFastForward => GitError::PushRejected {
                        url: url.into(),
                        reason: "the remote `master` has commits that HEAD does not contain (not a fast-forward); merge them first".into(),
                    },
                    _ => GitError::Remote { url: url.into(), source },
                })?;
        }
        match rejected {
            Some(reason) => Err(GitError::PushRejected {
                url: url.into(),
                reason,
            }),
            None => Ok(()),
        }
    })();
    if let Ok(mut reference) = repo.find_reference(temp) {
        let _ = reference.delete();
    }
    result
}

/// The algorithm's repository URL on the git server.
pub fn remote_url(git_server: &str, owner: &str, name: &str) -> String {
    format!("{git_server}/git/{owner}/{name}.git")
}
