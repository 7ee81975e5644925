//! Running Python algorithms: each successful build of a Python runtime is checked out to
//! `DATA_DIR/builds/<algorithm id>/<commit>/`, and calls go to worker processes
//! (`worker.py`) that import its `src/<name>.py` and call `apply(input)`. Workers stay warm
//! between calls (the platform keeps algorithms loaded), are restarted after a crash, and are
//! bounded: in number (per build and in all), in memory (`RLIMIT_AS`), in output size and in
//! time (a call past its timeout kills its worker). With `network_access: isolated` a worker
//! runs in a network namespace of its own where the machine allows one (`unshare --net`); the
//! build log says whether isolation is enforced.
//!
//! `requirements.txt` is installed into a virtualenv of the build only when the emulator runs
//! with `--install-requirements`; otherwise the build log says so and the emulator's `python3`
//! runs the code. This module runs the user's code: only keys that manage an algorithm can push
//! it (the git host's rule).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::store::Algorithm;

/// The worker's source, written into the data folder at start.
const WORKER: &str = include_str!("worker.py");

/// Workers kept warm for one build, and in all.
const PER_BUILD: usize = 4;
const IN_ALL: usize = 32;
/// The address space a worker may use.
const MEMORY: u64 = 2 * 1024 * 1024 * 1024;
/// The largest answer a worker may give (a result of about 10 MiB, base64 included).
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// What a call sends: the input as the request's Content-Type gave it.
#[derive(Debug, Clone)]
pub enum Input {
    /// JSON text as sent (checked to be JSON; kept as text so that key order survives).
    Json(String),
    Text(String),
    Binary(Vec<u8>),
}

/// What a call gives back.
#[derive(Debug, Clone)]
pub enum Outcome {
    Json(Value),
    Text(String),
    Binary(Vec<u8>),
    /// The algorithm raised (or failed to load).
    Error {
        message: String,
        stacktrace: String,
        error_type: String,
    },
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    pub stdout: String,
    pub duration: Duration,
}

/// Why a call could not run the algorithm at all.
#[derive(Debug)]
pub enum CallError {
    /// Not a Python runtime.
    Unsupported,
    /// The build's files are not there (a build from before this emulator ran code).
    NotPrepared,
    Timeout(Duration),
    /// The worker died or answered garbage; it is replaced on the next call.
    Crashed(String),
}

struct Worker {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: BufReader<tokio::process::ChildStdout>,
    last_used: Instant,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) on the worker's own process group (process_group(0)).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// The warm workers of every build, and how to start more.
pub struct Runtime {
    data_dir: PathBuf,
    pub install_requirements: bool,
    idle: Mutex<HashMap<String, Vec<Worker>>>,
    /// Calls running at once (each holds a worker).
    running: Arc<tokio::sync::Semaphore>,
    isolation: std::sync::OnceLock<Result<(), String>>,
}

impl Runtime {
    pub fn new(data_dir: &Path, install_requirements: bool) -> std::io::Result<Runtime> {
        std::fs::write(data_dir.join("worker.py"), WORKER)?;
        Ok(Runtime {
            data_dir: data_dir.to_path_buf(),
            install_requirements,
            idle: Mutex::new(HashMap::new()),
            running: Arc::new(tokio::sync::Semaphore::new(IN_ALL)),
            isolation: std::sync::OnceLock::new(),
        })
    }

    /// Where a build's files live.
    pub fn build_dir(&self, algorithm_id: &str, commit: &str) -> PathBuf {
        self.data_dir.join("builds").join(algorithm_id).join(commit)
    }

    /// Whether `unshare --net` works here (root, or user namespaces).
    fn isolation(&self) -> Result<(), String> {
        self.isolation
            .get_or_init(|| {
                match std::process::Command::new("unshare")
                    .args(["--net", "--", "true"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .output()
                {
                    Ok(out) if out.status.success() => Ok(()),
                    Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
                    Err(e) => Err(format!("`unshare` cannot be run: {e}")),
                }
            })
            .clone()
    }

    /// After a successful check of a Python build: its files checked out, requirements as
    /// configured, isolation tested. Lines for the build log; an error fails the build.
    pub fn prepare(
        &self,
        repo: &Path,
        commit: &str,
        algorithm: &Algorithm,
    ) -> Result<Vec<String>, Vec<String>> {
        let mut log = Vec::new();
        let dir = self.build_dir(&algorithm.id, commit);
        if let Err(e) = checkout(repo, commit, &dir) {
            return Err(vec![format!("error: cannot check out the build: {e}")]);
        }
        let requirements =
            std::fs::read_to_string(dir.join("requirements.txt")).unwrap_or_default();
        let wanted = requirements
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if wanted && self.install_requirements {
            let venv = dir.join(".venv");
            let steps: [(String, Vec<String>); 2] = [
                (
                    "python3".into(),
                    vec!["-m".into(), "venv".into(), venv.display().to_string()],
                ),
                (
                    venv.join("bin/pip").display().to_string(),
                    vec![
                        "install".into(),
                        "--disable-pip-version-check".into(),
                        "-r".into(),
                        dir.join("requirements.txt").display().to_string(),
                    ],
                ),
            ];
            for (program, args) in steps {
                log.push(format!("$ {program} {}", args.join(" ")));
                match std::process::Command::new(&program)
                    .args(&args)
                    .stdin(Stdio::null())
                    .output()
                {
                    Ok(out) => {
                        let text = String::from_utf8_lossy(&out.stdout).to_string()
                            + &String::from_utf8_lossy(&out.stderr);
                        log.extend(
                            text.lines()
                                .rev()
                                .take(40)
                                .collect::<Vec<_>>()
                                .into_iter()
                                .rev()
                                .map(str::to_owned),
                        );
                        if !out.status.success() {
                            log.push("error: installing requirements.txt failed".into());
                            return Err(log);
                        }
                    }
                    Err(e) => {
                        log.push(format!("error: cannot run {program}: {e}"));
                        return Err(log);
                    }
                }
            }
            log.push("requirements.txt installed into the build's virtualenv".into());
        } else if wanted {
            log.push("note: requirements.txt is not installed (the emulator runs without --install-requirements); calls use the emulator's python3".into());
        }
        if algorithm.settings["network_access"] == "isolated" {
            match self.isolation() {
                Ok(()) => log.push("network_access isolated: calls run without network (a network namespace of their own)".into()),
                Err(reason) => log.push(format!("note: network_access isolated is not enforced here ({reason})")),
            }
        }
        Ok(log)
    }

    async fn spawn(&self, algorithm: &Algorithm, commit: &str) -> Result<Worker, CallError> {
        let dir = self.build_dir(&algorithm.id, commit);
        if !dir
            .join("src")
            .join(format!("{}.py", algorithm.name))
            .is_file()
        {
            return Err(CallError::NotPrepared);
        }
        let venv_python = dir.join(".venv/bin/python");
        let python = if venv_python.is_file() {
            venv_python.display().to_string()
        } else {
            "python3".to_string()
        };
        let isolate =
            algorithm.settings["network_access"] == "isolated" && self.isolation().is_ok();
        let mut command = if isolate {
            let mut c = tokio::process::Command::new("unshare");
            c.args(["--net", "--"]).arg(&python);
            c
        } else {
            tokio::process::Command::new(&python)
        };
        command
            .arg("-u")
            .arg(self.data_dir.join("worker.py"))
            .arg(&dir)
            .arg(&algorithm.name)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: setrlimit and prctl are async-signal-safe and touch only the child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: MEMORY,
                    rlim_max: MEMORY,
                };
                libc::setrlimit(libc::RLIMIT_AS, &limit);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| CallError::Crashed(format!("cannot start python3: {e}")))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Worker {
            child,
            stdin,
            stdout,
            last_used: Instant::now(),
        })
    }

    /// Call one build with `input`, waiting at most `timeout` for the answer.
    pub async fn call(
        &self,
        algorithm: &Algorithm,
        commit: &str,
        input: Input,
        timeout: Duration,
    ) -> Result<Answer, CallError> {
        if !is_python(algorithm) {
            return Err(CallError::Unsupported);
        }
        let _slot = self
            .running
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore stays open");
        let key = format!("{}:{commit}", algorithm.id);
        let warm = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&key)
            .and_then(Vec::pop);
        let mut worker = match warm {
            Some(worker) => worker,
            None => self.spawn(algorithm, commit).await?,
        };
        let (kind, value) = match input {
            Input::Json(text) => ("json", Value::from(text)),
            Input::Text(t) => ("text", Value::from(t)),
            Input::Binary(b) => {
                use base64::Engine;
                (
                    "binary",
                    Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
                )
            }
        };
        let started = Instant::now();
        let mut request = json!({"kind": kind, "input": value}).to_string();
        request.push('\n');
        let exchange = async {
            worker.stdin.write_all(request.as_bytes()).await?;
            worker.stdin.flush().await?;
            let mut line = Vec::new();
            let mut limited = (&mut worker.stdout).take(MAX_ANSWER as u64);
            limited.read_until(b'\n', &mut line).await?;
            Ok::<Vec<u8>, std::io::Error>(line)
        };
        let line = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                drop(worker);
                return Err(CallError::Timeout(timeout));
            }
            Ok(Err(e)) => {
                return Err(CallError::Crashed(format!(
                    "the algorithm's process failed: {e}"
                )));
            }
            Ok(Ok(line)) if line.is_empty() => {
                return Err(CallError::Crashed("the algorithm's process exited".into()));
            }
            Ok(Ok(line)) if !line.ends_with(b"\n") => {
                return Err(CallError::Crashed(format!(
                    "the answer is larger than {} MiB",
                    MAX_ANSWER / 1024 / 1024
                )));
            }
            Ok(Ok(line)) => line,
        };
        let duration = started.elapsed();
        let answer: Value = serde_json::from_slice(&line)
            .map_err(|e| CallError::Crashed(format!("the worker answered garbage: {e}")))?;
        self.keep(key, worker);
        let stdout = answer["stdout"].as_str().unwrap_or("").to_string();
        let outcome = if answer["ok"] == true {
            match answer["kind"].as_str() {
                Some("text") => Outcome::Text(answer["result"].as_str().unwrap_or("").to_string()),
                Some("binary") => {
                    use base64::Engine;
                    Outcome::Binary(
                        base64::engine::general_purpose::STANDARD
                            .decode(answer["result"].as_str().unwrap_or(""))
                            .unwrap_or_default(),
                    )
                }
                _ => Outcome::Json(answer["result"].clone()),
            }
        } else {
            Outcome::Error {
                message: answer["message"].as_str().unwrap_or("").to_string(),
                stacktrace: answer["stacktrace"].as_str().unwrap_or("").to_string(),
                error_type: answer["error_type"]
                    .as_str()
                    .unwrap_or("AlgorithmError")
                    .to_string(),
            }
        };
        Ok(Answer {
            outcome,
            stdout,
            duration,
        })
    }

    /// Keep a worker warm, within the bounds (the least recently used go first).
    fn keep(&self, key: String, mut worker: Worker) {
        worker.last_used = Instant::now();
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = idle.entry(key).or_default();
        if list.len() < PER_BUILD {
            list.push(worker);
        }
        let mut total: usize = idle.values().map(Vec::len).sum();
        while total > IN_ALL {
            let oldest = idle
                .iter()
                .filter_map(|(k, v)| v.iter().map(|w| w.last_used).min().map(|t| (k.clone(), t)))
                .min_by_key(|(_, t)| *t)
                .map(|(k, _)| k);
            let Some(oldest) = oldest else { break };
            if let Some(list) = idle.get_mut(&oldest) {
                list.sort_by_key(|w| std::cmp::Reverse(w.last_used));
                list.pop();
            }
            total -= 1;
        }
    }
}

/// Python runtimes: the legacy languages `python2-langpack` and `python3-1`, and package sets
/// and environments that are not another language's (as builds.rs decides).
pub fn is_python(algorithm: &Algorithm) -> bool {
    super::builds::runtime_kind(algorithm) == "python"
}

/// Write a commit's tree into `dir` (replacing what was there).
fn checkout(repo: &Path, commit: &str, dir: &Path) -> Result<(), String> {
    let repo = git2::Repository::open_bare(repo).map_err(|e| e.message().to_string())?;
    let oid = git2::Oid::from_str(commit).map_err(|e| e.message().to_string())?;
    let tree = repo
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| e.message().to_string())?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        let Ok(name) = entry.name() else {
            return git2::TreeWalkResult::Skip;
        };
        // Names are git's, checked: no `..`, no absolute paths, no `.git`.
        if name == ".." || name == "." || name == ".git" || name.contains('/') {
            return git2::TreeWalkResult::Skip;
        }
        let path = dir.join(root).join(name);
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                if let Err(e) = std::fs::create_dir_all(&path) {
                    failure = Some(e.to_string());
                    return git2::TreeWalkResult::Abort;
                }
            }
            Some(git2::ObjectType::Blob) if entry.filemode() != 0o120000 => {
                let blob = match entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                    Ok(blob) => blob,
                    Err(e) => {
                        failure = Some(e.message().to_string());
                        return git2::TreeWalkResult::Abort;
                    }
                };
                if let Err(e) = std::fs::write(&path, blob.content()) {
                    failure = Some(e.to_string());
                    return git2::TreeWalkResult::Abort;
                }
            }
            // Links and submodules are not followed or fetched.
            _ => {}
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(|e| e.message().to_string())?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
