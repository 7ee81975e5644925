//! The emulator's console, in a real headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromedriver`, which `.ci/run` installs), against an emulator with a real
//! deployment; and the same pages' access rules over plain HTTP.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

/// The label an attacker would choose: it must show as text, never run.
const HOSTILE_LABEL: &str = "<script>document.title='pwned'</script><b>Hello</b> & co";

/// A WebDriver session in a headless Chromium of its own.
struct Browser {
    driver: Child,
    url: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start() -> Browser {
        for program in ["chromium", "chromedriver"] {
            assert!(
                Command::new(program)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "the console test needs `{program}`: apt-get install chromium chromium-driver \
                 (.ci/run installs them)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let http = http_builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            url,
            session: String::new(),
            http,
            _profile: profile,
        };
        let created = browser.send(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                        "--window-size=1280,1000",
                        format!("--user-data-dir={}", browser._profile.path().display()),
                    ],
                },
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`, or a panic with the driver's error.
    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path.starts_with("/session") && !self.session.is_empty() {
            format!(
                "{}/session/{}{}",
                self.url,
                self.session,
                &path["/session".len()..]
            )
        } else {
            format!("{}{path}", self.url)
        };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let answer: Value = request.send().unwrap().json().unwrap();
        let value = answer["value"].clone();
        if let Some(error) = value.get("error") {
            panic!("WebDriver {method} {path}: {error} {}", value["message"]);
        }
        value
    }

    /// The error name a command answers with, if it fails.
    fn error_of(&self, method: &str, path: &str) -> Option<String> {
        let url = format!("{}/session/{}{path}", self.url, self.session);
        let request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&json!({})),
        };
        let answer: Value = request.send().unwrap().json().unwrap();
        answer["value"]["error"].as_str().map(str::to_string)
    }

    fn go(&self, url: &str) {
        self.send("POST", "/session/url", json!({ "url": url }));
    }

    fn current(&self) -> String {
        self.send("GET", "/session/url", json!({}))
            .as_str()
            .unwrap()
            .to_string()
    }

    fn find(&self, using: &str, value: &str) -> String {
        let found = self.send(
            "POST",
            "/session/element",
            json!({"using": using, "value": value}),
        );
        found[ELEMENT].as_str().unwrap().to_string()
    }

    fn text(&self, css: &str) -> String {
        let element = self.find("css selector", css);
        self.send(
            "GET",
            &format!("/session/element/{element}/text"),
            json!({}),
        )
        .as_str()
        .unwrap()
        .to_string()
    }

    /// The text of an element that appears once a page has loaded (a form's answer: the click
    /// may return before the posted page is there, and the call may start a worker).
    fn wait_text(&self, css: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let url = format!("{}/session/{}/element", self.url, self.session);
            let answer: Value = self
                .http
                .post(url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .unwrap()
                .json()
                .unwrap();
            if answer["value"][ELEMENT].is_string() {
                return self.text(css);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no `{css}` after 30 s: {answer}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    fn click_link(&self, text: &str) {
        let element = self.find("partial link text", text);
        self.send(
            "POST",
            &format!("/session/element/{element}/click"),
            json!({}),
        );
    }

    fn title(&self) -> String {
        self.send("GET", "/session/title", json!({}))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A PNG of the page, kept under `target/tmp/console/` as the test's artifact.
    fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let data = self.send("GET", "/session/screenshot", json!({}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.url, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A deployed hello_world whose label is hostile, published as 1.0.0.
fn deployed() -> Deploy {
    let deploy = Deploy::new(&[]);
    deploy.edit("label: Hello World", &format!("label: \"{HOSTILE_LABEL}\""));
    deploy.repo.commit("hostile label");
    let out = deploy.run(&["apply", "--yes", "--push"]);
    out.code(0);
    deploy
}

#[test]
fn the_console_shows_owners_algorithms_versions_builds_and_calls_in_a_real_browser() {
    let deploy = deployed();
    let emulator = &deploy.emulator;
    // A scripted fault shows on the faults page.
    let (status, _) = emulator.admin(
        "POST",
        "/_emulator/faults",
        Some(json!({"method": "GET", "path": "/v1/never/*", "times": 3, "status": 503})),
    );
    assert_eq!(status, 201);
    let browser = Browser::start();

    // Without the token: 401 and nothing of the state.
    browser.go(&format!("{}/", emulator.url));
    let refused = browser.text("main");
    assert!(refused.contains("needs the admin token"), "{refused}");
    browser.go(&format!("{}/console", emulator.url));
    let refused = browser.text("main");
    assert!(!refused.contains("demo"), "{refused}");
    assert!(!refused.contains("hello_world"), "{refused}");

    // With it: signed in, and the token leaves the address bar.
    browser.go(&format!("{}/?token={ADMIN}", emulator.url));
    assert_eq!(browser.current(), format!("{}/console", emulator.url));
    assert!(!browser.current().contains(ADMIN));
    let owners = browser.text("table");
    assert!(
        owners.contains("demo") && owners.contains("other"),
        "{owners}"
    );

    browser.click_link("demo");
    let algorithms = browser.text("table");
    assert!(algorithms.contains("hello_world"), "{algorithms}");
    assert!(algorithms.contains("1.0.0"), "{algorithms}");

    browser.click_link("hello_world");
    // The hostile label is text: shown whole, and its script never ran.
    assert_eq!(browser.text("#label"), HOSTILE_LABEL);
    assert!(browser.title().starts_with("demo/hello_world"));
    assert_eq!(
        browser.error_of("GET", "/alert/text").as_deref(),
        Some("no such alert")
    );
    let head = deploy.repo.head();
    let versions = browser.text("#versions");
    assert!(versions.contains("1.0.0"), "{versions}");
    assert!(versions.contains(&head[..12]), "{versions}");
    assert!(versions.contains("public"), "{versions}");
    let builds = browser.text("#builds");
    assert!(builds.contains("succeeded"), "{builds}");
    browser.screenshot("algorithm");

    // The build's log.
    let build = browser.find("css selector", "#builds a");
    browser.send(
        "POST",
        &format!("/session/element/{build}/click"),
        json!({}),
    );
    let log = browser.text("#log");
    assert!(!log.is_empty());
    assert!(
        browser.text("main").contains(&head),
        "the build page names its commit"
    );
    browser.send("POST", "/session/back", json!({}));

    // The call form runs the published version.
    let input = browser.find("css selector", "textarea[name=input]");
    browser.send(
        "POST",
        &format!("/session/element/{input}/clear"),
        json!({}),
    );
    browser.send(
        "POST",
        &format!("/session/element/{input}/value"),
        json!({"text": "\"<i>browser</i>\""}),
    );
    let submit = browser.find("css selector", "#call");
    browser.send(
        "POST",
        &format!("/session/element/{submit}/click"),
        json!({}),
    );
    let answer = browser.wait_text("#answer");
    assert!(answer.contains("Hello, <i>browser</i>!"), "{answer}");
    browser.screenshot("call");

    // The request log and the faults.
    browser.click_link("Requests");
    let requests = browser.text("#requests");
    assert!(
        requests.contains("/v1/algorithms/demo/hello_world"),
        "{requests}"
    );
    browser.click_link("Faults");
    let faults = browser.text("#faults");
    assert!(
        faults.contains("/v1/never/*") && faults.contains("503"),
        "{faults}"
    );
    let shot = browser.screenshot("faults");
    assert!(std::fs::metadata(shot).unwrap().len() > 1000);
}

/// The console's rules without a browser: 401 without the token or with a wrong one, the
/// cookie is HttpOnly and SameSite, a cross-site POST is refused, pages escape what they show
/// and run no script, and the emulator prints the console's address.
#[test]
fn the_console_refuses_without_the_token_and_escapes_what_it_shows() {
    let deploy = deployed();
    let url = &deploy.emulator.url;
    let client = http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    for path in [
        "/",
        "/?token=wrong",
        "/console",
        "/console/owners/demo",
        "/console/owners/demo/hello_world",
        "/console/requests",
    ] {
        let response = client.get(format!("{url}{path}")).send().unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let body = response.text().unwrap();
        assert!(!body.contains("hello_world"), "{path} shows state: {body}");
    }
    let signed = client.get(format!("{url}/?token={ADMIN}")).send().unwrap();
    assert_eq!(signed.status(), 303);
    assert_eq!(signed.headers()["location"], "/console");
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(ADMIN), "the cookie is not the token");
    let session = cookie.split(';').next().unwrap().to_string();

    let page = client
        .get(format!("{url}/console/owners/demo/hello_world"))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"),
        "{html}"
    );

    let form = "version=1.0.0&content_type=application%2Fjson&input=%22curl%22";
    let cross = client
        .post(format!("{url}/console/owners/demo/hello_world/call"))
        .header("cookie", &session)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .unwrap();
    assert_eq!(cross.status(), 403);
    let before = deploy.emulator.count("POST", "/v1/algo/demo/hello_world");
    let same = client
        .post(format!("{url}/console/owners/demo/hello_world/call"))
        .header("cookie", &session)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .unwrap();
    assert_eq!(same.status(), 200);
    assert!(same.text().unwrap().contains("Hello, curl!"));
    assert_eq!(
        deploy.emulator.count("POST", "/v1/algo/demo/hello_world"),
        before,
        "console pages and calls stay out of the API's request log"
    );

    // An emulator with a generated token prints the console's address with it.
    let temp = tempfile::tempdir().unwrap();
    let mut own = Emulator::with_args(vec![
        "emulator".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        temp.path().join("data").display().to_string(),
    ]);
    let own_url = own.url.clone();
    let (_, stderr) = own.stop();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("console: "))
        .unwrap_or_else(|| panic!("no console line: {stderr}"));
    let token = line
        .strip_prefix(&format!("console: {own_url}/?token="))
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(token.len(), 32, "{line}");
}
