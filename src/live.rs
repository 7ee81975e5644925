//! Reading the live state of one algorithm: the algorithm, its published versions and its
//! builds at once (independent reads go out concurrently over one connection pool, so a plan
//! costs about one round trip), then the git remote's `master` only when the algorithm exists
//! and its builds do not already say `master` is the deploy commit. `head` here is the deploy
//! commit (`deploy.rs`): HEAD itself, or the commit derived from the manifest's folders.

use std::path::Path;

use crate::api::{ApiError, Client};
use crate::config::Config;
use crate::current::Build;
use crate::git::{self, GitError};
use crate::manifest::Loaded;
use crate::plan::Live;
use crate::remote::Remotes;

#[derive(Debug)]
pub enum ReadError {
    Api(ApiError),
    Git(GitError),
}

pub async fn read(
    client: &Client,
    config: &Config,
    remotes: &Remotes,
    git_root: &Path,
    loaded: &Loaded,
    head: &str,
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
    let algorithm = algorithm.map_err(ReadError::Api)?;
    let published = published.map_err(ReadError::Api)?;
    let builds = builds.map_err(ReadError::Api)?;
    let only_built = match builds.as_slice() {
        [only] => Some(only.commit.clone()),
        _ => None,
    };
    // Every push that moves `master` starts a build, so when the newest build is HEAD's, the
    // remote `master` is HEAD: the converged case (most manifests of a monorepo plan) needs no
    // git process at all. Otherwise the remote is asked.
    let newest_is_head = algorithm.is_some() && builds.first().is_some_and(|b| b.commit == head);
    let remote_master = if newest_is_head {
        Some(head.to_string())
    } else if algorithm.is_none() {
        // No algorithm, no repository: nothing to read (a first plan of hundreds of new
        // folders starts no git process). Whether git can reach the host is apply's preflight.
        None
    } else {
        match remotes.master(git_root, &remote, &owner).await {
            Ok(master) => master,
            // A missing algorithm has no repository yet (git says "not found"); an untrusted
            // certificate, a missing git program or a refused key still stop the plan here,
            // before anything is created.
            Err(crate::remote::RemoteError::NotFound { .. }) if algorithm.is_none() => None,
            Err(source) => return Err(ReadError::Git(GitError::Remote { source })),
        }
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
    Ok(Live {
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
