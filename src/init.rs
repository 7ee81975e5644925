//! `algodeploy init [DIR] --owner OWNER [--name NAME] [--runtime python38]`: a first algorithm
//! that validates, builds and passes its own smoke test: `algorithm.yaml` (with the
//! yaml-language-server modeline and a comment for every key), `src/NAME.py`,
//! `requirements.txt` and `algorithm.schema.json` for editors. It never writes over a file:
//! if any of them exists, nothing is written.

use std::path::{Path, PathBuf};

use crate::cli::InitArgs;
use crate::error::{At, Error};

/// A valid algorithm name from a folder's name: letters, digits and `_`, a letter first.
fn name_from(folder: &Path) -> Option<String> {
    let raw = folder
        .canonicalize()
        .ok()?
        .file_name()?
        .to_string_lossy()
        .into_owned();
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while name.starts_with(|c: char| !c.is_ascii_alphabetic()) {
        name.remove(0);
    }
    (!name.is_empty()).then_some(name)
}

fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn manifest(owner: &str, name: &str, runtime: &str) -> String {
    format!(
        r#"# yaml-language-server: $schema=./algorithm.schema.json
# The desired state of the Algorithmia algorithm {owner}/{name}: `algodeploy plan` shows what
# would change, `algodeploy apply --push` creates or updates it and publishes the version below.
# Every key is described in algodeploy's README ("The manifest").

owner: {owner}
name: {name}

details:
  # The display name on the algorithm's page.
  label: {name}
  # One line under the label.
  tagline: Greets whoever calls it

settings:
  # apl, apache2, gpl3 or mit; only apl allows closed source.
  license: apache2
  source_visibility: open
  # isolated: no internet while it runs; full: internet allowed.
  network_access: isolated
  # Whether it may call other algorithms.
  pipeline_enabled: false
  # The runtime (a package set; or algorithm_environment, or language with environment).
  package_set: {runtime}
  # Who may call published versions; changing it needs a major version.
  algorithm_callability: private

version_info:
  # One bump above the latest published version; a first version is 1.0.0, 0.1.0 or 0.0.1.
  semantic_version: 1.0.0
  release_notes: First release.
  # apply calls the new build with sample_input before publishing; the result must be
  # sample_output.
  sample_input: Ada
  sample_output: Hello, Ada!
"#
    )
}

const ENTRY_POINT: &str = r#"# Calls begin at apply(), with the call's input: a string, a JSON value or bytes.
# Add the packages you import to requirements.txt.


def apply(input):
    return f"Hello, {input}!"
"#;

const REQUIREMENTS: &str = "# The Python packages this algorithm imports, one per line.\n";

pub fn run(args: &InitArgs) -> Result<(), Error> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if !args.runtime.starts_with("python") {
        return Err(Error::Usage {
            message: format!(
                "--runtime `{}`: init writes Python algorithms (package sets such as python38); for another runtime write the entry point by hand (README, \"Builds\")",
                args.runtime
            ),
        });
    }
    if !valid_name(&args.owner) || args.owner.len() > 30 {
        return Err(Error::Usage {
            message: format!(
                "--owner `{}` is not an owner: a letter, then letters, digits or _ (at most 30)",
                args.owner
            ),
        });
    }
    std::fs::create_dir_all(&dir).at("create", &dir)?;
    let name = match &args.name {
        Some(name) if valid_name(name) => name.clone(),
        Some(name) => {
            return Err(Error::Usage {
                message: format!(
                    "--name `{name}` is not an algorithm name: a letter, then letters, digits or _"
                ),
            });
        }
        None => name_from(&dir).ok_or_else(|| Error::Usage {
            message: format!(
                "cannot make an algorithm name from the folder `{}`; pass --name",
                dir.display()
            ),
        })?,
    };
    let schema = serde_json::to_string_pretty(&crate::manifest::schema())
        .expect("the schema serializes")
        + "\n";
    let files: Vec<(PathBuf, String)> = vec![
        (
            dir.join("algorithm.yaml"),
            manifest(&args.owner, &name, &args.runtime),
        ),
        (
            dir.join("src").join(format!("{name}.py")),
            ENTRY_POINT.into(),
        ),
        (dir.join("requirements.txt"), REQUIREMENTS.into()),
        (dir.join("algorithm.schema.json"), schema),
    ];
    // Nothing is written if anything would be overwritten.
    if let Some((path, _)) = files
        .iter()
        .find(|(path, _)| std::fs::symlink_metadata(path).is_ok())
    {
        return Err(Error::Exists { path: path.clone() });
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).at("create", parent)?;
        }
        crate::state::write_new(path, text.as_bytes()).at("write", path)?;
        eprintln!("wrote {}", path.display());
    }
    // From here, the commands to run name the folder (a monorepo's root has no manifest).
    let at = if dir == Path::new(".") {
        String::new()
    } else {
        format!(" {}", crate::diagnostic::display_path(&dir))
    };
    eprintln!(
        "next: commit these files, then `algodeploy plan{at}` and `algodeploy apply{at} --push` (ALGORITHMIA_API_KEY set; `algodeploy emulator` for a local one)"
    );
    Ok(())
}
