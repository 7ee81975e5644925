//! Reading the live state of one algorithm: the algorithm, its published versions and its
//! builds at once (independent reads go out concurrently over one connection pool, so a plan
//! costs about one round trip); the remote `master` is the newest build's commit, and the git
//! remote is asked only for an algorithm that exists and has no build. `head` here is the deploy
//! commit (`deploy.rs`): HEAD itself, or the commit derived from the manifest's folders.

use std::path::Path;

use crate::api::{ApiError, Client};
use crate::config::Config;
use crate::current::Build;
use crate::current::Live;
use crate::git::{self, GitError};
use crate::manifest::Loaded;
use crate::remote::Remotes;

#[derive(Debug)]
pub enum ReadError {
    Api(ApiError),
    Git(GitError),
}

impl From<ApiError> for ReadError {
    fn from(error: ApiError) -> Self {
        ReadError::Api(error)
    }
}

impl From<crate::remote::RemoteError> for ReadError {
    fn from(source: crate::remote::RemoteError) -> Self {
        ReadError::Git(GitError::Remote { source })
    }
}

pub async fn read(
    client: &Client,
    config: &Config,
    remotes: &Remotes,
    git_root: &Path,
    loaded: &Loaded,
    head: &str,
    want_secrets: bool,
) -> Result<Live, ReadError> {
    let owner = loaded.manifest.owner.clone();
    let name = loaded.manifest.name.clone();
    let remote = git::remote_url(&config.git, &owner, &name);
    let head_owned = head.to_string();
    let (algorithm, published, builds) = tokio::join!(
        client.algorithm(&owner, &name),
        client.published_versions(&owner, &name),
        // Newest first: the first page holding HEAD's commit has its newest build.
        client.builds(&owner, &name, move |builds: &[Build]| {
            builds.iter().any(|b| b.commit == head_owned)
        }),
    );
    let algorithm = algorithm?;
    let published = published?;
    let secrets = match &algorithm {
        Some(found) if want_secrets => client.secrets(&found.id).await?,
        _ => Vec::new(),
    };
    let builds = builds?;
    let only_built = match builds.as_slice() {
        [only] => Some(only.commit.clone()),
        _ => None,
    };
    // Every push that moves `master` starts a build (the platform's rule, and the emulator's),
    // so the newest build's commit is the remote `master`: a plan of an algorithm with builds
    // needs no git process, whether or not its deploy commit moved. If a push raced the plan,
    // apply's own push is refused by git (a fast-forward, or a lease on the starter commit),
    // never forced. An algorithm without builds is asked with `git ls-remote`; one that does
    // not exist has no repository to ask (a first plan of hundreds of new folders starts no
    // git process; whether git can reach the host is apply's preflight).
    let remote_master = match (&algorithm, builds.first()) {
        (None, _) => None,
        (Some(_), Some(newest)) => Some(newest.commit.clone()),
        (Some(_), None) => remotes.master(git_root, &remote, &owner).await?,
    };
    let master_in_head = match remote_master.clone() {
        None => true,
        Some(m) if m == head => true,
        Some(m) => {
            // A graph walk in the local repository: off the async runtime.
            let (root, head) = (git_root.to_path_buf(), head.to_string());
            tokio::task::spawn_blocking(move || git::contains(&root, &head, &m))
                .await
                .unwrap_or(false)
        }
    };
    // A rollback commit algodeploy made on top of what the deploy commit contains is replaced
    // by the next publish (the rollback's tree is an earlier version's, already published).
    let master_is_rollback = match remote_master.clone() {
        Some(m) if !master_in_head => {
            let (root, head) = (git_root.to_path_buf(), head.to_string());
            tokio::task::spawn_blocking(move || crate::deploy::is_rollback_on(&root, &m, &head))
                .await
                .unwrap_or(false)
        }
        _ => false,
    };
    Ok(Live {
        secrets,
        master_is_rollback,
        master_in_head,
        master_is_starter: remote_master.is_some() && only_built == remote_master,
        head_build: builds.iter().find(|b| b.commit == head).cloned(),
        algorithm,
        published,
        remote_master,
        remote,
        declared_same_code: false,
    })
}
