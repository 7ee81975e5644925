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
        return Err(Error::Exists { path: path.clone() });
    }
    let client = connect(&args.api)?.client;
    let algorithm_name = args.algorithm.clone();
    let (algorithm, published) = Session::new(args.api.timeout).block(async {
        tokio::join!(
            client.algorithm(owner, name),
            client.published_versions(owner, name)
        )
    })?;
    let algorithm = algorithm
        .about(&algorithm_name)?
        .ok_or_else(|| Error::NoAlgorithm {
            algorithm: algorithm_name.clone(),
        })?;
    let published = published.about(&algorithm_name)?;
    let text =
        crate::import::manifest_text(owner, name, &algorithm, &published).map_err(|reason| {
            Error::Import {
                algorithm: algorithm_name.clone(),
                reason,
            }
        })?;
    match &args.out {
        Some(path) => {
            match state::write_new(path, text.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::Exists { path: path.clone() });
                }
                written => written.at("write", path)?,
            }
            eprintln!("wrote {}", path.display());
        }
        None => out(&text)?,
    }
    Ok(Outcome::Done)
}
