//! Real clusters: the emulator over HTTPS with a throwaway private CA, trust from the profile's
//! `ca_cert` or `SSL_CERT_FILE`, remotes through the user's own `git` (insteadOf, credential
//! helpers, http.proxy), the key never in a child's argv, `doctor`, and emulator keys that
//! survive a restart.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::{Deploy, Emulator, KEY, Pki, READ_KEY, http};

/// An algorithm repository and an emulator serving HTTPS with `pki`'s certificate.
fn https_deploy(pki: &Pki) -> Deploy {
    let flags = pki.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut d = Deploy::new(&flags);
    d.emulator.ca = Some(pki.ca.clone());
    assert!(
        d.emulator.url.starts_with("https://127.0.0.1:"),
        "{}",
        d.emulator.url
    );
    d
}

/// algodeploy in the repository with only what `env` gives (no ALGORITHMIA_* from the harness).
fn run_clean(d: &Deploy, args: &[&str], env: &[(&str, &str)]) -> crate::harness::Output {
    d.command(args)
        .env_remove("ALGORITHMIA_API")
        .env_remove("ALGORITHMIA_API_KEY")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into()
}

#[test]
fn create_push_build_publish_over_https_with_the_profiles_ca_cert() {
    let pki = Pki::new("profile");
    let d = https_deploy(&pki);
    d.profile(&format!(
        "[profiles.default]\napi_key = \"{KEY}\"\napi_server = \"{}\"\nca_cert = \"{}\"\n",
        d.emulator.url,
        pki.ca.display()
    ));
    let out = run_clean(&d, &["apply", "--yes", "--push"], &[]);
    out.code(0).stderr_has("published 1.0.0");
    assert_eq!(d.published(), ["1.0.0"]);
    let again = run_clean(&d, &["plan", "--detailed-exitcode"], &[]);
    again
        .code(0)
        .stdout_has("no changes: 1.0.0 is published from HEAD");
}

#[test]
fn create_push_build_publish_over_https_with_ssl_cert_file() {
    let pki = Pki::new("envfile");
    let d = https_deploy(&pki);
    let url = d.emulator.url.clone();
    let ca = pki.ca.display().to_string();
    let env = [
        ("ALGORITHMIA_API", url.as_str()),
        ("ALGORITHMIA_API_KEY", KEY),
        ("SSL_CERT_FILE", ca.as_str()),
    ];
    let out = run_clean(&d, &["apply", "--yes", "--push"], &env);
    out.code(0).stderr_has("published 1.0.0");
    assert_eq!(d.published(), ["1.0.0"]);
    run_clean(&d, &["plan", "--detailed-exitcode"], &env).code(0);
}

#[test]
fn an_untrusted_or_wrong_ca_fails_cleanly_and_creates_nothing() {
    let pki = Pki::new("right");
    let wrong = Pki::new("wrong");
    let d = https_deploy(&pki);
    let url = d.emulator.url.clone();
    let wrong_ca = wrong.ca.display().to_string();
    for env in [
        vec![
            ("ALGORITHMIA_API", url.as_str()),
            ("ALGORITHMIA_API_KEY", KEY),
        ],
        vec![
            ("ALGORITHMIA_API", url.as_str()),
            ("ALGORITHMIA_API_KEY", KEY),
            ("SSL_CERT_FILE", wrong_ca.as_str()),
        ],
    ] {
        for args in [&["plan"][..], &["apply", "--yes", "--push"][..]] {
            let out = run_clean(&d, args, &env);
            out.code(1)
                .stderr_has("certificate")
                .stderr_has("127.0.0.1")
                .stderr_has("ca_cert")
                .stderr_has("SSL_CERT_FILE");
            assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
            // One attempt, not a retry storm.
            assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
        }
    }
    let (status, _) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(status, 404, "nothing may be created");
}

#[test]
fn a_ca_file_that_holds_no_certificate_is_named() {
    let pki = Pki::new("named");
    let d = https_deploy(&pki);
    let bogus = d.home().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    d.profile(&format!(
        "[profiles.default]\napi_key = \"{KEY}\"\napi_server = \"{}\"\nca_cert = \"{}\"\n",
        d.emulator.url,
        bogus.display()
    ));
    let out = run_clean(&d, &["plan"], &[]);
    out.code(1).stderr_has("ca_cert").stderr_has("bogus.pem");
}

#[test]
fn a_default_table_without_profiles_is_not_silently_ignored() {
    let d = Deploy::new(&[]);
    d.profile(&format!(
        "[default]\napi_key = \"{KEY}\"\napi_server = \"{}\"\n",
        d.emulator.url
    ));
    let out = run_clean(&d, &["plan"], &[]);
    // The table is ignored (with a warning), so there is no key: exit 5, nothing sent.
    out.code(5)
        .stderr_has("warning:")
        .stderr_has("[profiles.default]");
    assert!(!out.stderr.contains(KEY));
}

/// A global git config for the user, written to a file of the test's own.
fn git_config(d: &Deploy, text: &str) -> String {
    let path = d.home().join("gitconfig");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn insteadof_is_honoured_by_plan_and_push_alike_with_the_users_helper() {
    // The configured git origin is 127.0.0.1; the user's rewrite sends it to localhost, which
    // algodeploy does not give the key to: the user's own helper answers for it.
    let d = Deploy::new(&[]);
    // An algorithm that exists, so that plan reads its remote (a new one needs no git read).
    d.emulator.create("hello_world");
    let port = d.emulator.port();
    let log = d.home().join("helper.log");
    let helper = d.home().join("helper.sh");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread_all=$(cat)\necho \"$1 $read_all\" | tr '\\n' ' ' >> '{}'\necho >> '{}'\nif [ \"$1\" = get ]; then echo username=demo; echo password={KEY}; fi\n",
            log.display(),
            log.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&helper)
        .status()
        .unwrap();
    let config = git_config(
        &d,
        &format!(
            "[url \"http://localhost:{port}/git/\"]\n\tinsteadOf = http://127.0.0.1:{port}/git/\n[credential \"http://localhost:{port}\"]\n\thelper = {}\n",
            helper.display()
        ),
    );
    let env = [("GIT_CONFIG_GLOBAL", config.as_str())];
    // The plan needs no git read (the newest build says where `master` is); the push does.
    d.run_with(&["plan"], &env).code(0);
    let apply = d.run_with(&["apply", "--yes", "--push"], &env);
    apply
        .code(0)
        .stderr_has("pushing")
        .stderr_has(&format!("http://localhost:{port}/git/demo/hello_world.git"))
        .stderr_has("insteadOf");
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(
        asked.contains(&format!("host=localhost:{port}")),
        "the push asked the user's helper: {asked}"
    );
    assert!(!asked.contains("127.0.0.1"), "{asked}");
    assert_eq!(
        d.emulator
            .call(
                "GET",
                "/v1/algorithms/demo/hello_world/versions?published=true",
                Some(KEY),
                None
            )
            .1["results"][0]["version_info"]["semantic_version"],
        "1.0.0"
    );
}

#[test]
fn a_users_store_helper_neither_breaks_the_push_nor_receives_the_key() {
    let d = Deploy::new(&[]);
    let store = d.home().join("git-credentials");
    let config = git_config(
        &d,
        &format!(
            "[credential]\n\thelper = store --file {}\n",
            store.display()
        ),
    );
    let out = d.run_with(
        &["apply", "--yes", "--push"],
        &[("GIT_CONFIG_GLOBAL", config.as_str())],
    );
    out.code(0).stderr_has("published 1.0.0");
    let stored = std::fs::read_to_string(&store).unwrap_or_default();
    assert!(!stored.contains(KEY), "the key was stored: {stored}");
}

/// A CONNECT proxy on 127.0.0.1 that counts the tunnels it carried (bounded: it stops with
/// the test process).
fn connect_proxy() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let counter = tunnels.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().take(200) {
            let Ok(mut client) = client else { continue };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let Some(target) = text
                    .strip_prefix("CONNECT ")
                    .and_then(|t| t.split_whitespace().next())
                else {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    return;
                };
                // Only to this machine.
                if !target.starts_with("127.0.0.1:") {
                    let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
                    return;
                }
                let Ok(upstream) = TcpStream::connect(target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
                let (mut a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let mut client2 = client;
                let mut upstream2 = upstream;
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut upstream2);
                    let _ = upstream2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut b, &mut client2);
                let _ = client2.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
            });
        }
    });
    (port, tunnels)
}

#[test]
fn git_goes_through_the_users_http_proxy() {
    let pki = Pki::new("proxy");
    let d = https_deploy(&pki);
    d.emulator.create("hello_world");
    let (proxy, tunnels) = connect_proxy();
    let config = git_config(&d, &format!("[http]\n\tproxy = http://127.0.0.1:{proxy}\n"));
    let ca = pki.ca.display().to_string();
    let env = [
        ("GIT_CONFIG_GLOBAL", config.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
    ];
    d.run_with(&["plan"], &env).code(0);
    d.run_with(&["apply", "--yes", "--push"], &env).code(0);
    assert!(
        tunnels.load(Ordering::SeqCst) >= 1,
        "the push did not go through the proxy"
    );
}

#[test]
fn the_key_is_in_no_childs_argv_or_environment_no_git_config_and_no_output() {
    let pki = Pki::new("argv");
    let d = https_deploy(&pki);
    let ca = pki.ca.display().to_string();
    let mut child = d
        .command(&["-vvv", "apply", "--yes", "--push"])
        .env("SSL_CERT_FILE", &ca)
        .env("RUST_LOG", "trace")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let mut samples = 0;
    let mut git_seen = false;
    let root = child.id();
    while child.try_wait().unwrap().is_none() {
        for pid in descendants(root) {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(
                !text.contains(KEY),
                "the key is in a process's argv: {text}"
            );
            // The key reaches algodeploy through its own environment; nothing it starts
            // inherits it. (A child between fork and exec is still algodeploy's own image, with
            // its command line: not a program that was given the key.)
            let own_image =
                std::fs::read(format!("/proc/{root}/cmdline")).is_ok_and(|own| own == cmdline);
            if pid != root
                && !own_image
                && let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ"))
            {
                assert!(
                    !String::from_utf8_lossy(&environ).contains(KEY),
                    "the key is in the environment of {text}"
                );
            }
            if text.starts_with("git ") && text.contains("credential") {
                git_seen = true;
            }
        }
        samples += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    let (stdout, stderr) = (out_thread.join().unwrap(), err_thread.join().unwrap());
    assert!(status.success(), "{stderr}");
    assert!(
        samples > 3 && git_seen,
        "sampled {samples} times, git seen: {git_seen}\n{stderr}"
    );
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
    let config = std::fs::read_to_string(d.repo.dir.path().join(".git/config")).unwrap();
    assert!(!config.contains(KEY), "{config}");
}

/// `root` and every process below it (git and its helpers run in process groups of their own,
/// so the parent links are followed rather than the group).
fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after the last `)`.
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a.to_string()) else {
            continue;
        };
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid) in &parents {
            if found.contains(ppid) && !found.contains(pid) {
                found.push(*pid);
                grew = true;
            }
        }
    }
    found
}

#[test]
fn doctor_is_green_over_https_with_the_profiles_ca() {
    let pki = Pki::new("doctor");
    let d = https_deploy(&pki);
    d.profile(&format!(
        "[profiles.default]\napi_key = \"{KEY}\"\napi_server = \"{}\"\nca_cert = \"{}\"\n",
        d.emulator.url,
        pki.ca.display()
    ));
    let out = run_clean(&d, &["doctor"], &[]);
    out.code(0)
        .stdout_has("api tls")
        .stdout_has("doctor emulator")
        .stdout_has("may manage demo's algorithms")
        .stdout_has("git program")
        .stdout_has("git read");
    assert!(
        !out.stdout.contains("FAIL") && !out.stdout.contains(KEY),
        "{}",
        out.stdout
    );
    let json = run_clean(&d, &["doctor", "--format", "json"], &[]);
    json.code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert!(value["checks"].as_array().unwrap().len() >= 8, "{value}");
}

#[test]
fn doctor_names_each_failure_class() {
    let pki = Pki::new("doctorfail");
    let d = https_deploy(&pki);
    let url = d.emulator.url.clone();
    let ca = pki.ca.display().to_string();
    // No CA: TLS fails, exit 1.
    let out = run_clean(
        &d,
        &["doctor"],
        &[("ALGORITHMIA_API", &url), ("ALGORITHMIA_API_KEY", KEY)],
    );
    out.code(1)
        .stdout_has("FAIL")
        .stdout_has("not trusted")
        .stdout_has("ca_cert");
    // A rejected key: exit 5.
    let bad = "simNotAKnownKey0000000000000";
    let out = run_clean(
        &d,
        &["doctor"],
        &[
            ("ALGORITHMIA_API", &url),
            ("ALGORITHMIA_API_KEY", bad),
            ("SSL_CERT_FILE", &ca),
        ],
    );
    out.code(5).stdout_has("rejected");
    assert!(!out.stdout.contains(bad) && !out.stderr.contains(bad));
    // A read-only key: exit 5, said so.
    let out = run_clean(
        &d,
        &["doctor"],
        &[
            ("ALGORITHMIA_API", &url),
            ("ALGORITHMIA_API_KEY", READ_KEY),
            ("SSL_CERT_FILE", &ca),
        ],
    );
    out.code(5).stdout_has("read-only");
    // The git host down: exit 1.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    d.profile(&format!(
        "[profiles.default]\napi_key = \"{KEY}\"\napi_server = \"{url}\"\ngit_server = \"https://127.0.0.1:{closed}\"\nca_cert = \"{ca}\"\n"
    ));
    let out = run_clean(&d, &["doctor"], &[]);
    out.code(1)
        .stdout_has("git host tcp")
        .stdout_has("cannot connect");
}

#[test]
fn emulator_keys_and_a_made_key_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("data");
    // Given keys persist.
    let mut emulator = Emulator::with_data_dir(&dir, &[]);
    emulator.stop();
    let mut bare = bare_emulator(&dir);
    let (status, _) = bare.call("GET", "/v1/users/demo/algorithms", Some(KEY), None);
    assert_eq!(
        status, 200,
        "a key given earlier is accepted after a restart without --key"
    );
    bare.stop();
    // A made key is printed again, not replaced.
    let other = data.path().join("other");
    let first = made_key(&other);
    let second = made_key(&other);
    assert_eq!(first, second, "the made key was replaced");
    let mut third = bare_emulator(&other);
    let (status, _) = third.call("GET", "/v1/users/demo/algorithms", Some(&first), None);
    assert_eq!(status, 200);
    third.stop();
}

/// An emulator on `dir` with no --key at all.
fn bare_emulator(dir: &std::path::Path) -> BareEmulator {
    use std::io::BufRead;
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    BareEmulator { child, url }
}

struct BareEmulator {
    child: std::process::Child,
    url: String,
}

impl BareEmulator {
    fn call(&self, method: &str, path: &str, key: Option<&str>, _body: Option<()>) -> (u16, ()) {
        let mut request = http().request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.header("Authorization", format!("Simple {key}"));
        }
        (request.send().unwrap().status().as_u16(), ())
    }

    /// SIGTERM, wait, and return stderr.
    fn stop(&mut self) -> String {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let mut text = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut text);
        text
    }
}

impl Drop for BareEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start and stop a bare emulator; the key it printed (made now or earlier).
fn made_key(dir: &std::path::Path) -> String {
    let stderr = bare_emulator(dir).stop();
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("export ALGORITHMIA_API_KEY="))
        .unwrap_or_else(|| panic!("no key printed: {stderr}"))
        .to_string()
}

#[test]
fn bad_or_mismatched_pem_files_are_named_before_listening() {
    let pki = Pki::new("pem");
    let other = Pki::new("other");
    let empty = pki.dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for (cert, key, named) in [
        (&empty, &pki.key, &empty),
        (&pki.cert, &empty, &empty),
        (&pki.cert, &other.key, &other.key),
    ] {
        let out = std::process::Command::new(crate::harness::BIN)
            .args(["emulator", "--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && !stdout.contains("listening"),
            "{stdout}{stderr}"
        );
        assert!(stderr.contains(&named.display().to_string()), "{stderr}");
    }
}

#[test]
fn plain_http_to_loopback_never_goes_through_a_proxy() {
    let (proxy, tunnels) = connect_proxy();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    // A plain-http proxy that would see every byte: it counts connections and answers 502.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().take(100).flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let d = Deploy::new(&[]);
    let config = git_config(&d, &format!("[http]\n\tproxy = http://127.0.0.1:{proxy}\n"));
    let via = format!("http://127.0.0.1:{plain}");
    let env = [
        ("GIT_CONFIG_GLOBAL", config.as_str()),
        ("http_proxy", via.as_str()),
        ("HTTP_PROXY", via.as_str()),
        ("ALL_PROXY", via.as_str()),
    ];
    d.run_with(&["apply", "--yes", "--push"], &env).code(0);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "the plain-http proxy saw traffic"
    );
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        0,
        "git's http.proxy saw traffic"
    );
}

#[test]
fn digits_in_a_name_or_port_are_not_mistaken_for_statuses() {
    let d = Deploy::new(&[]);
    d.edit("name: hello_world", "name: model403");
    std::fs::rename(
        d.repo.dir.path().join("src/hello_world.py"),
        d.repo.dir.path().join("src/model403.py"),
    )
    .unwrap();
    d.repo.commit("rename");
    d.run(&["apply", "--yes", "--push"])
        .code(0)
        .stderr_has("published 1.0.0");
}

#[test]
fn an_ipv6_loopback_git_origin_gets_the_key() {
    let data = tempfile::tempdir().unwrap();
    let emulator = Emulator::with_data_dir(&data.path().join("d"), &["--listen", "[::1]:0"]);
    assert!(
        emulator.url.starts_with("http://[::1]:"),
        "{}",
        emulator.url
    );
    let d = Deploy::new(&[]);
    let url = emulator.url.clone();
    let out = run_clean(
        &d,
        &["apply", "--yes", "--push"],
        &[("ALGORITHMIA_API", &url), ("ALGORITHMIA_API_KEY", KEY)],
    );
    out.code(0).stderr_has("published 1.0.0");
}

#[test]
fn git_never_prompts_through_askpass_and_redacts_traces() {
    let d = Deploy::new(&[]);
    let log = d.home().join("askpass.log");
    let askpass = d.home().join("askpass.sh");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\necho typed\n",
            log.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&askpass)
        .status()
        .unwrap();
    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in elsewhere.incoming().take(20).flatten() {
            let mut buffer = [0u8; 4096];
            let _ = s.read(&mut buffer);
            let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let config = git_config(
        &d,
        &format!(
            "[url \"http://127.0.0.1:{port}/\"]\n\tinsteadOf = {}/\n",
            d.emulator.url
        ),
    );
    let askpass = askpass.display().to_string();
    let out = d.run_with(
        &["apply", "--yes", "--push"],
        &[
            ("GIT_CONFIG_GLOBAL", config.as_str()),
            ("GIT_ASKPASS", askpass.as_str()),
            ("SSH_ASKPASS", askpass.as_str()),
        ],
    );
    out.code(1);
    assert!(
        !log.exists(),
        "askpass was asked: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // Trace output the user asked for, with git's redaction turned off: still no key.
    let d = Deploy::new(&[]);
    let out = d.run_with(
        &["apply", "--yes", "--push"],
        &[
            ("GIT_TRACE", "1"),
            ("GIT_TRACE_CURL", "1"),
            ("GIT_TRACE_REDACT", "0"),
        ],
    );
    out.code(0);
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("demo:{KEY}"))
    };
    assert!(!out.stderr.contains(KEY) && !out.stderr.contains(&basic));
}

#[test]
fn a_long_tmpdir_and_a_lingering_hook_do_not_break_the_push() {
    let d = Deploy::new(&[]);
    let long = d.home().join("a".repeat(60)).join("b".repeat(40));
    std::fs::create_dir_all(&long).unwrap();
    let hook = d.repo.dir.path().join(".git/hooks/pre-push");
    std::fs::write(&hook, "#!/bin/sh\nsleep 8 &\nexit 0\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    let tmpdir = long.display().to_string();
    d.run_with(
        &["apply", "--yes", "--push"],
        &[("TMPDIR", tmpdir.as_str())],
    )
    .code(0)
    .stderr_has("published 1.0.0");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(7),
        "the push waited for the hook's child"
    );
}
