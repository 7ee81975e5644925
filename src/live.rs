//! Reading the live state of one algorithm: the algorithm, its published versions, its builds
//! and the git remote's `master`, all at once (independent reads go out concurrently over one
//! connection pool, so a plan costs about one round trip).

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
    let (algorithm, published, builds, ls) = tokio::join!(
        client.algorithm(&owner, &name),
        client.published_versions(&owner, &name),
        // Newest first: the first page holding HEAD's commit has its newest build.
        client.builds(&owner, &name, move |builds: &[Build]| {
            builds.iter().any(|b| b.commit == head_owned)
        }),
        remotes.master(git_root, &remote, &owner),
    );
    let algorithm = algorithm.map_err(ReadError::Api)?;
    let published = published.map_err(ReadError::Api)?;
    let builds = builds.map_err(ReadError::Api)?;
    let only_built = match builds.as_slice() {
        [only] => Some(only.commit.clone()),
        _ => None,
    };
    let remote_master = match ls {
        Ok(master) => master,
        // A missing algorithm has no repository yet (git says "not found"); an untrusted
        // certificate, a missing git program or a refused key still stop the plan here,
        // before anything is created.
        Err(crate::remote::RemoteError::NotFound { .. }) if algorithm.is_none() => None,
        Err(source) => return Err(ReadError::Git(GitError::Remote { source })),
    };
    let master_in_head = remote_master.as_deref().is_none_or(|m| {
        let (root, head, m) = (git_root.to_path_buf(), head.to_string(), m.to_string());
        git::contains(&root, &head, &m)
    });
    Ok(Live {
        master_in_head,
        master_is_starter: remote_master.is_some() && only_built == remote_master,
        head_build: builds.iter().find(|b| b.commit == head).cloned(),
        algorithm,
        published,
        remote_master,
        remote,
    })
}
