//! Finding and reading manifests: the paths given (files, or folders searched for
//! `algorithm.yaml`), each read with a cap and checked, and `details.summary_file` as git
//! tracks it (plans read it from HEAD's tree: the bytes that are deployed).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::Loaded;
use crate::diagnostic::{Code, Diagnostic, FileReport};
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
                // What git ignores is never deployed (`.gitignore`, `.git/info/exclude`), and
                // neither are hidden folders, `target` or `node_modules`; links are not followed.
                let mut manifests: Vec<PathBuf> = ignore::WalkBuilder::new(path)
                    .hidden(true)
                    .parents(true)
                    .git_ignore(true)
                    .git_exclude(true)
                    .git_global(false)
                    .require_git(false)
                    .ignore(false)
                    .follow_links(false)
                    .sort_by_file_name(std::cmp::Ord::cmp)
                    .filter_entry(|entry| {
                        entry.depth() == 0
                            || !entry.file_type().is_some_and(|t| t.is_dir())
                            || !is_skipped_dir(&entry.file_name().to_string_lossy())
                    })
                    .build()
                    .filter_map(Result::ok)
                    .filter(|entry| {
                        entry.file_type().is_some_and(|t| t.is_file())
                            && entry.file_name() == MANIFEST_NAME
                    })
                    .map(|entry| {
                        // `validate .` reports `a/algorithm.yaml`, not `./a/algorithm.yaml`.
                        let path = entry.into_path();
                        path.strip_prefix(".").map(Path::to_path_buf).unwrap_or(path)
                    })
                    .collect();
                if manifests.is_empty() {
                    found.push(Err(file_problem(
                        path,
                        Code::NoManifest,
                        format!("no `{MANIFEST_NAME}` found under the folder `{}`", crate::diagnostic::display_path(path)),
                        "name a manifest file, or a folder that contains one (hidden folders, `target`, `node_modules` and what `.gitignore` ignores are skipped)",
                    )));
                }
                manifests.sort();
                found.extend(manifests.into_iter().map(Ok));
            }
            Ok(meta) if meta.is_file() => found.push(Ok(path.clone())),
            Ok(_) => found.push(Err(file_problem(
                path,
                Code::NotFound,
                format!("`{}` is not a regular file or folder", crate::diagnostic::display_path(path)),
                "name an algorithm.yaml file or a folder that contains one",
            ))),
            Err(e) => found.push(Err(file_problem(
                path,
                Code::NotFound,
                format!("cannot read `{}`: {}", crate::diagnostic::display_path(path), io_reason(&e)),
                if path.as_os_str() == MANIFEST_NAME {
                    "run in the algorithm's folder, or pass its path (a folder such as `algorithms` covers every manifest under it); `algodeploy init` starts one"
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

fn file_problem(path: &Path, code: Code, message: String, help: &str) -> FileReport {
    FileReport {
        path: path.to_path_buf(),
        source: String::new(),
        diagnostics: vec![Diagnostic::error(code, Span::default(), message).help(help)],
    }
}

/// Read and check one manifest. The read is capped so a huge file is refused without being
/// loaded.
pub fn load(path: &Path) -> Result<Loaded, FileReport> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = Vec::new();
    // Never through a symbolic link (a committed `algorithm.yaml` pointing at
    // `/proc/self/environ` would print the environment, key included, in a diagnostic), and
    // never a FIFO or device: a regular file, read with a cap.
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .and_then(|file| {
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            file.take(yaml::MAX_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        });
    if let Err(e) = read {
        if e.raw_os_error() == Some(libc::ELOOP) || e.to_string() == "not a regular file" {
            return Err(file_problem(
                path,
                Code::NotFound,
                format!(
                    "`{}` is a symbolic link or not a regular file; algodeploy reads manifests only as regular files",
                    crate::diagnostic::display_path(path)
                ),
                "replace the link with the manifest itself",
            ));
        }
        return Err(file_problem(
            path,
            Code::NotFound,
            format!(
                "cannot read `{}`: {}",
                crate::diagnostic::display_path(path),
                io_reason(&e)
            ),
            "check the path and its permissions",
        ));
    }
    let repo_root = repo_root(path);
    let loaded = super::check(path, &bytes, &repo_root).map_err(|diagnostics| FileReport {
        path: path.to_path_buf(),
        source: std::str::from_utf8(&bytes)
            .map(str::to_owned)
            .unwrap_or_default(),
        diagnostics,
    })?;
    // Inside a repository, only tracked content can be deployed: an untracked or ignored
    // summary file is refused here already (plan and apply then read it from HEAD).
    if repo_root.join(".git").exists() {
        tracked_summary(&loaded, &repo_root, false)?;
    }
    Ok(loaded)
}

/// The summary as it will be deployed: `details.summary`, or the text of `summary_file` as
/// git tracks it. With `from_head`, the file's bytes in HEAD's tree (what is published, not
/// the work tree); without, only whether git tracks it. Refused, with a located diagnostic:
/// files git does not track (untracked or ignored, such as `.env`), files not in HEAD,
/// symbolic links, files over 1 MiB, text that is not UTF-8 or holds a key-shaped string.
pub fn tracked_summary(
    loaded: &Loaded,
    root: &Path,
    from_head: bool,
) -> Result<Option<String>, FileReport> {
    let Some(file) = &loaded.manifest.details.summary_file else {
        return Ok(loaded.summary.clone());
    };
    let span = loaded.summary_file_span.unwrap_or_default();
    let shown = file.display().to_string();
    let fail = |message: String, help: &str| FileReport {
        path: loaded.path.clone(),
        source: loaded.source.clone(),
        diagnostics: vec![
            Diagnostic::error(Code::SummaryFile, span, message)
                .label("summary file")
                .help(help),
        ],
    };
    // The path as written, relative to the repository (not through links: a link is looked
    // at as a link, in HEAD too).
    let base = match loaded.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (Ok(dir), Ok(root)) = (base.canonicalize(), root.canonicalize()) else {
        return Err(fail(
            format!("`details.summary_file` `{shown}` cannot be found"),
            "fix the path (it is relative to the manifest's folder)",
        ));
    };
    let mut parts: Vec<std::ffi::OsString> = dir
        .strip_prefix(&root)
        .map(|p| p.iter().map(ToOwned::to_owned).collect())
        .unwrap_or_default();
    let mut escapes = !dir.starts_with(&root);
    for component in file.components() {
        match component {
            std::path::Component::Normal(part) => parts.push(part.to_owned()),
            std::path::Component::ParentDir => escapes |= parts.pop().is_none(),
            std::path::Component::CurDir => {}
            _ => escapes = true,
        }
    }
    if escapes {
        return Err(fail(
            format!("`details.summary_file` `{shown}` is outside the repository"),
            "keep the summary inside the algorithm's repository",
        ));
    }
    let relative: PathBuf = parts.iter().collect();
    let relative = relative.as_path();
    let repo = git2::Repository::open(&root).map_err(|e| {
        fail(
            format!(
                "cannot open the repository to read `details.summary_file` `{shown}`: {}",
                e.message()
            ),
            "run algodeploy inside the algorithm's git repository",
        )
    })?;
    let status = repo.status_file(relative).unwrap_or(git2::Status::WT_NEW);
    if status.intersects(git2::Status::WT_NEW | git2::Status::IGNORED) {
        return Err(fail(
            format!(
                "`details.summary_file` `{shown}` is not tracked by git ({}), so it would publish text nobody reviewed",
                if status.contains(git2::Status::IGNORED) {
                    "ignored"
                } else {
                    "untracked"
                }
            ),
            "commit the file, or name a file that is committed",
        ));
    }
    if !from_head {
        return Ok(loaded.summary.clone());
    }
    let not_in_head = || {
        fail(
            format!("`details.summary_file` `{shown}` is not in HEAD's commit"),
            "commit the file: HEAD is what is deployed",
        )
    };
    let tree = repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .map_err(|_| not_in_head())?;
    // A link anywhere on the way (the file, or a folder above it) is refused.
    let mut prefix = PathBuf::new();
    for part in relative {
        prefix.push(part);
        let entry = tree.get_path(&prefix).map_err(|_| not_in_head())?;
        if entry.filemode() == 0o120000 {
            return Err(fail(
                format!(
                    "`details.summary_file` `{shown}` goes through a symbolic link in HEAD (`{}`)",
                    prefix.display()
                ),
                "name the file itself, not a link to it",
            ));
        }
    }
    let entry = tree.get_path(relative).map_err(|_| not_in_head())?;
    if entry.filemode() == 0o120000 {
        return Err(fail(
            format!("`details.summary_file` `{shown}` is a symbolic link in HEAD"),
            "name the file itself, not a link to it",
        ));
    }
    let blob = entry
        .to_object(&repo)
        .ok()
        .and_then(|o| o.into_blob().ok())
        .ok_or_else(not_in_head)?;
    if blob.size() > yaml::MAX_BYTES {
        return Err(fail(
            format!(
                "`details.summary_file` `{shown}` is {} bytes in HEAD; the limit is 1 MiB",
                blob.size()
            ),
            "shorten the summary",
        ));
    }
    let text = std::str::from_utf8(blob.content()).map_err(|_| {
        fail(
            format!("`details.summary_file` `{shown}` is not valid UTF-8 in HEAD"),
            "save the file as UTF-8 and commit it",
        )
    })?;
    if text.split_whitespace().any(super::looks_like_api_key) {
        return Err(FileReport {
            path: loaded.path.clone(),
            source: loaded.source.clone(),
            diagnostics: vec![
                Diagnostic::error(
                    Code::Secret,
                    span,
                    format!("`details.summary_file` `{shown}` contains a string that looks like an Algorithmia API key"),
                )
                .label("file with a key-shaped string")
                .help("remove the key from the file; keys belong in ALGORITHMIA_API_KEY"),
            ],
        });
    }
    Ok(Some(text.to_string()))
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
    let found = discover(paths);
    for result in in_parallel(found, |found| found.and_then(|path| load(&path))) {
        match result {
            Ok(loaded) => valid.push(loaded),
            Err(report) => reports.push(report),
        }
    }
    (valid, reports)
}

/// `work` over `items` on the machine's cores (a monorepo has hundreds of manifests), results
/// in the items' order.
pub(super) fn in_parallel<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(8);
    if threads < 2 || items.len() < 16 {
        return items.into_iter().map(work).collect();
    }
    let size = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(size).collect());
    }
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a loading thread does not panic"))
            .collect()
    })
}

/// The manifest as it was committed at `commit` (its `summary_file` from the same tree), or
/// `None` when the commit, the file or a valid manifest is not there. For the drift baseline
/// on a machine without a record: what was published is what was committed then.
pub fn load_at_commit(loaded: &Loaded, root: &Path, commit: &str) -> Option<Loaded> {
    let repo = git2::Repository::open(root).ok()?;
    let tree = repo
        .find_commit(git2::Oid::from_str(commit).ok()?)
        .ok()?
        .tree()
        .ok()?;
    let root = root.canonicalize().ok()?;
    let manifest = loaded.path.canonicalize().ok()?;
    let relative = manifest.strip_prefix(&root).ok()?;
    let read = |path: &Path| -> Option<Vec<u8>> {
        let entry = tree.get_path(path).ok()?;
        if entry.filemode() == 0o120000 {
            return None;
        }
        let blob = entry.to_object(&repo).ok()?.into_blob().ok()?;
        (blob.size() <= yaml::MAX_BYTES).then(|| blob.content().to_vec())
    };
    let bytes = read(relative)?;
    // Checked as any manifest (a summary_file is then read from the work tree); the summary is
    // replaced by the commit's own below.
    let mut then = super::check(&loaded.path, &bytes, &root).ok()?;
    if let Some(file) = then.manifest.details.summary_file.clone() {
        let folder = relative.parent().unwrap_or(Path::new(""));
        let mut parts: Vec<std::ffi::OsString> = folder.iter().map(ToOwned::to_owned).collect();
        for component in file.components() {
            match component {
                std::path::Component::Normal(p) => parts.push(p.to_owned()),
                std::path::Component::ParentDir => {
                    parts.pop()?;
                }
                std::path::Component::CurDir => {}
                _ => return None,
            }
        }
        let path: PathBuf = parts.iter().collect();
        then.summary = Some(String::from_utf8(read(&path)?).ok()?);
    }
    Some(then)
}
