//! `algodeploy import OWNER/NAME`: a manifest for an existing algorithm.

use super::*;
use crate::cli::ImportArgs;

pub fn import_command(args: &ImportArgs) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    if args.api.env.is_some() {
        return Err(Error::Usage {
            message: "--env selects an environment of a manifest; import has none (use --profile for the cluster)".into(),
        });
    }
    let Some((owner, name)) = args
        .algorithm
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
    else {
        return Err(Error::Usage {
            message: format!("`{}` is not OWNER/NAME", args.algorithm),
        });
    };
    if let Some(path) = &args.out
        && std::fs::symlink_metadata(path).is_ok()
    {
        return Err(Error::Exists {
            path: path.display().to_string(),
        });
    }
    let client = connect(&args.api)?.client;
    let algorithm_name = args.algorithm.clone();
    let (algorithm, published) = Session::new(args.api.timeout).block(async {
        tokio::join!(
            client.algorithm(owner, name),
            client.published_versions(owner, name)
        )
    })?;
    let api = |source| Error::Api {
        algorithm: algorithm_name.clone(),
        source: Box::new(source),
    };
    let algorithm = algorithm.map_err(api)?.ok_or_else(|| Error::NoAlgorithm {
        algorithm: algorithm_name.clone(),
    })?;
    let published = published.map_err(api)?;
    let text =
        crate::import::manifest_text(owner, name, &algorithm, &published).map_err(|reason| {
            Error::Import {
                algorithm: algorithm_name.clone(),
                reason,
            }
        })?;
    match &args.out {
        Some(path) => {
            state::write_new(path, text.as_bytes()).map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists {
                        path: path.display().to_string(),
                    }
                } else {
                    Error::Io {
                        path: path.display().to_string(),
                        action: "write",
                        source,
                    }
                }
            })?;
            eprintln!("wrote {}", path.display());
        }
        None => out(&text)?,
    }
    Ok(Outcome::Done)
}
