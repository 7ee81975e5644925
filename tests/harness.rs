//! A small fluent harness: lay out files in a temporary folder, run the real `algodeploy`
//! binary there, and look at exit code, stdout and stderr together.
//!
//! Every run is checked unless the test says otherwise, as just's `Test` does: its output must
//! not hold a test key or a panic, and its exit code must be looked at (`.code(n)`,
//! `.exit_code()` or `.snapshot()`); an [`Output`] dropped unchecked fails the test. [`Test`]
//! (files in a folder, no cluster) and [`Deploy`] (a repository and an emulator) both start
//! the program through [`algodeploy`], with the same clean environment.

use std::path::PathBuf;
use std::process::{Command, Stdio};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_algodeploy");

pub(crate) struct Test {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    args: Vec<String>,
}

/// What one run of algodeploy did. Checked when made (no key, no panic) and when dropped (the
/// exit code was looked at).
#[derive(Debug)]
#[must_use = "a run's exit code must be checked: .code(n), .exit_code() or .snapshot()"]
pub(crate) struct Output {
    code: i32,
    pub stdout: String,
    pub stderr: String,
    checked: std::cell::Cell<bool>,
}

/// `algodeploy ARGS` in `dir` with nothing from the caller's environment but `PATH`: its own
/// HOME (no user config), no colour, git's user and system config ignored, no API address or
/// key unless the test sets them.
pub(crate) fn algodeploy(dir: &std::path::Path, home: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null());
    command
}

impl Test {
    pub(crate) fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("temp dir"),
            home: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
        }
    }

    pub(crate) fn file(self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
        self
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    pub(crate) fn run(&self) -> Output {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        algodeploy(self.dir.path(), self.home.path(), &args)
            .output()
            .expect("run algodeploy")
            .into()
    }
}

/// The test keys, which no output of algodeploy may hold (the emulator's own banner, which
/// prints a key it made, is not run through [`Output`]).
const SECRETS: [&str; 3] = [KEY, OTHER_KEY, READ_KEY];

impl From<std::process::Output> for Output {
    #[track_caller]
    fn from(output: std::process::Output) -> Output {
        let output = Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            checked: std::cell::Cell::new(false),
        };
        for secret in SECRETS {
            assert!(
                !output.stdout.contains(secret) && !output.stderr.contains(secret),
                "a test key is in the output\n{}",
                output.snapshot()
            );
        }
        assert!(
            !output.stderr.contains("panicked at"),
            "algodeploy panicked\n{}",
            output.snapshot()
        );
        output
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.checked.get() && !std::thread::panicking() {
            panic!(
                "the exit code of this run was never checked (.code(n), .exit_code() or .snapshot())\n{}",
                self.snapshot()
            );
        }
    }
}

impl Output {
    /// Exit code, stdout and stderr in one text for snapshots (which check all three).
    pub(crate) fn snapshot(&self) -> String {
        self.checked.set(true);
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// The exit code, for a test that decides on it itself (and so checks it).
    pub(crate) fn exit_code(&self) -> i32 {
        self.checked.set(true);
        self.code
    }

    #[track_caller]
    pub(crate) fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.snapshot()
        );
        self
    }

    #[track_caller]
    pub(crate) fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.snapshot()
        );
        self
    }

    #[track_caller]
    pub(crate) fn code(&self, expected: i32) -> &Self {
        self.checked.set(true);
        assert_eq!(
            self.code,
            expected,
            "unexpected exit code\n{}",
            self.snapshot()
        );
        self
    }
}

/// Interrupt a running algodeploy as Ctrl-C would (SIGINT) and wait for it.
pub(crate) fn interrupt(child: std::process::Child) -> Output {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    child.wait_with_output().unwrap().into()
}

/// The repository's own folder (for `examples/`, README.md).
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example manifest's text.
pub(crate) fn example() -> String {
    std::fs::read_to_string(repo_root().join("examples/algorithm.yaml")).unwrap()
}

/// A blocking HTTP client for tests (rustls needs its crypto provider installed once).
pub(crate) fn http() -> reqwest::blocking::Client {
    http_builder().build().unwrap()
}

/// A blocking client builder with the crypto provider installed.
pub(crate) fn http_builder() -> reqwest::blocking::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::blocking::Client::builder()
}

/// `(version, git hash)` of each entry of a published-versions answer.
pub(crate) fn published_list(versions: &serde_json::Value) -> Vec<(String, String)> {
    versions["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|v| {
                    let info = &v["version_info"];
                    (
                        info["semantic_version"].as_str().unwrap().to_string(),
                        info["git_hash"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A running `algodeploy emulator` on a free loopback port, stopped (SIGTERM) on drop.
pub(crate) struct Emulator {
    pub child: Option<std::process::Child>,
    pub url: String,
    _temp: Option<tempfile::TempDir>,
    args: Vec<String>,
    /// The CA to trust for an HTTPS emulator.
    pub ca: Option<PathBuf>,
}

pub(crate) const KEY: &str = "simDemoKeyForTests0000000001";
pub(crate) const OTHER_KEY: &str = "simOtherKeyForTests000000002";
pub(crate) const READ_KEY: &str = "simReadOnlyKeyForTests000003";
pub(crate) const ADMIN: &str = "test-admin-token";

impl Emulator {
    /// Owners `demo` (KEY, manage; READ_KEY, read only) and `other` (OTHER_KEY).
    pub(crate) fn start(extra: &[&str]) -> Emulator {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut emulator = Emulator::with_data_dir(&data_dir, extra);
        emulator._temp = Some(temp);
        emulator
    }

    pub(crate) fn with_data_dir(data_dir: &std::path::Path, extra: &[&str]) -> Emulator {
        let listen = if extra.contains(&"--listen") {
            Vec::new()
        } else {
            vec!["--listen", "127.0.0.1:0"]
        };
        let mut args: Vec<String> = ["emulator"]
            .into_iter()
            .chain(listen)
            .map(str::to_string)
            .collect();
        args.extend(
            [
                "--key",
                &format!("demo={KEY}"),
                "--key",
                &format!("other={OTHER_KEY}"),
                "--read-only-key",
                &format!("demo={READ_KEY}"),
                "--admin-token",
                ADMIN,
                "--data-dir",
                data_dir.to_str().unwrap(),
            ]
            .iter()
            .map(|s| (*s).to_string()),
        );
        if !extra.contains(&"--build-seconds") {
            args.extend(["--build-seconds".to_string(), "0".to_string()]);
        }
        args.extend(extra.iter().map(|s| (*s).to_string()));
        Emulator::with_args(args)
    }

    /// An emulator started with exactly these arguments (after the binary).
    pub(crate) fn with_args(args: Vec<String>) -> Emulator {
        let mut emulator = Emulator {
            child: None,
            url: String::new(),
            _temp: None,
            args,
            ca: None,
        };
        emulator.spawn();
        emulator
    }

    fn spawn(&mut self) {
        use std::io::BufRead;
        let mut child = Command::new(BIN)
            .args(&self.args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        self.url = url;
        self.child = Some(child);
    }

    /// Stop with SIGTERM and wait; returns the exit code and stderr.
    pub(crate) fn stop(&mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let Some(mut child) = self.child.take() else {
            return (None, String::new());
        };
        signal(&child, "TERM");
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code(), stderr)
    }

    /// Kill with SIGKILL: no chance to clean up.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "KILL");
            let _ = child.wait();
        }
    }

    /// Start again on the same data folder (and a new port).
    pub(crate) fn restart(&mut self) {
        self.spawn();
    }

    pub(crate) fn host(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
    }

    /// The port the emulator listens on.
    pub(crate) fn port(&self) -> u16 {
        self.host().rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A blocking HTTP request with a key (`Simple` scheme); returns status and JSON body.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let client = self.client();
        let mut request = client.request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.header("Authorization", format!("Simple {key}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("request");
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    pub(crate) fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let client = self.client();
        let mut request = client
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {ADMIN}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("admin request");
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A client for this emulator (trusting its CA when it serves HTTPS).
    pub(crate) fn client(&self) -> reqwest::blocking::Client {
        match &self.ca {
            Some(ca) => https(ca),
            None => http(),
        }
    }

    /// Create a Python algorithm `name` for owner `demo` with demo's key.
    pub(crate) fn create(&self, name: &str) -> (u16, serde_json::Value) {
        self.call(
            "POST",
            "/v1/algorithms/demo",
            Some(KEY),
            Some(create_body(name)),
        )
    }

    /// How many `method` requests the emulator logged for exactly `path`.
    pub(crate) fn count(&self, method: &str, path: &str) -> usize {
        self.requests(path)
            .into_iter()
            .filter(|(m, p, _)| m == method && p == path)
            .count()
    }

    /// The published versions of demo/NAME, newest first, with the commit each was built
    /// from.
    pub(crate) fn published(&self, name: &str) -> Vec<(String, String)> {
        let (_, versions) = self.call(
            "GET",
            &format!("/v1/algorithms/demo/{name}/versions?published=true"),
            Some(KEY),
            None,
        );
        published_list(&versions)
    }

    /// The request log's (method, path, status) rows for paths under `prefix`.
    pub(crate) fn requests(&self, prefix: &str) -> Vec<(String, String, u16)> {
        let (_, log) = self.admin("GET", "/_emulator/requests", None);
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"].as_str().unwrap().starts_with(prefix))
            .map(|r| {
                (
                    r["method"].as_str().unwrap().to_string(),
                    r["path"].as_str().unwrap().to_string(),
                    r["status"].as_u64().unwrap() as u16,
                )
            })
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }
}

fn signal(child: &std::process::Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

/// A create request body for a Python algorithm.
pub(crate) fn create_body(name: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "details": {"label": "Hello"},
        "settings": {
            "license": "mit",
            "source_visibility": "open",
            "network_access": "isolated",
            "pipeline_enabled": false,
            "package_set": "python38"
        }
    })
}

/// A git work tree with one commit holding a buildable Python algorithm `name`.
pub(crate) struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub(crate) fn python(name: &str) -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write(
            &format!("src/{name}.py"),
            "def apply(input):\n    return f\"Hello, {input}!\"\n",
        );
        repo.write("requirements.txt", "");
        repo.commit("first");
        repo
    }

    pub(crate) fn write(&self, path: &str, contents: &str) {
        let full = self.dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }

    pub(crate) fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ]);
        self.head()
    }

    pub(crate) fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Run git here with the machine's git configuration ignored; panics on failure.
    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = self.try_git(args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn try_git(&self, args: &[&str]) -> std::process::Output {
        Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap()
    }

    /// `git push` with credentials in the URL, as a user would from a shell.
    pub(crate) fn push(
        &self,
        emulator: &Emulator,
        owner: &str,
        key: &str,
        name: &str,
    ) -> std::process::Output {
        let url = format!(
            "http://{owner}:{key}@{}/git/{owner}/{name}.git",
            emulator.host()
        );
        self.try_git(&["push", "-q", "--force", &url, "HEAD:master"])
    }
}

/// An algorithm repository made from `examples/` (manifest, entry point, requirements), one
/// commit, with an emulator to deploy to. `run` calls algodeploy inside it with the emulator's
/// address and key in the environment and a HOME of its own (no user config is read).
pub(crate) struct Deploy {
    pub emulator: Emulator,
    pub repo: Repo,
    home: tempfile::TempDir,
}

impl Deploy {
    pub(crate) fn new(extra: &[&str]) -> Deploy {
        let emulator = Emulator::start(extra);
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        let examples = repo_root().join("examples");
        repo.write(
            "algorithm.yaml",
            &std::fs::read_to_string(examples.join("algorithm.yaml")).unwrap(),
        );
        repo.write(
            "src/hello_world.py",
            &std::fs::read_to_string(examples.join("src/hello_world.py")).unwrap(),
        );
        repo.write("requirements.txt", "");
        repo.commit("Hello World");
        Deploy {
            emulator,
            repo,
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[("ALGORITHMIA_API_KEY", KEY)])
    }

    /// The HOME that algodeploy runs with (for `~/.algorithmia/config`).
    pub(crate) fn home(&self) -> &std::path::Path {
        self.home.path()
    }

    /// Write `~/.algorithmia/config`.
    pub(crate) fn profile(&self, text: &str) {
        let dir = self.home.path().join(".algorithmia");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), text).unwrap();
    }

    pub(crate) fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(env.iter().copied())
            .output()
            .expect("run algodeploy")
            .into()
    }

    /// algodeploy in the repository, with the emulator's address and key, for tests that
    /// need the process itself (signals, concurrency).
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        self.command_in(self.repo.dir.path(), args)
    }

    pub(crate) fn command_in(&self, dir: &std::path::Path, args: &[&str]) -> Command {
        let mut command = algodeploy(dir, self.home.path(), args);
        command
            .env("ALGORITHMIA_API", &self.emulator.url)
            .env("ALGORITHMIA_API_KEY", KEY);
        command
    }

    /// Edit the manifest with a text replacement (which must match).
    pub(crate) fn edit(&self, from: &str, to: &str) {
        let path = self.repo.dir.path().join("algorithm.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in the manifest");
        std::fs::write(path, text.replace(from, to)).unwrap();
    }

    /// Requests to `/v1` that change something (POST, PUT, DELETE).
    pub(crate) fn writes(&self) -> Vec<(String, String, u16)> {
        self.emulator
            .requests("/v1")
            .into_iter()
            .filter(|(method, _, _)| method != "GET")
            .collect()
    }

    /// The published semantic versions of demo/hello_world, newest first.
    pub(crate) fn published(&self) -> Vec<String> {
        self.published_of("hello_world")
    }

    /// The published semantic versions of demo/NAME, newest first.
    pub(crate) fn published_of(&self, name: &str) -> Vec<String> {
        self.emulator
            .published(name)
            .into_iter()
            .map(|(version, _)| version)
            .collect()
    }

    /// algodeploy with only the profiles of `~/.algorithmia/config` (no `ALGORITHMIA_API` or
    /// key in its environment), plus `env`.
    pub(crate) fn run_profile(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args)
            .env_remove("ALGORITHMIA_API")
            .env_remove("ALGORITHMIA_API_KEY")
            .envs(env.iter().copied())
            .output()
            .unwrap()
            .into()
    }

    pub(crate) fn clear_log(&self) {
        self.emulator.admin("DELETE", "/_emulator/requests", None);
    }
}

/// A throwaway certificate authority and a server certificate it issued for `127.0.0.1` and
/// `localhost`, as PEM files in a folder of their own.
pub(crate) struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub(crate) fn new(name: &str) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} emulator"));
        let leaf = params.signed_by(&leaf_key, &issuer).unwrap();
        let write = |file: &str, text: String| {
            let path = dir.path().join(file);
            std::fs::write(&path, text).unwrap();
            path
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", leaf.pem()),
            key: write("server.key", leaf_key.serialize_pem()),
            dir,
        }
    }

    /// The emulator flags that serve HTTPS with this certificate.
    pub(crate) fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

/// A blocking HTTP client that trusts `ca` (for tests against an HTTPS emulator).
pub(crate) fn https(ca: &std::path::Path) -> reqwest::blocking::Client {
    let _ = http();
    let pem = std::fs::read(ca).unwrap();
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

/// Snapshot filters for what changes between runs: ports, commit hashes, ids, temp paths.
pub(crate) fn filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[SHA]");
    settings.add_filter(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
        "[UUID]",
    );
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[DIGEST]");
    settings.add_filter(r"\b[0-9a-f]{7}\b", "[SHORT]");
    settings.add_filter(r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]");
    settings.add_filter(
        r#""tool_version": "[^"]+""#,
        r#""tool_version": "[VERSION]""#,
    );
    settings
}
