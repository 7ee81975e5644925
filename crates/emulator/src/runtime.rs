//! Running Python algorithms: each successful build of a Python runtime is checked out to
//! `DATA_DIR/builds/<algorithm id>/<commit>/`, and calls go to worker processes
//! (`worker.py`) that import its `src/<name>.py` and call `apply(input)`. Workers stay warm
//! between calls (the platform keeps algorithms loaded), are restarted after a crash, and are
//! bounded: in number (per build and in all), in memory (`RLIMIT_AS`), file size, CPU time, in
//! output size and in time (a call past its timeout kills its worker).
//!
//! **The sandbox.** Each worker runs under bubblewrap (`bwrap`, the sandbox Flatpak uses), as
//! root or as an ordinary user: new user, PID, IPC and UTS namespaces, a network namespace (for
//! `network_access: full` too, unless the emulator runs with `--algorithm-network`: the host's
//! loopback holds its services and a signed-in console's cookie), every capability dropped, a new session, killed with the
//! emulator. It sees the system's programs (`/usr`) read-only, its own build read-only, the
//! worker script, a private `/tmp`, its own `/proc` and a minimal `/dev` — not the data folder,
//! the database, other builds, the emulator's processes, sockets or file descriptors. Killing
//! the worker (a timeout) ends its PID namespace, so every process it started dies with it, a
//! `setsid` child included. `pip install` for `--install-requirements` runs the same way, with
//! the network and its own build writable. Without bubblewrap the emulator says so at start
//! and in every build log, and runs algorithms only while it serves a single owner (with
//! `unshare --net` for isolated ones where the machine allows it) — never a silent downgrade.
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
/// Calls one caller (the owner of the calling key) may run at once: a quarter of all, so that
/// one owner's queue cannot hold every slot while others wait.
const PER_CALLER: usize = IN_ALL / 4;
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
    /// The JSON result as the worker wrote it: passed through, never built as a tree (a 10 MB
    /// result would take many times that).
    Json(Box<serde_json::value::RawValue>),
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
    /// No sandbox here, and the emulator serves several owners: no algorithm runs.
    Refused(String),
}

/// How algorithms are confined on this machine (decided once, at start).
#[derive(Debug, Clone)]
pub enum Confinement {
    /// bubblewrap works: every worker and build step runs in a sandbox.
    Sandbox,
    /// No sandbox (`why`); algorithms run only when the emulator serves one owner.
    Unconfined { why: String, single_owner: bool },
}

impl Confinement {
    /// The line the emulator prints at start and every Python build log carries.
    pub fn describe(&self) -> String {
        match self {
            Confinement::Sandbox => "algorithms run in a bubblewrap sandbox: their own build read-only, a private /tmp, no view of the emulator, its data or other builds".into(),
            Confinement::Unconfined { why, single_owner: true } => format!(
                "warning: algorithms run WITHOUT a sandbox (bubblewrap: {why}); allowed only because the emulator serves a single owner. Install bubblewrap (Debian: apt-get install bubblewrap) before serving several owners"
            ),
            Confinement::Unconfined { why, single_owner: false } => format!(
                "warning: algorithms do NOT run: no sandbox (bubblewrap: {why}) and the emulator serves several owners, whose code must not share the emulator's user. Install bubblewrap (Debian: apt-get install bubblewrap)"
            ),
        }
    }
}

/// The resource limits of every sandboxed process (and of unsandboxed workers).
const FILE_SIZE: u64 = 256 * 1024 * 1024;
const CPU_SECONDS: u64 = 3600;

/// bubblewrap's arguments for a worker or build step of the build in `dir`.
/// `data_dir` is hidden under an empty tmpfs first, wherever it is (a data folder under `/usr`
/// would otherwise be visible through the system's read-only `/usr`); then the build (and the
/// worker script) are bound back in.
fn bwrap_args(
    data_dir: &Path,
    dir: &Path,
    worker: Option<&Path>,
    network: bool,
    writable: bool,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    // `/tmp` is memory: bounded, as files are (`RLIMIT_FSIZE`); pip needs room for wheels.
    let tmp_bytes: u64 = if writable { 2 << 30 } else { 256 << 20 };
    args.extend([
        "--size".into(),
        tmp_bytes.to_string(),
        "--tmpfs".into(),
        "/tmp".into(),
    ]);
    if !network {
        args.push("--unshare-net".into());
    }
    // Merged-/usr systems have these as links; older ones as folders.
    for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
        let path = Path::new(top);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(path) {
                    args.extend(["--symlink".into(), target.display().to_string(), top.into()]);
                }
            }
            Ok(meta) if meta.is_dir() => args.extend(["--ro-bind".into(), top.into(), top.into()]),
            _ => {}
        }
    }
    // What programs need from /etc to run and, with the network, to reach hosts over TLS.
    for file in [
        "/etc/alternatives",
        "/etc/ssl",
        "/etc/ca-certificates",
        "/etc/pki",
        "/etc/localtime",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/nsswitch.conf",
        "/etc/ld.so.cache",
        "/etc/pip.conf",
    ] {
        args.extend(["--ro-bind-try".into(), file.into(), file.into()]);
    }
    args.extend(["--tmpfs".into(), data_dir.display().to_string()]);
    let dir = dir.display().to_string();
    let bind = if writable { "--bind" } else { "--ro-bind" };
    args.extend([bind.into(), dir.clone(), dir.clone()]);
    if let Some(worker) = worker {
        let worker = worker.display().to_string();
        args.extend(["--ro-bind".into(), worker.clone(), worker]);
    }
    args.extend([
        "--chdir".into(),
        dir,
        "--setenv".into(),
        "HOME".into(),
        "/tmp".into(),
        "--setenv".into(),
        "TMPDIR".into(),
        "/tmp".into(),
    ]);
    args
}

/// Whether bubblewrap runs here, tried with the arguments workers get.
fn probe_sandbox(data_dir: &Path) -> Result<(), String> {
    let mut command = std::process::Command::new("bwrap");
    command
        .args(bwrap_args(data_dir, data_dir, None, false, false))
        .args(["--", "true"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(algodeploy_platform::text::line(
            String::from_utf8_lossy(&out.stderr).trim(),
            None,
            200,
        )),
        Err(e) => Err(format!("`bwrap` cannot be run: {e}")),
    }
}

/// Limits every sandboxed or worker process gets (set between fork and exec).
fn limit_child(command: &mut tokio::process::Command) {
    // SAFETY: setrlimit and prctl are async-signal-safe and touch only the child.
    unsafe {
        command.pre_exec(|| {
            for (resource, value) in [
                (libc::RLIMIT_AS, MEMORY),
                (libc::RLIMIT_FSIZE, FILE_SIZE),
                (libc::RLIMIT_CPU, CPU_SECONDS),
                (libc::RLIMIT_CORE, 0),
            ] {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                libc::setrlimit(resource, &limit);
            }
            // Linux only (elsewhere the process group is what ends it).
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
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
    /// `--algorithm-network`: sandboxed `network_access: full` calls share the host's network.
    host_network: bool,
    idle: Mutex<HashMap<String, Vec<Worker>>>,
    /// Calls running at once (each holds a worker).
    running: Arc<tokio::sync::Semaphore>,
    /// Each caller's share of `running`.
    per_caller: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    isolation: std::sync::OnceLock<Result<(), String>>,
    pub confinement: Confinement,
}

impl Runtime {
    /// `owners`: how many owners the emulator serves (without a sandbox, code runs only for
    /// one).
    pub fn new(
        data_dir: &Path,
        install_requirements: bool,
        host_network: bool,
        owners: usize,
    ) -> std::io::Result<Runtime> {
        std::fs::write(data_dir.join("worker.py"), WORKER)?;
        let confinement = match probe_sandbox(data_dir) {
            Ok(()) => Confinement::Sandbox,
            Err(why) => Confinement::Unconfined {
                why,
                single_owner: owners <= 1,
            },
        };
        Ok(Runtime {
            data_dir: data_dir.to_path_buf(),
            install_requirements,
            host_network,
            idle: Mutex::new(HashMap::new()),
            running: Arc::new(tokio::sync::Semaphore::new(IN_ALL)),
            per_caller: Mutex::new(HashMap::new()),
            isolation: std::sync::OnceLock::new(),
            confinement,
        })
    }

    fn sandboxed(&self) -> bool {
        matches!(self.confinement, Confinement::Sandbox)
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
        let mut log = vec![self.confinement.describe()];
        let dir = self.build_dir(&algorithm.id, commit);
        if let Confinement::Unconfined {
            single_owner: false,
            ..
        } = &self.confinement
        {
            // Installing requirements runs the pushed code (setup.py, .pth files): without a
            // sandbox, nothing of it runs while several owners share the emulator (calls are
            // refused with the same reason).
            log.push("note: the build's code is not checked out, installed or run".into());
            return Ok(log);
        }
        if let Err(e) = checkout(repo, commit, &dir) {
            return Err(vec![format!("error: cannot check out the build: {e}")]);
        }
        // Only the virtualenv the emulator makes is used: a committed `.venv/` would choose
        // the interpreter and what it loads.
        if std::fs::symlink_metadata(dir.join(".venv")).is_ok() {
            let _ = std::fs::remove_dir_all(dir.join(".venv"));
            let _ = std::fs::remove_file(dir.join(".venv"));
            log.push("note: the committed .venv/ is ignored (the emulator makes its own)".into());
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
                let mut command = if self.sandboxed() {
                    let mut c = std::process::Command::new("bwrap");
                    c.args(bwrap_args(&self.data_dir, &dir, None, true, true))
                        .arg("--")
                        .arg(&program);
                    c
                } else {
                    std::process::Command::new(&program)
                };
                match command
                    .args(&args)
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", &dir)
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
        if algorithm.settings["network_access"] == "isolated" && self.sandboxed() {
            log.push("network_access isolated: calls run without network (a network namespace of their own)".into());
        } else if self.sandboxed() && !self.host_network {
            log.push("network_access full: calls run without network here, like isolated ones (the emulator shares a machine; start it with --algorithm-network to share the host's network)".into());
        } else if algorithm.settings["network_access"] == "isolated" {
            match self.isolation() {
                Ok(()) => log.push("network_access isolated: calls run without network (a network namespace of their own)".into()),
                Err(reason) => log.push(format!("note: network_access isolated is not enforced here ({reason})")),
            }
        }
        Ok(log)
    }

    async fn spawn(
        &self,
        algorithm: &Algorithm,
        commit: &str,
        secrets: &[(String, String)],
    ) -> Result<Worker, CallError> {
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
        let isolated = algorithm.settings["network_access"] == "isolated";
        let worker = self.data_dir.join("worker.py");
        let mut command = if self.sandboxed() {
            let mut c = tokio::process::Command::new("bwrap");
            c.args(bwrap_args(
                &self.data_dir,
                &dir,
                Some(&worker),
                !isolated && self.host_network,
                false,
            ))
            .arg("--")
            .arg(&python);
            c
        } else if isolated && self.isolation().is_ok() {
            let mut c = tokio::process::Command::new("unshare");
            c.args(["--net", "--"]).arg(&python);
            c
        } else {
            tokio::process::Command::new(&python)
        };
        command
            .arg("-u")
            .arg(&worker)
            .arg(&dir)
            .arg(&algorithm.name)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            // The algorithm's secrets, as the platform gives them: environment variables.
            .envs(secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        limit_child(&mut command);
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

    /// Call one build with `input` for `caller` (the owner of the calling key), answering
    /// within `timeout` of its arrival: time spent queued for a slot counts.
    pub async fn call(
        &self,
        algorithm: &Algorithm,
        commit: &str,
        input: Input,
        timeout: Duration,
        caller: &str,
        secrets: &[(String, String)],
    ) -> Result<Answer, CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        if !is_python(algorithm) {
            return Err(CallError::Unsupported);
        }
        if let Confinement::Unconfined {
            single_owner: false,
            ..
        } = &self.confinement
        {
            return Err(CallError::Refused(self.confinement.describe()));
        }
        let share = self
            .per_caller
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(caller.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(PER_CALLER)))
            .clone();
        let slots = async {
            let mine = share
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let any = self
                .running
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            (mine, any)
        };
        let Ok(_slots) = tokio::time::timeout_at(deadline, slots).await else {
            return Err(CallError::Timeout(timeout));
        };
        // Workers are kept per build and per network setting: an `isolated` change applies to
        // the next call, not to the next worker.
        // The secrets are part of the key too: a changed secret reaches the next call.
        let secrets_digest = {
            use sha2::{Digest, Sha256};
            let mut hasher = Sha256::new();
            for (k, v) in secrets {
                hasher.update(k.as_bytes());
                hasher.update([0]);
                hasher.update(v.as_bytes());
                hasher.update([0]);
            }
            algodeploy_platform::hex(&hasher.finalize()[..8])
        };
        let key = format!(
            "{}:{commit}:{}:{secrets_digest}",
            algorithm.id,
            algorithm.settings["network_access"].as_str().unwrap_or("")
        );
        // A warm worker that died while idle (killed, out of memory) is replaced, never handed
        // to the caller.
        let warm = loop {
            let popped = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_mut(&key)
                .and_then(Vec::pop);
            match popped {
                Some(mut worker) => {
                    if matches!(worker.child.try_wait(), Ok(None)) {
                        break Some(worker);
                    }
                }
                None => break None,
            }
        };
        let mut worker = match warm {
            Some(worker) => worker,
            None => self.spawn(algorithm, commit, secrets).await?,
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
        let line = match tokio::time::timeout_at(deadline, exchange).await {
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
        /// The worker's answer line; `result` kept as its JSON text.
        #[derive(serde::Deserialize)]
        struct WorkerAnswer<'a> {
            #[serde(default)]
            ok: bool,
            #[serde(default)]
            kind: Option<String>,
            #[serde(borrow, default)]
            result: Option<&'a serde_json::value::RawValue>,
            #[serde(default)]
            stdout: Option<String>,
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            stacktrace: Option<String>,
            #[serde(default)]
            error_type: Option<String>,
        }
        let answer: WorkerAnswer<'_> = serde_json::from_slice(&line)
            .map_err(|e| CallError::Crashed(format!("the worker answered garbage: {e}")))?;
        self.keep(key, worker);
        let text_result = || {
            answer
                .result
                .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
                .unwrap_or_default()
        };
        let outcome = if answer.ok {
            match answer.kind.as_deref() {
                Some("text") => Outcome::Text(text_result()),
                Some("binary") => {
                    use base64::Engine;
                    Outcome::Binary(
                        base64::engine::general_purpose::STANDARD
                            .decode(text_result())
                            .unwrap_or_default(),
                    )
                }
                _ => Outcome::Json(answer.result.map_or_else(
                    || {
                        serde_json::value::RawValue::from_string("null".into())
                            .expect("null is JSON")
                    },
                    std::borrow::ToOwned::to_owned,
                )),
            }
        } else {
            // Paths in the trace are the build's own (`src/x.py`), not the host's data folder.
            let build = format!("{}/", self.build_dir(&algorithm.id, commit).display());
            let data = format!("{}/", self.data_dir.display());
            Outcome::Error {
                message: answer.message.unwrap_or_default(),
                stacktrace: answer
                    .stacktrace
                    .unwrap_or_default()
                    .replace(&build, "")
                    .replace(&data, ""),
                error_type: answer
                    .error_type
                    .unwrap_or_else(|| "AlgorithmError".to_string()),
            }
        };
        let stdout = answer.stdout.unwrap_or_default();
        drop(line);
        Ok(Answer {
            outcome,
            stdout,
            duration,
        })
    }

    /// Stop the warm workers of a deleted algorithm and remove its builds' files.
    pub fn forget(&self, algorithm_id: &str) {
        let prefix = format!("{algorithm_id}:");
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|key, _| !key.starts_with(&prefix));
        let _ = std::fs::remove_dir_all(self.data_dir.join("builds").join(algorithm_id));
    }

    /// Stop workers idle for longer than `max_idle` (whatever they left running stops with
    /// their PID namespace).
    pub fn reap_idle(&self, max_idle: Duration) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for list in idle.values_mut() {
            list.retain(|w| w.last_used.elapsed() < max_idle);
        }
        idle.retain(|_, list| !list.is_empty());
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
pub(crate) fn is_python(algorithm: &Algorithm) -> bool {
    super::builds::runtime_kind(algorithm) == "python"
}

/// Why a checkout failed, shown in the build log (git's message without its class and code).
enum CheckoutError {
    Git(git2::Error),
    Io(std::io::Error),
    /// A file or the whole tree is past what a build may unpack (a push is compressed: a
    /// megabyte can hold a gigabyte of zeros).
    TooLarge(String),
}

/// The largest file a build checks out (each is read into memory whole).
const MAX_FILE_BYTES: usize = 100 * 1024 * 1024;
/// The most a build's files may add up to.
const MAX_TREE_BYTES: usize = 1024 * 1024 * 1024;

impl From<git2::Error> for CheckoutError {
    fn from(error: git2::Error) -> Self {
        CheckoutError::Git(error)
    }
}

impl From<std::io::Error> for CheckoutError {
    fn from(error: std::io::Error) -> Self {
        CheckoutError::Io(error)
    }
}

impl std::fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckoutError::Git(e) => f.write_str(e.message()),
            CheckoutError::Io(e) => write!(f, "{e}"),
            CheckoutError::TooLarge(what) => f.write_str(what),
        }
    }
}

/// Refuse a tree with a file past [`MAX_FILE_BYTES`] or files past [`MAX_TREE_BYTES`] in all,
/// from the sizes git records (`git ls-tree -r -l`), before any blob is inflated.
fn check_sizes(repo: &Path, commit: &str) -> Result<(), CheckoutError> {
    let listed = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["ls-tree", "-r", "-l", "-z", "--full-tree", commit])
        .env_remove("GIT_DIR")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    if !listed.status.success() {
        return Err(CheckoutError::TooLarge(format!(
            "`git ls-tree` could not list the commit {commit}"
        )));
    }
    let mut total = 0usize;
    // `MODE TYPE OBJECT SIZE\tPATH`, NUL-terminated; SIZE is `-` for what is not a blob.
    for record in listed.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(record);
        let Some((meta, path)) = text.split_once('\t') else {
            continue;
        };
        let Some(size) = meta
            .split_whitespace()
            .nth(3)
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        total = total.saturating_add(size);
        if size > MAX_FILE_BYTES || total > MAX_TREE_BYTES {
            let mib = |n: usize| n / (1024 * 1024);
            return Err(CheckoutError::TooLarge(format!(
                "`{path}` is {} MiB{}; a build checks out files of at most {} MiB, {} MiB in all",
                mib(size),
                if size > MAX_FILE_BYTES {
                    ""
                } else {
                    " and the files add up to more"
                },
                mib(MAX_FILE_BYTES),
                mib(MAX_TREE_BYTES)
            )));
        }
    }
    Ok(())
}

/// Write a commit's tree into `dir` (replacing what was there).
fn checkout(repo_path: &Path, commit: &str, dir: &Path) -> Result<(), CheckoutError> {
    let repo = git2::Repository::open_bare(repo_path)?;
    let tree = repo.find_commit(git2::Oid::from_str(commit)?)?.tree()?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    check_sizes(repo_path, commit)?;
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
                    failure = Some(CheckoutError::Io(e));
                    return git2::TreeWalkResult::Abort;
                }
            }
            Some(git2::ObjectType::Blob) if entry.filemode() != 0o120000 => {
                let blob = match entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                    Ok(blob) => blob,
                    Err(e) => {
                        failure = Some(CheckoutError::Git(e));
                        return git2::TreeWalkResult::Abort;
                    }
                };
                if let Err(e) = std::fs::write(&path, blob.content()) {
                    failure = Some(CheckoutError::Io(e));
                    return git2::TreeWalkResult::Abort;
                }
            }
            // Links and submodules are not followed or fetched.
            _ => {}
        }
        git2::TreeWalkResult::Ok
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod sandbox_tests {
    use std::path::Path;

    #[test]
    fn the_data_folder_is_hidden_before_the_build_is_bound_back() {
        let args = super::bwrap_args(
            Path::new("/usr/local/var/emu"),
            Path::new("/usr/local/var/emu/builds/a/b"),
            Some(Path::new("/usr/local/var/emu/worker.py")),
            false,
            false,
        );
        let at = |flag: &str, path: &str| {
            args.windows(2)
                .position(|w| w[0] == flag && w[1] == path)
                .unwrap_or_else(|| panic!("no {flag} {path} in {args:?}"))
        };
        let hidden = at("--tmpfs", "/usr/local/var/emu");
        assert!(hidden > at("--ro-bind", "/usr"));
        assert!(hidden < at("--ro-bind", "/usr/local/var/emu/builds/a/b"));
        assert!(hidden < at("--ro-bind", "/usr/local/var/emu/worker.py"));
        assert!(args.contains(&"--unshare-net".to_string()));
        assert!(args.contains(&"--cap-drop".to_string()));
    }
}
