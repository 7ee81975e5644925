//! Lending the API key to the `git` program for one origin only, without putting it in any
//! process's arguments, environment, URL or file.
//!
//! While a remote read or push runs, a [`Lender`] listens on a Unix socket in a private folder
//! (mode 0700). git is configured, for the algorithm's git origin alone, with one credential
//! helper: algodeploy itself (`algodeploy git-credential get`, a hidden subcommand). The helper
//! forwards git's request (protocol, host) over the socket with a per-run token; the lender
//! answers with the owner and the key only when scheme, host and port equal the configured git
//! origin (git's credential model, `gitcredentials(7)`: helpers are asked per protocol and
//! host). A redirect or an `insteadOf` rewrite to any other origin never reaches our helper
//! through git's configuration, and would be refused by the lender if it did. git's `erase`
//! (the server refused what it was given) is remembered so that the caller can say "the key
//! was rejected".

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ApiKey;

/// The environment variables the helper reads: where the lender is, and the run's token.
pub const SOCKET_ENV: &str = "ALGODEPLOY_CREDENTIAL_SOCKET";
pub const TOKEN_ENV: &str = "ALGODEPLOY_CREDENTIAL_TOKEN";

/// Scheme, host and port: the unit credentials are given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an http(s) URL; `None` for other URLs (ssh, file).
    pub fn of_url(url: &str) -> Option<Origin> {
        let url = reqwest::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        // The host without brackets: `url()` adds them back for IPv6.
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        Some(Origin {
            scheme: url.scheme().to_string(),
            host,
            port: url.port_or_known_default()?,
        })
    }

    /// The origin git describes in a credential request (`protocol`, and `host` with the port
    /// when it is not the default).
    fn of_request(protocol: &str, host: &str) -> Option<Origin> {
        let default = match protocol {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let (name, port) = match host.rsplit_once(':') {
            // An IPv6 literal without a port is `[::1]`; with one, `[::1]:8080`.
            Some((name, port)) if !port.contains(']') => (name, port.parse().ok()?),
            _ => (host, default),
        };
        Some(Origin {
            scheme: protocol.to_string(),
            host: name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port,
        })
    }

    fn same_host(&self, other: &Origin) -> bool {
        self.scheme == other.scheme
            && self.port == other.port
            && self.host.trim_start_matches('[').trim_end_matches(']')
                == other.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The origin as a URL prefix, for git's URL-scoped configuration.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            format!("{}://{host}", self.scheme)
        } else {
            format!("{}://{host}:{}", self.scheme, self.port)
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// What git asked for while the lender ran.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    /// `get` requests answered with the key.
    pub given: usize,
    /// `erase` requests for the origin: the server refused the key.
    pub rejected: bool,
    /// Origins asked for and refused (a redirect or rewrite elsewhere).
    pub refused: Vec<String>,
}

/// Serves the key to algodeploy's own helper for one origin while it lives.
pub struct Lender {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    token: String,
    stop: Arc<AtomicBool>,
    asked: Arc<Mutex<Asked>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// More `get`s than this in one git run means git is looping on a refused key.
const MAX_GIVES: usize = 8;

impl Lender {
    pub fn start(origin: Origin, user: String, key: ApiKey) -> std::io::Result<Lender> {
        use std::os::unix::fs::PermissionsExt;
        // A Unix socket path holds at most 107 bytes: a long TMPDIR falls back to /tmp.
        let mut dir = tempfile::Builder::new()
            .prefix("algodeploy-cred-")
            .tempdir()?;
        if dir.path().as_os_str().len() > 90 {
            dir = tempfile::Builder::new()
                .prefix("algodeploy-cred-")
                .tempdir_in("/tmp")?;
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let socket = dir.path().join("s");
        let listener = UnixListener::bind(&socket)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(Mutex::new(Asked::default()));
        let thread = {
            let (stop, asked, token) = (stop.clone(), asked.clone(), token.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = serve(stream, &origin, &user, &key, &token, &asked);
                }
            })
        };
        Ok(Lender {
            _dir: dir,
            socket,
            token,
            stop,
            asked,
            thread: Some(thread),
        })
    }

    /// The variables the helper process needs (no secret: the socket answers only the helper
    /// that knows the token, and only for the origin).
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            (SOCKET_ENV, self.socket.display().to_string()),
            (TOKEN_ENV, self.token.clone()),
        ]
    }

    pub fn asked(&self) -> Asked {
        self.asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Lender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag; the thread ends by itself (a slow
        // helper connection cannot hold up the caller), and the folder goes with `_dir`.
        let _ = UnixStream::connect(&self.socket);
        drop(self.thread.take());
    }
}

/// One helper connection: the request's `key=value` lines, a blank line, then the answer.
fn serve(
    stream: UnixStream,
    origin: &Origin,
    user: &str,
    key: &ApiKey,
    token: &str,
    asked: &Mutex<Asked>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?.take(64 * 1024));
    let mut fields = std::collections::HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            break;
        }
        if let Some((k, v)) = text.split_once('=') {
            fields.insert(k.to_string(), v.to_string());
        }
    }
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    if field("token") != token {
        return Ok(());
    }
    let wanted = Origin::of_request(field("protocol"), field("host"));
    let matches = wanted.as_ref().is_some_and(|w| w.same_host(origin));
    let mut asked = asked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut writer = stream;
    match field("action") {
        "get" if matches && asked.given < MAX_GIVES && !asked.rejected => {
            asked.given += 1;
            let answer = format!("username={user}\npassword={}\n", key.expose());
            writer.write_all(answer.as_bytes())?;
        }
        "get" if !matches => {
            let shown = wanted.map_or_else(
                || format!("{}://{}", field("protocol"), field("host")),
                |w| w.url(),
            );
            if !asked.refused.contains(&shown) {
                asked.refused.push(shown);
            }
        }
        "erase" if matches => asked.rejected = true,
        _ => {}
    }
    Ok(())
}

/// `algodeploy git-credential ACTION`: git's side. Reads git's request on stdin, asks the
/// lender named in the environment, prints its answer. Prints nothing (git moves on) when no
/// lender is running or anything fails.
pub fn helper(action: &str) -> i32 {
    let mut request = String::new();
    let _ = std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut request);
    let (Some(socket), Some(token)) = (std::env::var_os(SOCKET_ENV), std::env::var(TOKEN_ENV).ok())
    else {
        return 0;
    };
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return 0;
    };
    let mut message = format!("token={token}\naction={action}\n");
    for line in request.lines() {
        if let Some((k, v)) = line.split_once('=')
            && matches!(k, "protocol" | "host" | "path")
            && !v.contains('\n')
        {
            message.push_str(&format!("{k}={v}\n"));
        }
    }
    message.push('\n');
    if stream.write_all(message.as_bytes()).is_err() {
        return 0;
    }
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut answer = String::new();
    let _ = stream.take(64 * 1024).read_to_string(&mut answer);
    if action == "get" {
        let _ = std::io::stdout().lock().write_all(answer.as_bytes());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let configured = Origin::of_url("https://git.example.com/git/a/b.git").unwrap();
        assert_eq!(configured.port, 443);
        assert!(
            Origin::of_request("https", "git.example.com")
                .unwrap()
                .same_host(&configured)
        );
        assert!(
            Origin::of_request("https", "GIT.example.com:443")
                .unwrap()
                .same_host(&configured)
        );
        assert!(
            !Origin::of_request("http", "git.example.com")
                .unwrap()
                .same_host(&configured)
        );
        assert!(
            !Origin::of_request("https", "git.example.com:8443")
                .unwrap()
                .same_host(&configured)
        );
        assert!(
            !Origin::of_request("https", "evil.example.com")
                .unwrap()
                .same_host(&configured)
        );
        let local = Origin::of_url("http://127.0.0.1:4321").unwrap();
        assert_eq!(local.url(), "http://127.0.0.1:4321");
        assert!(
            Origin::of_request("http", "127.0.0.1:4321")
                .unwrap()
                .same_host(&local)
        );
        let v6 = Origin::of_url("http://[::1]:4321/x").unwrap();
        assert!(
            Origin::of_request("http", "[::1]:4321")
                .unwrap()
                .same_host(&v6)
        );
        assert!(Origin::of_url("ssh://git@example.com/x").is_none());
    }
}
