//! The command line: `algodeploy emulator`'s flags ([`Args`]), checked into [`Options`]
//! (owners and keys, the admin token, TLS files, build delay, latency and fail rate), and the
//! key files and token files they read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `algodeploy emulator`'s flags (the command line is algodeploy's; the flags are the
/// emulator's own).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: std::net::SocketAddr,
    /// Allow listening on an address other than loopback (anyone who can reach it can use the
    /// keys you give)
    #[arg(long)]
    pub allow_remote: bool,
    /// Keep state in this folder (SQLite plus bare git repositories) across restarts; without
    /// it, a temporary folder removed on exit
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// A key that may manage OWNER's algorithms, as OWNER=KEY (repeatable); with no key at
    /// all, one is made for owner `demo` and printed
    #[arg(long = "key", value_name = "OWNER=KEY")]
    pub keys: Vec<String>,
    /// A key that may only read OWNER's algorithms, as OWNER=KEY (repeatable)
    #[arg(long = "read-only-key", value_name = "OWNER=KEY")]
    pub read_only_keys: Vec<String>,
    /// Keys from a file readable by its owner only (mode 600): one `OWNER=KEY` per line, or
    /// `read-only OWNER=KEY`; `#` comments. Unlike --key, keeps keys out of the process list
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<std::path::PathBuf>,
    /// How long a build takes
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub build_seconds: f64,
    /// Delay added to every /v1 response
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,
    /// Share of /v1 requests answered 503 with Retry-After: 1, before any state changes
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// The token for /_emulator endpoints; without it, one is made and printed. Visible to
    /// local users in the process list: prefer --admin-token-file or the environment
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ALGODEPLOY_EMULATOR_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Read the /_emulator token from a file readable by its owner only (mode 600)
    #[arg(long, value_name = "PATH", conflicts_with = "admin_token")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); needs
    /// --tls-key
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Let builds pip-install requirements.txt into a virtualenv per build (needs PyPI);
    /// without it, calls run with the emulator's python3
    #[arg(long)]
    pub install_requirements: bool,
    /// Let calls of algorithms with `network_access: full` share this machine's network,
    /// 127.0.0.1 included (its services, a signed-in console's cookie). Without it they run in
    /// a network namespace of their own, as isolated ones do
    #[arg(long)]
    pub algorithm_network: bool,
}

/// What `algodeploy emulator` was asked to do, already checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub data_dir: Option<PathBuf>,
    /// (owner, key, may manage algorithms)
    pub keys: Vec<(String, String, bool)>,
    pub build_delay: Duration,
    pub latency: Duration,
    pub fail_rate: f64,
    pub admin_token: Option<String>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `--install-requirements`: builds pip-install `requirements.txt` into a virtualenv.
    pub install_requirements: bool,
    /// `--algorithm-network`: sandboxed calls of `network_access: full` algorithms share the
    /// host's network.
    pub algorithm_network: bool,
    /// What is allowed but unsafe on a shared machine, said on stderr at start.
    pub warnings: Vec<String>,
}

impl Options {
    /// Check the command line: a usage error names the flag and the fix.
    pub fn from_args(args: &Args) -> Result<Options, String> {
        if !args.listen.ip().is_loopback() && !args.allow_remote {
            return Err(format!(
                "`--listen {}` is not a loopback address; add `--allow-remote` to serve other machines",
                args.listen
            ));
        }
        let mut keys = Vec::new();
        for (list, manage, flag) in [
            (&args.keys, true, "--key"),
            (&args.read_only_keys, false, "--read-only-key"),
        ] {
            for pair in list {
                keys.push(key_pair(pair, manage, &format!("`{flag}`"))?);
            }
        }
        if let Some(path) = &args.key_file {
            let text = private_file(path, "--key-file")?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (pair, manage) = match line.strip_prefix("read-only ") {
                    Some(rest) => (rest.trim(), false),
                    None => (line, true),
                };
                let at = format!("`{}` line {}", path.display(), number + 1);
                keys.push(key_pair(pair, manage, &at)?);
            }
        }
        let admin_token = match &args.admin_token_file {
            Some(path) => {
                let token = private_file(path, "--admin-token-file")?.trim().to_string();
                if token.is_empty() || token.chars().any(char::is_whitespace) {
                    return Err(format!(
                        "`--admin-token-file` `{}`: the token must be one word on one line",
                        path.display()
                    ));
                }
                Some(token)
            }
            None => args.admin_token.clone(),
        };
        if let Some(token) = &admin_token
            && (token.is_empty() || token.chars().any(char::is_whitespace))
        {
            return Err(
                "the admin token must be one word: an empty one would open the console and /_emulator to anyone (leave it out and one is made)".into(),
            );
        }
        let mut warnings = Vec::new();
        if let Some(token) = &admin_token
            && token.chars().count() < 16
        {
            warnings.push(format!(
                "the admin token is {} characters long: whoever guesses it has the console and /_emulator (use 16 or more, or leave it out and one is made)",
                token.chars().count()
            ));
        }
        if !args.keys.is_empty() || !args.read_only_keys.is_empty() {
            warnings.push(
                "keys given with --key or --read-only-key are visible to every user of this machine in the process list; --key-file keeps them private".into(),
            );
        }
        if args.allow_remote && args.tls_cert.is_none() && !args.listen.ip().is_loopback() {
            warnings.push(
                "serving plain HTTP to other machines: keys and the admin token cross the network unencrypted (--tls-cert and --tls-key serve HTTPS)".into(),
            );
        }
        if !(0.0..=1.0).contains(&args.fail_rate) {
            return Err(format!(
                "`--fail-rate {}` must be between 0 and 1",
                args.fail_rate
            ));
        }
        if !(args.build_seconds >= 0.0 && args.build_seconds.is_finite()) {
            return Err(format!(
                "`--build-seconds {}` must be 0 or more",
                args.build_seconds
            ));
        }
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => {
                return Err(
                    "`--tls-cert` and `--tls-key` go together: the certificate chain and its private key, both PEM".into(),
                );
            }
        };
        let mut owners: HashMap<&str, &str> = HashMap::new();
        for (owner, key, _) in &keys {
            if let Some(first) = owners.insert(key.as_str(), owner.as_str())
                && first != owner
            {
                return Err(format!(
                    "one key is given for two owners, `{first}` and `{owner}`; each key belongs to one owner"
                ));
            }
        }
        Ok(Options {
            install_requirements: args.install_requirements,
            algorithm_network: args.algorithm_network,
            tls,
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            keys,
            build_delay: Duration::from_secs_f64(args.build_seconds),
            latency: Duration::from_millis(args.latency),
            fail_rate: args.fail_rate,
            admin_token,
            warnings,
        })
    }
}

/// `OWNER=KEY` from a flag or a key file (`at` says where, for errors).
fn key_pair(pair: &str, manage: bool, at: &str) -> Result<(String, String, bool), String> {
    let Some((owner, key)) = pair.split_once('=') else {
        return Err(format!("{at} takes OWNER=KEY, such as `demo=simXXXX`"));
    };
    let owner_ok = owner
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && owner.len() <= 30
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !owner_ok {
        return Err(format!(
            "{at}: `{owner}` is not a valid owner (a letter, then letters, digits or _; at most 30)"
        ));
    }
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(format!(
            "{at} for `{owner}`: the key must be non-empty and without spaces"
        ));
    }
    Ok((owner.to_string(), key.to_string(), manage))
}

/// A file of secrets: a regular file that only its owner may read (no link followed), at
/// most 1 MiB.
fn private_file(path: &std::path::Path, flag: &str) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("`{flag}` `{shown}` cannot be read: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("`{flag}` `{shown}` cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{flag}` `{shown}` is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "`{flag}` `{shown}` may be read by other users (mode {mode:o}); make it private: chmod 600 {shown}"
        ));
    }
    let mut text = String::new();
    file.take(1024 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| format!("`{flag}` `{shown}` is not UTF-8 text: {e}"))?;
    Ok(text)
}
