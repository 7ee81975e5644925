//! Regression tests for the red-team findings, each reproducing the attack as it was found:
//! hostile servers on 127.0.0.1 (redirects, rewrites, echoed keys, bad values, endless paging),
//! a hostile repository (committed symlinks, `summary_file` pointing at `.git/config` or an
//! ignored file, a FIFO), and an emulator under hostile clients (large bodies, held slots,
//! SIGKILL mid-request, descriptor exhaustion).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::harness::{Deploy, Emulator, KEY, READ_KEY, Repo};

/// One request as a hostile server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A scripted HTTP/1.1 server on 127.0.0.1 that records what it was sent. It answers at most
/// 300 connections, one request each, then stops.
struct Hostile {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hostile {
    fn start(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(300) {
                let Ok(stream) = stream else { continue };
                let (log, answer) = (log.clone(), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &log, answer.as_ref());
                });
            }
        });
        Hostile { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Whether any request carried the key, in any form (plain, or Basic-encoded with a user).
    fn received_key(&self) -> bool {
        self.seen().iter().any(|s| {
            s.headers.values().any(|v| {
                v.contains(KEY)
                    || v.strip_prefix("Basic ")
                        .and_then(|b| {
                            base64::engine::general_purpose::STANDARD
                                .decode(b.trim())
                                .ok()
                        })
                        .is_some_and(|d| String::from_utf8_lossy(&d).contains(KEY))
            })
        })
    }
}

fn serve_one(
    stream: TcpStream,
    log: &Mutex<Vec<Seen>>,
    answer: &(dyn Fn(&Seen) -> Answer + Send + Sync),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let _method = parts.next();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if let Some(length) = headers
        .get("content-length")
        .and_then(|l| l.parse::<u64>().ok())
    {
        let _ = std::io::copy(
            &mut (&mut reader).take(length.min(1 << 20)),
            &mut std::io::sink(),
        );
    }
    let seen = Seen { path, headers };
    let (status, extra, body) = answer(&seen);
    log.lock().unwrap().push(seen);
    let mut out = stream;
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(&body)?;
    out.flush()
}

fn json_answer(status: u16, body: serde_json::Value) -> Answer {
    (
        status,
        vec![("Content-Type".into(), "application/json".into())],
        body.to_string().into_bytes(),
    )
}

fn unauthorized() -> Answer {
    (
        401,
        vec![("WWW-Authenticate".into(), "Basic realm=\"x\"".into())],
        b"who are you\n".to_vec(),
    )
}

/// A deployed example whose profile points git at `git_server` (the API stays the emulator).
fn deployed_with_git_server(git_server: &str) -> Deploy {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    d.profile(&format!(
        "[profiles.default]\napi_key = \"{KEY}\"\napi_server = \"{}\"\ngit_server = \"{git_server}\"\n",
        d.emulator.url
    ));
    d
}

fn run_profile(d: &Deploy, args: &[&str], env: &[(&str, &str)]) -> crate::harness::Output {
    d.run_profile(args, env)
}

fn bump(d: &Deploy) {
    d.edit("semantic_version: 1.0.0", "semantic_version: 1.1.0");
    d.repo.write(
        "src/hello_world.py",
        "def apply(input):\n    return f\"Hi, {input}!\"\n",
    );
    d.repo.commit("bump");
}

#[test]
fn a_git_host_redirecting_elsewhere_never_passes_the_key_on() {
    let elsewhere = Hostile::start(|_| unauthorized());
    let target = elsewhere.url();
    // Asks for credentials, then sends git (with them, if it would) to another origin.
    let host = Hostile::start(move |seen| match seen.headers.get("authorization") {
        None => unauthorized(),
        Some(_) => (
            302,
            vec![("Location".into(), format!("{target}{}", seen.path))],
            Vec::new(),
        ),
    });
    let d = deployed_with_git_server(&host.url());
    // A new commit: the plan needs no git read (the newest build says where `master` is);
    // the push meets the redirect.
    bump(&d);
    let plan = run_profile(&d, &["plan"], &[]);
    plan.code(0);
    assert!(!plan.stderr.contains(KEY) && !plan.stdout.contains(KEY));
    let apply = run_profile(&d, &["apply", "--yes", "--push"], &[]);
    assert_ne!(apply.exit_code(), 0, "{}", apply.snapshot());
    assert!(
        host.received_key(),
        "the configured origin is asked as it should be"
    );
    assert!(
        !elsewhere.received_key(),
        "the key went to another origin: {:?}",
        elsewhere.seen()
    );

    // A redirect before any credentials: git asks for the other origin's, and gets none.
    let elsewhere = Hostile::start(|_| unauthorized());
    let target = elsewhere.url();
    let host = Hostile::start(move |seen| {
        (
            302,
            vec![("Location".into(), format!("{target}{}", seen.path))],
            Vec::new(),
        )
    });
    d.profile(&format!(
        "[profiles.default]\napi_key = \"{KEY}\"\napi_server = \"{}\"\ngit_server = \"{}\"\n",
        d.emulator.url,
        host.url()
    ));
    let apply = run_profile(&d, &["apply", "--yes", "--push"], &[]);
    apply.code(1).stderr_has(&elsewhere.url());
    assert!(!elsewhere.received_key(), "{:?}", elsewhere.seen());
}

#[test]
fn a_rewrite_to_another_origin_gets_no_key() {
    let elsewhere = Hostile::start(|_| unauthorized());
    let d = Deploy::new(&[]);
    let config = d.home().join("gitconfig");
    std::fs::write(
        &config,
        format!(
            "[url \"{}/\"]\n\tinsteadOf = {}/\n",
            elsewhere.url(),
            d.emulator.url
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let env = [("GIT_CONFIG_GLOBAL", config.as_str())];
    // The algorithm does not exist yet, so its repository is not read and the plan succeeds;
    // the apply's push is refused.
    d.run_with(&["plan"], &env).code(0);
    let apply = d.run_with(&["apply", "--yes", "--push"], &env);
    apply
        .code(1)
        .stderr_has(&elsewhere.url())
        .stderr_has("insteadOf");
    assert!(!elsewhere.received_key(), "{:?}", elsewhere.seen());

    // pushInsteadOf, and plain http to a host that is not loopback, are refused before git runs.
    std::fs::write(
        &config,
        format!(
            "[url \"http://example.invalid/\"]\n\tpushInsteadOf = {}/\n",
            d.emulator.url
        ),
    )
    .unwrap();
    let apply = d.run_with(&["apply", "--yes", "--push"], &env);
    apply
        .code(1)
        .stderr_has("plain http")
        .stderr_has("http://example.invalid/");
}

#[test]
fn server_text_that_repeats_the_key_is_redacted() {
    for shape in 0..4 {
        let api = Hostile::start(move |seen| {
            let auth = seen
                .headers
                .get("authorization")
                .cloned()
                .unwrap_or_default();
            let message = format!("denied: {auth} \u{1b}[31mred\u{1b}[0m\u{7}");
            match shape {
                0 => json_answer(
                    400,
                    serde_json::json!({"error": {"code": 2015, "message": message}}),
                ),
                1 => json_answer(400, serde_json::json!({"error": message})),
                2 => json_answer(400, serde_json::json!({"message": message})),
                _ => (502, vec![], message.into_bytes()),
            }
        });
        let d = Deploy::new(&[]);
        // A key that is not key-shaped is still redacted: the exact key is known.
        for key in [KEY, "plainSecretValue"] {
            let out = d.run_with(
                &["plan", "--api", &api.url()],
                &[("ALGORITHMIA_API_KEY", key)],
            );
            assert_eq!(out.exit_code(), 1, "{}", out.snapshot());
            assert!(
                !out.stderr.contains(key) && !out.stdout.contains(key),
                "shape {shape}: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains('\u{1b}') && !out.stderr.contains('\u{7}'),
                "{}",
                out.stderr
            );
            assert!(out.stderr.contains("denied"), "{}", out.stderr);
        }
    }
}

#[test]
fn a_committed_lock_symlink_or_linked_state_folder_writes_nothing() {
    let d = Deploy::new(&[]);
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir_all(d.repo.dir.path().join(".algodeploy")).unwrap();
    std::os::unix::fs::symlink(&victim, d.repo.dir.path().join(".algodeploy/lock")).unwrap();
    d.repo.commit("a hostile lock");
    let out = d.run(&["apply"]);
    out.code(1).stderr_has("symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(d.writes().is_empty());

    let d = Deploy::new(&[]);
    let folder = outside.path().join("state");
    std::fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink(&folder, d.repo.dir.path().join(".algodeploy")).unwrap();
    d.repo.commit("a hostile state folder");
    let out = d.run(&["apply", "--yes", "--push"]);
    out.code(1).stderr_has("symbolic link");
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        0,
        "files were written through the link"
    );
    assert!(d.writes().is_empty());
    let plan = d.run(&["plan"]);
    plan.code(1).stderr_has("symbolic link");
}

#[test]
fn a_fifo_state_file_is_refused_at_once() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    let state = d.repo.dir.path().join(".algodeploy/state.json");
    std::fs::remove_file(&state).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&state)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let out = d.run(&["plan", "--timeout", "20s"]);
    out.code(1).stderr_has("not a regular file");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn summary_file_must_be_tracked_content_outside_git() {
    let d = Deploy::new(&[]);
    // `.git/config` as actions/checkout leaves it: an Authorization header in it.
    d.repo.git(&[
        "config",
        "http.https://github.com/.extraheader",
        "AUTHORIZATION: basic c2VjcmV0",
    ]);
    d.edit(
        "  summary: |\n    # Hello World\n\n    Returns a greeting for the name it is given:\n    `\"Ada\"` gives `\"Hello, Ada!\"`.\n",
        "  summary_file: .git/config\n",
    );
    d.repo.commit("summary from .git");
    for args in [
        &["validate"][..],
        &["plan"][..],
        &["apply", "--yes", "--push"][..],
    ] {
        let out = d.run(args);
        out.code(3).stderr_has("summary-file").stderr_has(".git/");
        assert!(!out.stderr.contains("extraheader") && !out.stdout.contains("extraheader"));
    }
    // An ignored file (`.env`) and an untracked one.
    d.repo.write(".gitignore", ".env\n");
    d.repo.write(".env", "TOKEN=hunter2\n");
    d.edit("summary_file: .git/config", "summary_file: .env");
    d.repo.commit("summary from .env");
    for args in [&["validate"][..], &["plan"][..]] {
        let out = d.run(args);
        out.code(3).stderr_has("not tracked by git (ignored)");
        assert!(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"));
    }
    d.repo.write("NOTES.md", "not committed\n");
    d.edit("summary_file: .env", "summary_file: NOTES.md");
    d.repo.commit("summary from an untracked file");
    d.repo.git(&["rm", "-q", "--cached", "NOTES.md"]);
    d.repo.git(&[
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "untrack",
    ]);
    let out = d.run(&["plan"]);
    out.code(3).stderr_has("not tracked by git (untracked)");
    assert!(d.writes().is_empty());
    // A tracked file edited but not committed: HEAD's text is what is planned.
    d.repo.write("NOTES.md", "committed text\n");
    d.repo.commit("track it");
    d.repo.write("NOTES.md", "work tree text\n");
    let out = d.run(&["plan", "--allow-dirty"]);
    out.code(0).stdout_has("committed text");
    assert!(!out.stdout.contains("work tree text"), "{}", out.stdout);
}

/// A minimal API whose algorithm exists and whose versions are `versions` (a function of the
/// marker asked for).
fn api_with_versions(
    versions: impl Fn(Option<&str>) -> serde_json::Value + Send + Sync + 'static,
) -> Hostile {
    Hostile::start(move |seen| {
        let path = seen.path.split('?').next().unwrap_or("");
        let marker = seen
            .path
            .split_once("marker=")
            .map(|(_, m)| m.split('&').next().unwrap_or(""));
        match path {
            "/v1/algorithms/demo/hello_world" => json_answer(
                200,
                serde_json::json!({"id": "a", "name": "hello_world", "details": {"label": "Hello"}, "settings": {"license": "mit", "source_visibility": "open", "network_access": "isolated", "pipeline_enabled": false, "package_set": "python38"}}),
            ),
            "/v1/algorithms/demo/hello_world/versions" => json_answer(200, versions(marker)),
            _ => json_answer(
                404,
                serde_json::json!({"error": {"code": 1000, "message": "no"}}),
            ),
        }
    })
}

#[test]
fn a_server_value_that_is_not_a_hash_is_a_clear_error_not_a_panic() {
    let api = api_with_versions(
        |_| serde_json::json!({"marker": null, "results": [{"version_info": {"semantic_version": "1.0.0", "git_hash": "éééééééééé"}, "settings": {}}]}),
    );
    let d = Deploy::new(&[]);
    let out = d.run_with(
        &["import", "demo/hello_world", "--api", &api.url()],
        &[("ALGORITHMIA_API_KEY", KEY)],
    );
    out.code(1).stderr_has("git_hash");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn paging_that_never_ends_fails_loudly() {
    let api = api_with_versions(|_| serde_json::json!({"marker": "again", "results": []}));
    let d = Deploy::new(&[]);
    let out = d.run_with(
        &["import", "demo/hello_world", "--api", &api.url()],
        &[("ALGORITHMIA_API_KEY", KEY)],
    );
    out.code(1).stderr_has("repeats a marker");
    // Pages that add up past the cap.
    let big = "x".repeat(7 * 1024 * 1024);
    let api = api_with_versions(move |marker| {
        let next = format!(
            "m{}",
            marker.map_or(0, |m| m.trim_start_matches('m').parse::<u32>().unwrap_or(0)) + 1
        );
        serde_json::json!({"marker": next, "results": [], "padding": big})
    });
    let out = d.run_with(
        &["import", "demo/hello_world", "--api", &api.url()],
        &[("ALGORITHMIA_API_KEY", KEY)],
    );
    out.code(1).stderr_has("MiB");
}

/// The emulator's process: peak resident memory in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn emulator_pid(emulator: &Emulator) -> u32 {
    emulator.child.as_ref().expect("a running emulator").id()
}

#[test]
fn large_git_bodies_are_streamed_not_buffered() {
    let emulator = Emulator::start(&[]);
    emulator.create("big");
    let pid = emulator_pid(&emulator);
    let url = format!("{}/git/demo/big.git/git-upload-pack", emulator.url);
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let size = 200 * 1024 * 1024;
                let body = reqwest::blocking::Body::sized(std::io::repeat(b'0').take(size), size);
                let _ = crate::harness::http()
                    .post(&url)
                    .basic_auth("demo", Some(READ_KEY))
                    .header("content-type", "application/x-git-upload-pack-request")
                    .body(body)
                    .timeout(Duration::from_secs(60))
                    .send();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let peak = peak_rss_kib(pid);
    assert!(
        peak < 150 * 1024,
        "peak RSS {peak} KiB for 600 MB of git bodies"
    );
    let (status, _) = emulator.call("GET", "/_emulator/health", None, None);
    assert_eq!(status, 200);
}

/// `count` slow clients holding git processes: the headers of an upload-pack body that never
/// comes.
fn hold_git_slots(emulator: &Emulator, name: &str, key: &str, count: usize) -> Vec<TcpStream> {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("demo:{key}"));
    (0..count)
        .map(|_| {
            let mut s = TcpStream::connect(emulator.host()).unwrap();
            write!(
                s,
                "POST /git/demo/{name}.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000000\r\n\r\n"
            )
            .unwrap();
            s
        })
        .collect()
}

/// The status of a read of `name`'s refs.
fn refs_status(emulator: &Emulator, name: &str) -> reqwest::blocking::Response {
    crate::harness::http()
        .get(format!(
            "{}/git/demo/{name}.git/info/refs?service=git-upload-pack",
            emulator.url
        ))
        .basic_auth("demo", Some(KEY))
        .send()
        .unwrap()
}

#[test]
fn git_requests_past_the_cap_get_503_with_retry_after() {
    let emulator = Emulator::start(&[]);
    emulator.create("held");
    let held = hold_git_slots(&emulator, "held", KEY, 8);
    std::thread::sleep(Duration::from_millis(500));
    let response = refs_status(&emulator, "held");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    drop(held);
    // Slots come back when the clients go.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = crate::harness::http()
            .get(format!(
                "{}/git/demo/held.git/info/refs?service=git-upload-pack",
                emulator.url
            ))
            .basic_auth("demo", Some(KEY))
            .send()
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slots were not released: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Processes whose parent is `pid` and whose command line starts with `git`.
fn git_children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == pid && cmdline.starts_with(b"git") {
            found.push(child);
        }
    }
    found
}

#[test]
fn a_killed_emulator_leaves_no_git_process_behind_and_converges_after_a_push() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let mut emulator = Emulator::with_data_dir(&dir, &[]);
    emulator.create("spin");
    let pid = emulator_pid(&emulator);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("demo:{KEY}"));
    let mut client = TcpStream::connect(emulator.host()).unwrap();
    write!(
        client,
        "POST /git/demo/spin.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000000\r\n\r\n0000"
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let children = loop {
        let children = git_children(pid);
        if !children.is_empty() || Instant::now() > deadline {
            break children;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!children.is_empty(), "git http-backend did not start");
    emulator.kill();
    drop(client);
    std::thread::sleep(Duration::from_millis(500));
    for child in children {
        assert!(
            !std::path::Path::new(&format!("/proc/{child}")).exists()
                || std::fs::read_to_string(format!("/proc/{child}/stat"))
                    .is_ok_and(|s| s.contains(") Z")),
            "git process {child} outlived the emulator"
        );
    }

    // A push that landed in the repository while no build could start (the emulator killed
    // between the two): after a restart, the head gets its build.
    emulator.restart();
    let repo = Repo::python("spin");
    let bare = dir.join("repos/demo/spin.git");
    repo.git(&[
        "push",
        "-q",
        "--force",
        bare.to_str().unwrap(),
        "HEAD:master",
    ]);
    emulator.stop();
    emulator.restart();
    let head = repo.head();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/spin/builds", Some(KEY), None);
        let done = builds["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["commit_sha"] == head && b["status"] == "succeeded");
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no build of the pushed head: {builds}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn descriptor_exhaustion_does_not_spin_the_accept_loop() {
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("prlimit")
        .args(["--nofile=48", "--"])
        .arg(crate::harness::BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--key",
            &format!("demo={KEY}"),
            "--data-dir",
        ])
        .arg(data.path().join("d"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_string();
    let held: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = stat.rsplit_once(')').unwrap().1.to_string();
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu(child.id()) - before;
    // Clock ticks (100 a second): a spinning loop uses about 100.
    assert!(
        used < 30,
        "the emulator used {used} ticks of CPU in a second while out of descriptors"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = crate::harness::http()
            .get(format!("http://{addr}/_emulator/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "health did not answer after the clients left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn paging_markers_past_i64_and_hosts_with_odd_characters_are_refused() {
    let emulator = Emulator::start(&[]);
    emulator.create("paged");
    let marker = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::json!({"offset": 9_223_372_036_854_775_808u64}).to_string());
    let (status, body) = emulator.call(
        "GET",
        &format!("/v1/algorithms/demo/paged/builds?marker={marker}"),
        Some(KEY),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 5002);
    let repo = Repo::python("paged");
    assert!(repo.push(&emulator, "demo", KEY, "paged").status.success());
    let (status, _) = emulator.call("POST", "/v1/algorithms/demo/paged/compile", Some(KEY), None);
    assert_eq!(status, 200);
    let response = crate::harness::http()
        .get(format!(
            "{}/v1/algorithms/demo/paged/builds?limit=1",
            emulator.url
        ))
        .header("Authorization", format!("Simple {KEY}"))
        .header("Host", "evil.example\"><script>")
        .send()
        .unwrap();
    let text = response.text().unwrap();
    assert!(
        text.contains("next_link") && !text.contains("evil.example"),
        "{text}"
    );
}

#[test]
fn one_key_for_two_owners_is_refused_at_start() {
    let out = std::process::Command::new(crate::harness::BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--key",
            &format!("demo={KEY}"),
            "--key",
            &format!("other={KEY}"),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("two owners") && !stderr.contains(KEY),
        "{stderr}"
    );
}

#[test]
fn a_committed_manifest_symlink_is_refused_without_printing_its_target() {
    let d = Deploy::new(&[]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), format!("token: {KEY}\n")).unwrap();
    std::fs::remove_file(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        d.repo.dir.path().join("algorithm.yaml"),
    )
    .unwrap();
    d.repo.commit("a hostile manifest link");
    for args in [&["validate"][..], &["plan"][..]] {
        let out = d.run(args);
        out.code(3).stderr_has("symbolic link");
        assert!(
            !out.stderr.contains(KEY) && !out.stdout.contains("token"),
            "{}",
            out.stderr
        );
    }
    std::fs::remove_file(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    std::os::unix::fs::symlink(
        "/proc/self/environ",
        d.repo.dir.path().join("algorithm.yaml"),
    )
    .unwrap();
    let out = d.run(&["validate"]);
    out.code(3);
    assert!(
        !out.stderr.contains(KEY) && !out.stderr.contains("PATH="),
        "{}",
        out.stderr
    );
}

#[test]
fn a_summary_file_through_a_link_in_head_is_refused() {
    let d = Deploy::new(&[]);
    d.repo.write("README.md", "readme\n");
    std::os::unix::fs::symlink("README.md", d.repo.dir.path().join("link.md")).unwrap();
    d.edit(
        "  summary: |\n    # Hello World\n\n    Returns a greeting for the name it is given:\n    `\"Ada\"` gives `\"Hello, Ada!\"`.\n",
        "  summary_file: link.md\n",
    );
    d.repo.commit("summary through a link");
    let out = d.run(&["plan"]);
    out.code(3).stderr_has("symbolic link in HEAD");
}

#[test]
fn the_git_host_serves_only_gits_endpoints_and_no_compressed_pushes() {
    let emulator = Emulator::start(&[]);
    emulator.create("paths");
    let client = crate::harness::http();
    let base = format!("{}/git/demo/paths.git", emulator.url);
    let status = |url: String, key: &str, post: bool, gzip: bool| {
        let mut request = if post {
            client.post(url)
        } else {
            client.get(url)
        };
        request = request.basic_auth("demo", Some(key));
        if gzip {
            request = request
                .header("content-encoding", "gzip")
                .header("content-type", "application/x-git-receive-pack-request")
                .body(vec![0u8; 64]);
        }
        request.send().unwrap().status().as_u16()
    };
    assert_eq!(
        status(
            format!("{base}/refs/heads/p/git-receive-pack"),
            KEY,
            true,
            false
        ),
        404
    );
    assert_eq!(status(format!("{base}/config"), KEY, false, false), 404);
    assert_eq!(
        status(
            format!("{base}/info/refs?service=git-receive-%70ack"),
            READ_KEY,
            false,
            false
        ),
        403
    );
    assert_eq!(
        status(
            format!("{base}/info/refs?service=git-upload-pack"),
            READ_KEY,
            false,
            false
        ),
        200
    );
    assert_eq!(
        status(format!("{base}/git-receive-pack"), KEY, true, true),
        415
    );
}

#[test]
fn readers_holding_every_read_slot_do_not_block_a_push() {
    let emulator = Emulator::start(&[]);
    emulator.create("slots");
    let held = hold_git_slots(&emulator, "slots", READ_KEY, 8);
    std::thread::sleep(Duration::from_millis(300));
    let read = refs_status(&emulator, "slots");
    assert_eq!(read.status().as_u16(), 503, "the read slots are all held");
    let repo = Repo::python("slots");
    let pushed = repo.push(&emulator, "demo", KEY, "slots");
    assert!(
        pushed.status.success(),
        "a push waits for no reader: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    drop(held);
}

#[test]
fn killed_pushes_leave_no_quarantine_after_a_restart_and_keys_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("d");
    let mut emulator = Emulator::with_data_dir(&dir, &[]);
    emulator.create("swept");
    emulator.stop();
    let objects = dir.join("repos/demo/swept.git/objects");
    std::fs::create_dir_all(objects.join("tmp_objdir-incoming-abc123")).unwrap();
    std::fs::write(
        objects.join("tmp_objdir-incoming-abc123/pack"),
        vec![0u8; 4096],
    )
    .unwrap();
    std::fs::write(objects.join("pack/tmp_pack_XYZ"), b"partial").unwrap();
    emulator.restart();
    assert!(!objects.join("tmp_objdir-incoming-abc123").exists());
    assert!(!objects.join("pack/tmp_pack_XYZ").exists());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("emulator.sqlite3")), 0o600);
}

#[test]
fn the_request_log_keeps_paths_short() {
    let emulator = Emulator::start(&[]);
    let long = "a".repeat(60_000);
    let _ = crate::harness::http()
        .get(format!("{}/v1/{long}", emulator.url))
        .send();
    let (_, log) = emulator.admin("GET", "/_emulator/requests", None);
    let longest = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().chars().count())
        .max()
        .unwrap();
    assert!(longest <= 257, "a logged path of {longest} characters");
}

#[test]
fn a_busy_git_host_is_retried_not_fatal() {
    // Every read slot is held: apply's first git read (of the algorithm it is about to create)
    // is answered 503 until they are released.
    let d = crate::harness::Deploy::new(&[]);
    d.emulator.create("held");
    let held = hold_git_slots(&d.emulator, "held", KEY, 8);
    std::thread::sleep(Duration::from_millis(300));
    let child = d
        .command(&["apply", "--yes", "--push"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(held);
    let out: crate::harness::Output = child.wait_with_output().unwrap().into();
    out.code(0);
    let busy = d
        .emulator
        .requests("/git/")
        .into_iter()
        .filter(|(_, _, status)| *status == 503)
        .count();
    assert!(busy >= 1, "apply never met a busy git host");
    assert_eq!(d.published(), ["1.0.0"]);
}

#[test]
fn keys_and_the_admin_token_come_from_private_files_not_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(
        &keys,
        format!("# the emulator's keys\ndemo={KEY}\nread-only demo={READ_KEY}\n\n"),
    )
    .unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "file-admin-token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let data = dir.path().join("data");
    let args: Vec<String> = [
        "emulator",
        "--listen",
        "127.0.0.1:0",
        "--key-file",
        keys.to_str().unwrap(),
        "--admin-token-file",
        token.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let emulator = Emulator::with_args(args);
    let pid = emulator.child.as_ref().unwrap().id();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        !cmdline.contains(KEY) && !cmdline.contains("file-admin-token"),
        "{cmdline}"
    );
    let (status, _) = emulator.create("from_file");
    assert!((200..300).contains(&status), "{status}");
    let (status, _) = emulator.call(
        "POST",
        "/v1/algorithms/demo",
        Some(READ_KEY),
        Some(crate::harness::create_body("nope")),
    );
    assert_eq!(status, 403, "a read-only key from the file may not create");
    let requests = crate::harness::http()
        .get(format!("{}/_emulator/requests", emulator.url))
        .bearer_auth("file-admin-token")
        .send()
        .unwrap();
    assert_eq!(requests.status().as_u16(), 200);

    // A key file other users may read is refused, naming the fix.
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["emulator", "--listen", "127.0.0.1:0", "--key-file"])
        .arg(&keys)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
}

type Tamper = fn(&mut serde_json::Value);

#[test]
fn an_edited_plan_file_is_refused_naming_what_differs() {
    let d = Deploy::new(&[]);
    let file = d.home().join("plan.json");
    let file_arg = file.display().to_string();
    d.run(&["plan", "--out", &file_arg]).code(0);
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let cases: [(&str, Tamper); 4] = [
        ("steps (request bodies", |plan| {
            plan["algorithms"][0]["steps"][0]["request"]["details"]["label"] =
                "Nobody reviewed this".into();
        }),
        ("declares demo/hello_world", |plan| {
            plan["algorithms"][0]["name"] = "someone_else".into();
            plan["algorithms"][0]["algorithm"] = "demo/someone_else".into();
        }),
        ("steps (request bodies", |plan| {
            let steps = plan["algorithms"][0]["steps"].as_array_mut().unwrap();
            let push = steps.iter_mut().find(|s| s["action"] == "push").unwrap();
            let commit = push["commit"].as_str().unwrap().to_string();
            push["commit"] = format!("+{commit}").into();
        }),
        ("summary counts", |plan| {
            plan["summary"]["publish"] = 0.into();
        }),
    ];
    for (expected, tamper) in cases {
        let mut plan = original.clone();
        tamper(&mut plan);
        std::fs::write(&file, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
        d.clear_log();
        d.run(&["apply", &file_arg, "--yes", "--push"])
            .code(4)
            .stderr_has(expected)
            .stderr_has("edited after it was made");
        assert!(d.writes().is_empty(), "{expected}: {:?}", d.writes());
        assert!(
            d.emulator.requests("/git/").is_empty(),
            "{expected}: git was run"
        );
    }
    // The file as made applies.
    std::fs::write(&file, serde_json::to_string_pretty(&original).unwrap()).unwrap();
    d.run(&["apply", &file_arg, "--yes", "--push"]).code(0);
    assert_eq!(d.published(), ["1.0.0"]);
}

/// No line of `text` can start a workflow command (but algodeploy's own `::error`
/// annotations), and no raw escape or invisible character is in it.
fn assert_inert(what: &str, text: &str) {
    for line in text.lines() {
        let trimmed = line.trim_start();
        assert!(
            !trimmed.starts_with("::") || trimmed.starts_with("::error title=algodeploy"),
            "{what}: a workflow command: {line:?}"
        );
    }
    assert!(
        !text
            .chars()
            .any(|c| c == '\u{1b}' || c == '\u{202e}' || c == '\u{200b}'),
        "{what}: a raw control or invisible character in {text:?}"
    );
}

#[test]
fn untrusted_text_is_inert_in_plans_errors_and_annotations() {
    let d = Deploy::new(&[]);
    d.run(&["apply", "--yes", "--push"]).code(0);
    // The live summary (the web UI, another tool) holds escapes and workflow commands.
    let hostile = "# Hello World\n\n::add-mask::create\n  ::stop-commands::tok\n\u{1b}[8mhidden\u{202e}txet\u{200b}\n";
    d.emulator.call(
        "PUT",
        "/v1/algorithms/demo/hello_world",
        Some(KEY),
        Some(serde_json::json!({"details": {"label": "Hello World", "summary": hostile}})),
    );
    let env = [("GITHUB_ACTIONS", "true")];
    for format in ["text", "markdown"] {
        let plan = d.run_with(&["plan", "--format", format], &env);
        plan.code(0);
        assert_inert(format, &plan.stdout);
        assert_inert(format, &plan.stderr);
        assert!(
            plan.stdout.contains("\\e[8mhidden\\u{202e}txet"),
            "{}",
            plan.stdout
        );
    }

    // A failing smoke test whose message and stack trace carry the same.
    d.repo.write(
        "src/hello_world.py",
        "def apply(input):\n    raise Exception('\\x1b[32msmoke test passed\\n::add-mask::x\\n\\u202eevil')\n",
    );
    d.edit("semantic_version: 1.0.0", "semantic_version: 1.0.1");
    d.repo.commit("hostile");
    let apply = d.run_with(&["apply", "--yes", "--push"], &env);
    // The algorithm's escapes are stripped, its workflow commands made visible and inert.
    apply
        .code(4)
        .stderr_has("smoke test passed")
        .stderr_has("\\::add-mask::x");
    assert_inert("apply", &apply.stdout);
    assert_inert("apply", &apply.stderr);
}

#[test]
fn connections_are_capped_per_client_address() {
    let emulator = Emulator::start(&[]);
    // One address opens more idle connections than its share.
    let held: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(emulator.host()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Its next one is closed at once rather than left waiting.
    let mut extra = TcpStream::connect(emulator.host()).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = [0u8; 16];
    let read = extra.read(&mut buffer);
    assert!(
        matches!(read, Ok(0))
            || read.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock
                && e.kind() != std::io::ErrorKind::TimedOut),
        "the extra connection was not closed"
    );
    // Another client address is served at once.
    let other = crate::harness::http_builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let status = other
        .get(format!("{}/_emulator/health", emulator.url))
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    let health: serde_json::Value = other
        .get(format!("{}/_emulator/health", emulator.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        health.get("pid").is_none(),
        "the health answer shows the pid: {health}"
    );
    drop(held);
}
