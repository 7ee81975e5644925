//! `algodeploy validate`: find manifests, check each, report every problem in the chosen
//! format. Also the manifest discovery and capped reading that `plan` and `apply` share.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::cli::{Format, ValidateArgs};
use crate::diagnostic::{Diagnostic, FileReport};
use crate::error::Error;
use crate::manifest::{self, Loaded};
use crate::yaml::{self, Span};

/// The file name searched for inside folders.
pub const MANIFEST_NAME: &str = "algorithm.yaml";

/// Every manifest named by the paths, in a stable order, or a file-level problem for a path
/// that names none.
pub fn discover(paths: &[PathBuf]) -> Vec<Result<PathBuf, FileReport>> {
    let default = [PathBuf::from(MANIFEST_NAME)];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut found = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut manifests: Vec<PathBuf> = walkdir::WalkDir::new(path)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|entry| {
                        entry.depth() == 0
                            || !entry.file_type().is_dir()
                            || !is_skipped_dir(&entry.file_name().to_string_lossy())
                    })
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_type().is_file() && entry.file_name() == MANIFEST_NAME)
                    .map(|entry| {
                        // `validate .` reports `a/algorithm.yaml`, not `./a/algorithm.yaml`.
                        let path = entry.into_path();
                        path.strip_prefix(".").map(Path::to_path_buf).unwrap_or(path)
                    })
                    .collect();
                if manifests.is_empty() {
                    found.push(Err(file_problem(
                        path,
                        "no-manifest",
                        format!("no `{MANIFEST_NAME}` found under the folder `{}`", crate::diagnostic::display_path(path)),
                        "name a manifest file, or a folder that contains one (`.git`, `target` and hidden folders are skipped)",
                    )));
                }
                manifests.sort();
                found.extend(manifests.into_iter().map(Ok));
            }
            Ok(meta) if meta.is_file() => found.push(Ok(path.clone())),
            Ok(_) => found.push(Err(file_problem(
                path,
                "not-found",
                format!("`{}` is not a regular file or folder", crate::diagnostic::display_path(path)),
                "name an algorithm.yaml file or a folder that contains one",
            ))),
            Err(e) => found.push(Err(file_problem(
                path,
                "not-found",
                format!("cannot read `{}`: {}", crate::diagnostic::display_path(path), io_reason(&e)),
                if path.as_os_str() == MANIFEST_NAME {
                    "run in the algorithm's repository, or pass the manifest's path; `examples/algorithm.yaml` is a starting point"
                } else {
                    "check the path"
                },
            ))),
        }
    }
    found
}

fn is_skipped_dir(name: &str) -> bool {
    name == "target" || name == "node_modules" || name.starts_with('.')
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn file_problem(path: &Path, code: &'static str, message: String, help: &str) -> FileReport {
    FileReport {
        path: path.to_path_buf(),
        source: String::new(),
        diagnostics: vec![Diagnostic::error(code, Span::default(), message).help(help)],
    }
}

/// Read and check one manifest. The read is capped so a huge file is refused without being
/// loaded.
pub fn load(path: &Path) -> Result<Loaded, FileReport> {
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path).and_then(|file| {
        file.take(yaml::MAX_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
    });
    if let Err(e) = read {
        return Err(file_problem(
            path,
            "not-found",
            format!(
                "cannot read `{}`: {}",
                crate::diagnostic::display_path(path),
                io_reason(&e)
            ),
            "check the path and its permissions",
        ));
    }
    let repo_root = repo_root(path);
    manifest::check(path, &bytes, &repo_root).map_err(|diagnostics| FileReport {
        path: path.to_path_buf(),
        source: std::str::from_utf8(&bytes)
            .map(str::to_owned)
            .unwrap_or_default(),
        diagnostics,
    })
}

/// The folder that `details.summary_file` must stay inside: the enclosing git work tree, or
/// the manifest's own folder when there is none.
fn repo_root(manifest: &Path) -> PathBuf {
    let folder = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let folder = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    folder
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map_or(folder.clone(), Path::to_path_buf)
}

/// Every manifest the paths name, loaded: the valid ones and a report per invalid file.
pub fn load_paths(paths: &[PathBuf]) -> (Vec<Loaded>, Vec<FileReport>) {
    let mut valid = Vec::new();
    let mut reports = Vec::new();
    for found in discover(paths) {
        match found.and_then(|path| load(&path)) {
            Ok(loaded) => valid.push(loaded),
            Err(report) => reports.push(report),
        }
    }
    (valid, reports)
}

pub fn run(args: &ValidateArgs, color: bool) -> Result<(), Error> {
    let (valid, reports) = load_paths(&args.paths);
    let checked = valid.len() + reports.len();
    let write = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|source| Error::Output { source })
    };
    match args.format {
        Format::Text => {
            let mut err = anstream::AutoStream::never(std::io::stderr().lock());
            for report in &reports {
                write(&mut err, &report.render_text(color))?;
            }
            for loaded in &valid {
                let m = &loaded.manifest;
                write(
                    &mut err,
                    &format!(
                        "valid: {} ({}/{} {})\n",
                        crate::diagnostic::display_path(&loaded.path),
                        m.owner,
                        m.name,
                        m.version_info.semantic_version
                    ),
                )?;
            }
        }
        Format::Json => {
            let all: Vec<_> = reports.iter().flat_map(FileReport::to_json).collect();
            let text = serde_json::to_string_pretty(&all).expect("diagnostics serialize");
            write(&mut std::io::stdout().lock(), &format!("{text}\n"))?;
        }
        Format::Github => {
            let text: String = reports.iter().map(FileReport::render_github).collect();
            write(&mut std::io::stdout().lock(), &text)?;
        }
    }
    if reports.is_empty() {
        Ok(())
    } else {
        Err(Error::ManifestInvalid {
            invalid: reports.len(),
            checked,
            problems: reports.iter().map(|r| r.diagnostics.len()).sum(),
        })
    }
}
