//! Algorithms are sandboxed (bubblewrap): an attacker algorithm probes for the emulator's
//! database and keys, other builds, the emulator's processes and command line, writes into its
//! own build, kills its parent, and leaves a `setsid` child behind a timeout. CI installs
//! bubblewrap; without it the emulator must say so, which the last test checks.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Emulator, KEY};
use crate::runtime::{built, call};

const PROBE: &str = r#"import json, os

def apply(input):
    d = input if isinstance(input, dict) else json.loads(input)
    out = {}
    def attempt(name, f):
        try:
            out[name] = f()
        except Exception as e:
            out[name] = "denied: " + type(e).__name__
    attempt("database", lambda: len(open(d["database"], "rb").read()))
    attempt("data_dir", lambda: os.listdir(d["data"]))
    attempt("other_build", lambda: os.listdir(d["other_build"]))
    attempt("emulator_cmdline", lambda: open("/proc/%d/cmdline" % d["pid"], "rb").read().decode("utf-8", "replace"))
    attempt("pids", lambda: len([p for p in os.listdir("/proc") if p.isdigit()]))
    attempt("write_own_build", lambda: open(os.path.join(os.getcwd(), "pwned"), "w").write("x"))
    attempt("capabilities", lambda: [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1])
    return out
"#;

fn sandboxed(emulator: &Emulator) -> bool {
    let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/probe/builds", Some(KEY), None);
    let id = builds["results"][0]["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, log) = emulator.call(
        "GET",
        &format!("/v1/algorithms/demo/probe/builds/{id}/logs"),
        Some(KEY),
        None,
    );
    log["logs"]
        .as_str()
        .unwrap()
        .contains("algorithms run in a bubblewrap sandbox")
}

#[test]
fn an_attacker_algorithm_sees_nothing_of_the_emulator_or_other_builds() {
    let data = tempfile::tempdir().unwrap();
    let emulator = Emulator::with_data_dir(data.path(), &[]);
    let other = built(
        &emulator,
        "victim",
        "def apply(input):\n    return 'secret'\n",
        "full",
    );
    let probe = built(&emulator, "probe", PROBE, "full");
    assert!(
        sandboxed(&emulator),
        "bubblewrap is not working here (CI installs it)"
    );
    let data_dir = data.path().canonicalize().unwrap();
    let (_, victim) = emulator.call("GET", "/v1/algorithms/demo/victim", Some(KEY), None);
    let victim_id = victim["id"].as_str().unwrap();
    let pid = emulator.child.as_ref().unwrap().id();
    let input = json!({
        "database": data_dir.join("emulator.sqlite3"),
        "data": data_dir,
        "other_build": data_dir.join("builds").join(victim_id).join(&other),
        "pid": pid,
    });
    let (status, answer) = call(
        &emulator,
        &format!("/v1/algo/demo/probe/{probe}"),
        KEY,
        "application/json",
        input.to_string().into_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let result = &answer["result"];
    // The data folder is only the skeleton of the mounts (its own build, the worker script).
    let mut seen: Vec<&str> = result["data_dir"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    seen.sort_unstable();
    assert_eq!(seen, ["builds", "worker.py"], "{answer}");
    for denied in [
        "database",
        "other_build",
        "emulator_cmdline",
        "write_own_build",
    ] {
        assert!(
            result[denied]
                .as_str()
                .is_some_and(|s| s.starts_with("denied")),
            "{denied}: {answer}"
        );
    }
    // Its own PID namespace: bubblewrap and the worker, nothing else.
    assert!(result["pids"].as_u64().unwrap() <= 3, "{result}");
    assert_eq!(result["capabilities"], "0000000000000000", "{result}");
}

#[test]
fn killing_its_parent_and_leaving_a_setsid_child_harm_nobody() {
    let emulator = Emulator::start(&[]);
    let killer = built(
        &emulator,
        "killer",
        "import os\n\ndef apply(input):\n    os.kill(os.getppid(), 9)\n    os.kill(1, 9)\n    return 'still here'\n",
        "full",
    );
    let lingerer = built(
        &emulator,
        "lingerer",
        "import subprocess, time\n\ndef apply(input):\n    subprocess.Popen(['sleep', '31337'], start_new_session=True)\n    time.sleep(60)\n",
        "full",
    );
    let (status, _) = call(
        &emulator,
        &format!("/v1/algo/demo/killer/{killer}"),
        KEY,
        "text/plain",
        b"x".to_vec(),
    );
    assert_eq!(status, 200);
    let (status, _) = emulator.call("GET", "/_emulator/health", None, None);
    assert_eq!(status, 200, "the emulator died with its algorithm's parent");
    let (status, answer) = call(
        &emulator,
        &format!("/v1/algo/demo/lingerer/{lingerer}?timeout=2"),
        KEY,
        "text/plain",
        b"x".to_vec(),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["error"]["error_type"], "TimeoutError", "{answer}");
    std::thread::sleep(Duration::from_millis(500));
    let survivors: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("sleep 31337"))
        .collect();
    assert!(survivors.is_empty(), "outlived the call: {survivors:?}");
}

/// The emulator's start-up lines (stderr) on a PATH without bubblewrap.
fn start_without_bwrap(keys: &[&str]) -> String {
    use std::io::BufRead;
    let bin = tempfile::tempdir().unwrap();
    for program in ["git", "python3", "unshare", "true"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
        std::os::unix::fs::symlink(path, bin.path().join(program)).unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(crate::harness::BIN);
    command
        .args(["emulator", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("PATH", bin.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for key in keys {
        command.args(["--key", key]);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn without_bubblewrap_the_emulator_says_so_and_runs_code_for_one_owner_only() {
    let one = start_without_bwrap(&[&format!("demo={KEY}")]);
    assert!(
        one.contains("WITHOUT a sandbox") && one.contains("single owner"),
        "{one}"
    );
    let two = start_without_bwrap(&[
        &format!("demo={KEY}"),
        &format!("other={}", crate::harness::OTHER_KEY),
    ]);
    assert!(
        two.contains("algorithms do NOT run") && two.contains("apt-get install bubblewrap"),
        "{two}"
    );
}

/// Publish `name`'s newest build as a public 1.0.0.
fn publish_public(emulator: &Emulator, name: &str) {
    let (status, answer) = emulator.call(
        "POST",
        &format!("/v1/algorithms/demo/{name}/versions"),
        Some(KEY),
        Some(json!({"settings": {"algorithm_callability": "public"}, "version_info": {"version_type": "major"}})),
    );
    assert!((200..300).contains(&status), "{answer}");
}

#[test]
fn one_owners_calls_cannot_starve_anothers() {
    let emulator = Emulator::start(&[]);
    built(
        &emulator,
        "sleeper",
        "import time\n\ndef apply(input):\n    time.sleep(float(input))\n    return 'slept'\n",
        "full",
    );
    publish_public(&emulator, "sleeper");
    // Another owner fills every run slot with long void calls.
    for _ in 0..32 {
        let (status, _) = call(
            &emulator,
            "/v1/algo/demo/sleeper/1.0.0?output=void&timeout=60",
            crate::harness::OTHER_KEY,
            "application/json",
            b"30".to_vec(),
        );
        assert_eq!(status, 200);
    }
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let (status, answer) = call(
        &emulator,
        "/v1/algo/demo/sleeper/1.0.0?timeout=20",
        KEY,
        "application/json",
        b"0".to_vec(),
    );
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("slept")),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the owner waited {:?} behind another's calls",
        started.elapsed()
    );
}

#[test]
fn a_worker_that_died_while_idle_is_replaced_not_handed_out() {
    let emulator = Emulator::start(&[]);
    let hash = built(
        &emulator,
        "mortal",
        "import os, threading\n\ndef apply(input):\n    if input == 'die':\n        threading.Timer(0.2, lambda: os._exit(1)).start()\n    return 'alive'\n",
        "full",
    );
    let path = format!("/v1/algo/demo/mortal/{hash}");
    let (_, first) = call(&emulator, &path, KEY, "text/plain", b"die".to_vec());
    assert_eq!(first["result"], "alive", "{first}");
    std::thread::sleep(Duration::from_millis(800));
    let (_, second) = call(&emulator, &path, KEY, "text/plain", b"again".to_vec());
    assert_eq!(second["result"], "alive", "{second}");
}

#[test]
fn large_parallel_inputs_stay_within_a_memory_budget() {
    let emulator = Emulator::start(&[]);
    let hash = built(
        &emulator,
        "measure",
        "def apply(input):\n    return len(input)\n",
        "full",
    );
    let path = format!("/v1/algo/demo/measure/{hash}");
    let body = format!("\"{}\"", "x".repeat(16 * 1024 * 1024 - 16));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (url, body) = (format!("{}{path}", emulator.url), body.clone());
            std::thread::spawn(move || {
                let response = crate::harness::http_builder()
                    .timeout(Duration::from_secs(120))
                    .build()
                    .unwrap()
                    .post(url)
                    .header("Authorization", format!("Simple {KEY}"))
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .unwrap();
                let value: serde_json::Value = response.json().unwrap();
                value["result"].as_u64()
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Some(16 * 1024 * 1024 - 16));
    }
    let pid = emulator.child.as_ref().unwrap().id();
    let peak_kib = crate::hardening::peak_rss_kib(pid);
    assert!(
        peak_kib < 400 * 1024,
        "peak RSS {} MiB for 8 parallel 16 MiB inputs",
        peak_kib / 1024
    );
}

/// `output=void` calls are answered at once but hold their input's share of the call memory
/// budget until they end: large ones past the budget are refused with a retry, not queued
/// (40 of them once took the emulator to 843 MB), and the budget comes back when they end.
#[test]
fn void_calls_cannot_pile_up_inputs() {
    let emulator = Emulator::start(&[]);
    let hash = built(
        &emulator,
        "sleeper",
        "import time\n\ndef apply(input):\n    time.sleep(3)\n    return len(input)\n",
        "full",
    );
    let body = format!("\"{}\"", "x".repeat(15 * 1024 * 1024));
    let client = crate::harness::http_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = format!("{}/v1/algo/demo/sleeper/{hash}?output=void", emulator.url);
    let statuses: Vec<(u16, String)> = (0..6)
        .map(|_| {
            let response = client
                .post(&url)
                .header("Authorization", format!("Simple {KEY}"))
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .unwrap();
            (response.status().as_u16(), response.text().unwrap())
        })
        .collect();
    let accepted = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert!(accepted >= 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .any(|(s, text)| *s == 503 && text.contains("output=void")),
        "six 15 MiB void calls at once all held memory: {statuses:?}"
    );
    // When they have ended, a void call is accepted again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .post(&url)
            .header("Authorization", format!("Simple {KEY}"))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the budget never came back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A push is compressed: a few hundred KiB can hold a file of 150 MiB of zeros. The build
/// reads object sizes before inflating anything and fails with a clear log line, and the
/// emulator's memory stays where it was.
#[test]
fn a_compressed_giant_file_fails_its_build_without_being_unpacked() {
    let emulator = Emulator::start(&[]);
    let (status, created) = emulator.call(
        "POST",
        "/v1/algorithms/demo",
        Some(KEY),
        Some(crate::harness::create_body("bomb")),
    );
    assert_eq!(status, 201, "{created}");
    let repo = crate::harness::Repo::python("bomb");
    std::fs::write(
        repo.dir.path().join("src/zeros.bin"),
        vec![0u8; 150 * 1024 * 1024],
    )
    .unwrap();
    let head = repo.commit("a big file");
    assert!(repo.push(&emulator, "demo", KEY, "bomb").status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let build = loop {
        let (_, builds) = emulator.call("GET", "/v1/algorithms/demo/bomb/builds", Some(KEY), None);
        let found = builds["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["commit_sha"] == head && b["status"] != "in-progress")
            .cloned();
        if let Some(build) = found {
            break build;
        }
        assert!(std::time::Instant::now() < deadline, "no build of {head}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(build["status"], "failed", "{build}");
    let (_, log) = emulator.call(
        "GET",
        &format!(
            "/v1/algorithms/demo/bomb/builds/{}/logs",
            build["build_id"].as_str().unwrap()
        ),
        Some(KEY),
        None,
    );
    let log = log["logs"].as_str().unwrap();
    assert!(
        log.contains("`src/zeros.bin` is 150 MiB; a build checks out files of at most 100 MiB"),
        "{log}"
    );
    let peak_kib = crate::hardening::peak_rss_kib(emulator.child.as_ref().unwrap().id());
    assert!(peak_kib < 120 * 1024, "peak RSS {} MiB", peak_kib / 1024);
}

/// An algorithm's `/tmp` is memory, so it is bounded (256 MiB) like its files: filling it ends
/// in an error inside the sandbox, not in the host's memory.
#[test]
fn an_algorithms_tmp_is_bounded() {
    let emulator = Emulator::start(&[]);
    let hash = built(
        &emulator,
        "filler",
        "def apply(input):\n    written = 0\n    chunk = b'x' * (16 << 20)\n    try:\n        for i in range(64):\n            with open(f'/tmp/fill{i}', 'wb') as f:\n                f.write(chunk)\n            written += 16\n    except OSError as e:\n        return [written, e.errno]\n    return [written, 0]\n",
        "full",
    );
    let (status, answer) = call(
        &emulator,
        &format!("/v1/algo/demo/filler/{hash}"),
        KEY,
        "text/plain",
        b"x".to_vec(),
    );
    assert_eq!(status, 200, "{answer}");
    let written = answer["result"][0].as_u64().unwrap();
    assert!(written <= 256, "{answer}");
    assert_eq!(answer["result"][1], 28, "ENOSPC expected: {answer}");
}

/// One key cannot hold the whole call-memory budget: four 16 MiB bodies announced by `other`
/// and never sent hold only `other`'s half, and `demo`'s calls go on (they waited about 30 s,
/// the body timeout, when the budget was one pool).
#[test]
fn one_owner_cannot_hold_the_whole_call_memory() {
    use std::io::Write;
    let emulator = Emulator::start(&[]);
    let hash = built(
        &emulator,
        "quick",
        "def apply(input):\n    return 'ok'\n",
        "full",
    );
    let held: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(emulator.host()).unwrap();
            write!(
                stream,
                "POST /v1/algo/other/anything/1.0.0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Simple {}\r\nContent-Type: application/json\r\nContent-Length: 16777216\r\n\r\n",
                emulator.host(),
                crate::harness::OTHER_KEY
            )
            .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let response = crate::harness::http_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .post(format!("{}/v1/algo/demo/quick/{hash}", emulator.url))
        .header("Authorization", format!("Simple {KEY}"))
        .header("Content-Type", "application/json")
        .body("\"x\"")
        .send()
        .expect("demo's call waited on other's held bodies");
    let answer: serde_json::Value = response.json().unwrap();
    assert_eq!(answer["result"], "ok", "{answer}");
    drop(held);
}

/// Deleting an algorithm removes its builds' files (and stops its warm workers): nothing of a
/// deleted algorithm stays on the shared machine.
#[test]
fn a_deleted_algorithms_builds_are_removed() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    let emulator = Emulator::with_data_dir(&dir, &[]);
    let hash = built(
        &emulator,
        "gone",
        "def apply(input):\n    return 'ok'\n",
        "full",
    );
    let (status, _) = call(
        &emulator,
        &format!("/v1/algo/demo/gone/{hash}"),
        KEY,
        "text/plain",
        b"x".to_vec(),
    );
    assert_eq!(status, 200);
    let (_, algorithm) = emulator.call("GET", "/v1/algorithms/demo/gone", Some(KEY), None);
    let builds = dir.join("builds").join(algorithm["id"].as_str().unwrap());
    assert!(builds.join(&hash).is_dir(), "{}", builds.display());
    let (status, _) = emulator.call("DELETE", "/v1/algorithms/demo/gone", Some(KEY), None);
    assert_eq!(status, 204);
    assert!(!builds.exists(), "{} is still there", builds.display());
}

#[test]
fn large_answers_pass_through_without_being_built() {
    let emulator = Emulator::start(&[]);
    let hash = built(
        &emulator,
        "big",
        "def apply(input):\n    return list(range(1200000))\n",
        "full",
    );
    let path = format!("/v1/algo/demo/big/{hash}");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{}{path}", emulator.url);
            std::thread::spawn(move || {
                let response = crate::harness::http_builder()
                    .timeout(Duration::from_secs(120))
                    .build()
                    .unwrap()
                    .post(url)
                    .header("Authorization", format!("Simple {KEY}"))
                    .header("Content-Type", "application/json")
                    .body("1")
                    .send()
                    .unwrap();
                let value: serde_json::Value = response.json().unwrap();
                value["result"].as_array().map(Vec::len)
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Some(1_200_000));
    }
    let peak_kib = crate::hardening::peak_rss_kib(emulator.child.as_ref().unwrap().id());
    assert!(
        peak_kib < 150 * 1024,
        "peak RSS {} MiB for four 8 MB answers",
        peak_kib / 1024
    );
}
