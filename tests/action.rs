//! The GitHub Action's scripts, run locally as the runner runs them: the install step against a
//! file server on 127.0.0.1 serving a release made from the real binary (and a tampered
//! checksum, and no release at all), the main step against the emulator, and the PR comment
//! against a GitHub API server on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_algodeploy");
const TARGET: &str = "x86_64-unknown-linux-musl";

/// `python3 -m http.server` on a free port, serving `dir`.
struct FileServer {
    child: Child,
    url: String,
}

impl FileServer {
    fn start(dir: &Path) -> FileServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("Serving HTTP"), "{line}");
        FileServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A release `version` for TARGET in `releases/`: the real binary, packed, and its checksum
/// (`tamper`: the checksum of something else).
fn release(releases: &Path, version: &str, tamper: bool) {
    let dir = releases.join(version);
    std::fs::create_dir_all(&dir).unwrap();
    let staging = tempfile::tempdir().unwrap();
    std::fs::copy(BIN, staging.path().join("algodeploy")).unwrap();
    let name = format!("algodeploy-{version}-{TARGET}.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(dir.join(&name))
        .arg("-C")
        .arg(staging.path())
        .arg("algodeploy")
        .status()
        .unwrap();
    assert!(status.success());
    let mut bytes = std::fs::read(dir.join(&name)).unwrap();
    if tamper {
        bytes.push(0);
    }
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        dir.join(format!("{name}.sha256")),
        format!("{hex}  {name}\n"),
    )
    .unwrap();
}

/// A `cargo` that only records how it was called and installs the real binary where `--root`
/// says: the fallback's decision is what is tested here, not a three-minute build.
fn recording_cargo(dir: &Path) -> PathBuf {
    let log = dir.join("cargo-calls");
    let script = format!(
        "#!/usr/bin/env bash\necho \"$*\" >> '{}'\nwhile [ $# -gt 0 ]; do if [ \"$1\" = --root ]; then root=$2; fi; shift; done\nmkdir -p \"$root/bin\" && cp '{BIN}' \"$root/bin/algodeploy\"\n",
        log.display()
    );
    let path = dir.join("cargo");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

struct Install {
    temp: tempfile::TempDir,
}

impl Install {
    fn new() -> Install {
        let install = Install {
            temp: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(install.temp.path().join("fakebin")).unwrap();
        recording_cargo(&install.temp.path().join("fakebin"));
        install
    }

    fn root(&self) -> PathBuf {
        self.temp.path().join("root")
    }

    fn run(&self, releases: &str, version: &str) -> std::process::Output {
        let path = format!(
            "{}:{}",
            self.temp.path().join("fakebin").display(),
            std::env::var("PATH").unwrap()
        );
        Command::new("bash")
            .arg(repo_root().join("action/install.sh"))
            .env("PATH", path)
            .env("ALGODEPLOY_ROOT", self.root())
            .env("ALGODEPLOY_VERSION", version)
            .env("ALGODEPLOY_RELEASES", releases)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("GITHUB_ACTION_PATH", repo_root())
            .env("GITHUB_PATH", self.temp.path().join("github-path"))
            .output()
            .unwrap()
    }

    fn cargo_calls(&self) -> String {
        std::fs::read_to_string(self.temp.path().join("fakebin/cargo-calls")).unwrap_or_default()
    }

    fn github_path(&self) -> String {
        std::fs::read_to_string(self.temp.path().join("github-path")).unwrap_or_default()
    }
}

fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_action_installs_a_verified_release_refuses_a_tampered_one_and_falls_back_to_source() {
    let served = tempfile::tempdir().unwrap();
    release(served.path(), "v9.9.9", false);
    release(served.path(), "v6.6.6", true);
    let server = FileServer::start(served.path());

    // A release for this runner: downloaded, checked, installed, on GITHUB_PATH; no build.
    let good = Install::new();
    let out = good.run(&server.url, "v9.9.9");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("algodeploy v9.9.9 for {TARGET}")),
        "{stdout}"
    );
    let installed = good.root().join("bin/algodeploy");
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(text(&version.stdout).starts_with("algodeploy "));
    assert_eq!(
        good.github_path().trim(),
        good.root().join("bin").display().to_string()
    );
    assert_eq!(good.cargo_calls(), "", "a release needs no build");
    // The next run is a cache hit: nothing is downloaded or built.
    let again = good.run("http://127.0.0.1:9/unreachable", "v9.9.9");
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("from the cache"));

    // A checksum that does not match: refused, nothing installed, and no fallback build.
    let tampered = Install::new();
    let out = tampered.run(&server.url, "v6.6.6");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(
        stderr.contains(&format!("algodeploy-v6.6.6-{TARGET}.tar.gz")),
        "{stderr}"
    );
    assert!(!tampered.root().join("bin/algodeploy").exists());
    assert_eq!(tampered.cargo_calls(), "");
    assert_eq!(tampered.github_path(), "");

    // No release for this version: a deploy-only build from the action's source.
    let missing = Install::new();
    let out = missing.run(&server.url, "v0.0.404");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("building from source"));
    assert_eq!(
        missing.cargo_calls().trim(),
        format!(
            "install --locked --no-default-features --path {} --root {}",
            repo_root().display(),
            missing.root().display()
        )
    );
    assert!(!missing.github_path().is_empty());
}

/// The outputs a step wrote to GITHUB_OUTPUT, as a map.
fn outputs(file: &Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run_step(deploy: &Deploy, temp: &Path, inputs: &[(&str, &str)]) -> std::process::Output {
    let output = temp.join("output");
    let _ = std::fs::remove_file(&output);
    // The environment algodeploy gets in the other tests (emulator, key, a HOME of its own).
    let base = deploy.command(&[]);
    let env = base
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())));
    Command::new("bash")
        .arg(repo_root().join("action/run.sh"))
        .current_dir(deploy.repo.dir.path())
        .env_clear()
        .envs(env)
        .env("ALGODEPLOY", BIN)
        .env("RUNNER_TEMP", temp)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", temp.join("summary.md"))
        .envs(inputs.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_action_validates_plans_once_and_applies_with_outputs_and_a_summary() {
    let deploy = Deploy::new(&[]);
    let temp = tempfile::tempdir().unwrap();

    let out = run_step(&deploy, temp.path(), &[("INPUT_COMMAND", "validate")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(outputs(&temp.path().join("output"))["exit-code"], "0");

    // Plan: changes pending is a passing step with exit-code 2, the saved plan, its Markdown
    // (written once, by algodeploy), counts, and the same Markdown in the job's summary.
    let out = run_step(&deploy, temp.path(), &[("INPUT_COMMAND", "plan")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = outputs(&temp.path().join("output"));
    assert_eq!(got["exit-code"], "2");
    assert_eq!(got["create"], "1");
    assert!(got["changes"].parse::<u32>().unwrap() >= 3, "{got:?}");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(&got["plan-file"]).unwrap()).unwrap();
    assert_eq!(plan["summary"]["create"], 1);
    let markdown = std::fs::read_to_string(&got["markdown-file"]).unwrap();
    assert!(markdown.starts_with("### algodeploy plan"), "{markdown}");
    assert!(markdown.contains("demo/hello_world"), "{markdown}");
    let summary = std::fs::read_to_string(temp.path().join("summary.md")).unwrap();
    assert_eq!(summary, markdown);
    assert_eq!(
        deploy.writes(),
        Vec::<(String, String, u16)>::new(),
        "plan writes nothing"
    );

    // Apply: its summary says apply, with each algorithm's result.
    let out = run_step(
        &deploy,
        temp.path(),
        &[("INPUT_COMMAND", "apply"), ("INPUT_ARGS", "--push")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = outputs(&temp.path().join("output"));
    assert_eq!(got["exit-code"], "0");
    assert_eq!(got["publish"], "1");
    let markdown = std::fs::read_to_string(&got["markdown-file"]).unwrap();
    assert!(markdown.starts_with("### algodeploy apply"), "{markdown}");
    assert!(markdown.contains("### Results"), "{markdown}");
    assert!(!markdown.contains("### algodeploy plan"), "{markdown}");
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&got["plan-file"]).unwrap()).unwrap();
    assert_eq!(result["errors"], json!([]));
    assert_eq!(deploy.published(), vec!["1.0.0"]);

    // A command the action does not know: a usage error, nothing run.
    let out = run_step(&deploy, temp.path(), &[("INPUT_COMMAND", "destroy")]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stdout).contains("must be validate, plan or apply"));
}

/// One request the fake GitHub saw: method, path, Authorization, body.
type Seen = (String, String, String, String);

/// A GitHub API on 127.0.0.1: the issue-comments endpoints, recording every request.
struct GitHub {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl GitHub {
    fn start(comments: Vec<Value>, link_to: Option<String>) -> GitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut auth = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (name, value) = line.split_once(": ").unwrap_or((line, ""));
                    match name.to_ascii_lowercase().as_str() {
                        "authorization" => auth = value.to_string(),
                        "content-length" => length = value.parse().unwrap(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                log.lock().unwrap().push((
                    method.clone(),
                    path.clone(),
                    auth,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let (status, answer, link) = match method.as_str() {
                    "GET" => (
                        "200 OK",
                        Value::Array(comments.clone()).to_string(),
                        link_to.clone(),
                    ),
                    "POST" => ("201 Created", json!({"id": 77}).to_string(), None),
                    _ => ("200 OK", json!({"id": 5}).to_string(), None),
                };
                let link = link.map_or(String::new(), |l| format!("Link: <{l}>; rel=\"next\"\r\n"));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{link}Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        GitHub { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn comment(github: &GitHub, temp: &Path, event: &Value) -> std::process::Output {
    std::fs::write(temp.join("plan.md"), "### algodeploy plan\n\nno changes\n").unwrap();
    std::fs::write(temp.join("event.json"), event.to_string()).unwrap();
    Command::new("python3")
        .arg(repo_root().join("action/comment.py"))
        .arg(temp.join("plan.md"))
        .arg("2/3")
        .env("GITHUB_TOKEN", "ghs_secretTokenForTheTest")
        .env("GITHUB_API_URL", &github.url)
        .env("GITHUB_REPOSITORY", "acme/algorithms")
        .env("GITHUB_EVENT_PATH", temp.join("event.json"))
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap()
}

#[test]
fn the_plan_comment_is_posted_once_then_updated_and_the_token_stays_with_the_api() {
    let temp = tempfile::tempdir().unwrap();
    let event = json!({"pull_request": {"number": 12}});

    // No earlier comment: one POST, with the hidden marker and the token in the header only.
    let github = GitHub::start(vec![json!({"id": 3, "body": "a human's comment"})], None);
    let out = comment(&github, temp.path(), &event);
    assert_ok(&out);
    let seen = github.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].0, "GET");
    assert_eq!(
        seen[0].1,
        "/repos/acme/algorithms/issues/12/comments?per_page=100"
    );
    assert_eq!(seen[1].0, "POST");
    assert_eq!(seen[1].1, "/repos/acme/algorithms/issues/12/comments");
    assert_eq!(seen[1].2, "Bearer ghs_secretTokenForTheTest");
    let body: Value = serde_json::from_str(&seen[1].3).unwrap();
    let body = body["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- algodeploy-comment:2/3 -->\n### algodeploy plan"),
        "{body}"
    );
    assert!(
        !text(&out.stdout).contains("ghs_"),
        "the token is never printed"
    );

    // The marker's comment exists: it is updated, not duplicated. A Link header naming
    // another host is not followed (the token would go with it).
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let github = GitHub::start(
        vec![json!({"id": 5, "body": "<!-- algodeploy-comment:2/3 -->\nold plan"})],
        Some(format!("http://{}/steal", elsewhere.local_addr().unwrap())),
    );
    let out = comment(&github, temp.path(), &event);
    assert_ok(&out);
    let seen = github.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH"], "{seen:?}");
    assert_eq!(seen[1].1, "/repos/acme/algorithms/issues/comments/5");
    elsewhere.set_nonblocking(true).unwrap();
    assert!(
        elsewhere.accept().is_err(),
        "nothing connected to the other host"
    );

    // Not a pull request: nothing posted.
    let github = GitHub::start(vec![], None);
    let out = comment(&github, temp.path(), &json!({"push": {}}));
    assert!(out.status.success());
    assert!(github.seen().is_empty());
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What cannot run here (GitHub's runners) is checked as far as it can be: the workflows and
/// the action parse, every job and step has what GitHub requires, every input and output the
/// action names is wired to its scripts, the release builds every target the install step
/// downloads under the name it downloads, and the scripts parse.
#[test]
fn the_workflows_and_the_action_are_well_formed_and_agree_with_each_other() {
    for path in [".github/workflows/ci.yml", ".github/workflows/release.yml"] {
        let workflow = yaml(path);
        assert!(workflow.get("on").is_some(), "{path}: no `on`");
        let jobs = workflow["jobs"]
            .as_object()
            .unwrap_or_else(|| panic!("{path}: no jobs"));
        for (name, job) in jobs {
            assert!(
                job.get("runs-on").is_some(),
                "{path}: job {name} has no runs-on"
            );
            for step in job["steps"].as_array().unwrap() {
                let kinds = ["uses", "run"]
                    .iter()
                    .filter(|k| step.get(**k).is_some())
                    .count();
                assert_eq!(
                    kinds, 1,
                    "{path}: job {name}: a step needs uses or run: {step}"
                );
            }
        }
    }

    let action = yaml("action.yml");
    let action_text = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    let run_sh = std::fs::read_to_string(repo_root().join("action/run.sh")).unwrap();
    let install_sh = std::fs::read_to_string(repo_root().join("action/install.sh")).unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_object().unwrap();
    for (i, _) in action_text.match_indices("inputs.") {
        let name: String = action_text[i + 7..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        assert!(
            inputs.contains_key(&name),
            "action.yml uses inputs.{name}, not declared"
        );
    }
    for step in action["runs"]["steps"].as_array().unwrap() {
        if step.get("run").is_some() {
            assert_eq!(step["shell"], "bash", "{step}");
        }
    }
    let run_step = action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "run")
        .unwrap();
    for (i, _) in run_sh.match_indices("INPUT_") {
        let name: String = run_sh[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        assert!(
            run_step["env"].get(&name).is_some(),
            "run.sh reads {name}, the action never sets it"
        );
    }
    for (name, output) in action["outputs"].as_object().unwrap() {
        assert_eq!(
            output["value"],
            format!("${{{{ steps.run.outputs.{name} }}}}")
        );
        // `echo "NAME=…"` in bash, or a count's key in the Python that prints `key=value`.
        let written = run_sh.contains(&format!("echo \"{name}="))
            || run_sh.contains(&format!("{name}={{"))
            || run_sh.contains(&format!("\"{name}\","))
            || run_sh.contains(&format!("\"{name}\"]"));
        assert!(written, "output {name} is never written by run.sh");
    }

    // The release publishes what the install step downloads.
    let release = yaml(".github/workflows/release.yml");
    let built: Vec<&str> = release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    for target in install_sh
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("target="))
    {
        if !target.is_empty() && target != "\"\"" {
            assert!(
                built.contains(&target),
                "install.sh downloads {target}, the release never builds it"
            );
        }
    }
    let release_text =
        std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    assert!(release_text.contains("name=\"algodeploy-$TAG-$TARGET.tar.gz\""));
    assert!(release_text.contains("\"$name.sha256\""));
    assert!(install_sh.contains("name=\"algodeploy-$version-$target.tar.gz\""));
    assert!(install_sh.contains("$name.sha256"));

    for script in [
        "action/install.sh",
        "action/run.sh",
        "action/source-id.sh",
        ".ci/run",
        ".ci/test",
    ] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(repo_root().join(script))
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
    }
    let out = Command::new("python3")
        .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(repo_root().join("action/comment.py"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
