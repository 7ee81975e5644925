//! Reading the live state of one algorithm: the algorithm, its published versions, its builds
//! and the git remote's `master`, all at once (independent reads go out concurrently over one
//! connection pool, so a plan costs about one round trip).

use crate::api::{ApiError, BuildInfo, Client};
use crate::config::{ApiKey, Config};
use crate::git::{self, GitError};
use crate::manifest::Loaded;
use crate::plan::Live;

#[derive(Debug)]
pub enum ReadError {
    Api(ApiError),
    Git(GitError),
}

pub async fn read(
    client: &Client,
    config: &Config,
    key: &ApiKey,
    loaded: &Loaded,
    head: &str,
) -> Result<Live, ReadError> {
    let owner = loaded.manifest.owner.clone();
    let name = loaded.manifest.name.clone();
    let remote = git::remote_url(&config.git, &owner, &name);
    let ls = {
        let (remote, owner, key) = (remote.clone(), owner.clone(), key.clone());
        tokio::task::spawn_blocking(move || git::remote_master(&remote, &owner, &key))
    };
    let head_owned = head.to_string();
    let (algorithm, published, builds) = tokio::join!(
        client.algorithm(&owner, &name),
        client.published_versions(&owner, &name),
        // Newest first: the first page holding HEAD's commit has its newest build.
        client.builds(&owner, &name, move |builds: &[BuildInfo]| {
            builds.iter().any(|b| b.commit == head_owned)
        }),
    );
    let algorithm = algorithm.map_err(ReadError::Api)?;
    let published = published.map_err(ReadError::Api)?;
    let builds = builds.map_err(ReadError::Api)?;
    let remote_master = match ls.await {
        Ok(Ok(master)) => master,
        // A missing algorithm has no repository yet.
        Ok(Err(_)) if algorithm.is_none() => None,
        Ok(Err(e)) => return Err(ReadError::Git(e)),
        Err(join) => panic!("the git remote read panicked: {join}"),
    };
    Ok(Live {
        head_build: builds.iter().find(|b| b.commit == head).cloned(),
        algorithm,
        published,
        remote_master,
        remote,
    })
}
