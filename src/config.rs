//! Where the API is and which key to use.
//!
//! Address: `--api URL`, else `ALGORITHMIA_API`, else the profile's `api_server` in
//! `~/.algorithmia/config` (`--profile NAME`, default `default`), else
//! `https://api.algorithmia.com`. Key: `ALGORITHMIA_API_KEY`, else the profile's `api_key`;
//! never a flag. The config file is the one Algorithmia's own CLIs write (TOML,
//! `[profiles.NAME]` with `api_key`, `api_server`, `ca_cert` (a PEM file of CAs to trust, see
//! `trust.rs`), optional `git_server`; other keys such as `bearer_token` are tolerated, and an
//! empty string means unset). A top-level table that is not `profiles` (a `[default]` written
//! by hand) is not read, and a warning says so.
//!
//! The key is held in [`ApiKey`], whose `Debug` and `Display` never show it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_API: &str = "https://api.algorithmia.com";

/// An API key. Printing it in any way shows `sim…(redacted)`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: String) -> ApiKey {
        ApiKey(key)
    }

    /// The secret itself, for the Authorization header and git credentials only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted API key)")
    }
}

/// Where a setting came from, for messages ("the key from ALGORITHMIA_API_KEY was rejected").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    Profile { path: PathBuf, profile: String },
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("--api"),
            Source::Env(name) => write!(f, "{name}"),
            Source::Profile { path, profile } => {
                write!(f, "profile `{profile}` in {}", path.display())
            }
            Source::Default => f.write_str("the default"),
        }
    }
}

/// The checked configuration for commands that talk to the API.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API root without `/v1` and without a trailing slash.
    pub api: String,
    pub api_source: Source,
    pub key: Option<ApiKey>,
    pub key_source: Source,
    /// The git server root: the profile's `git_server`, else derived from the API address.
    pub git: String,
    /// The profile's `ca_cert`, with `~/` expanded.
    pub ca_cert: Option<PathBuf>,
    /// Things in the config file that are not used, for a warning on stderr.
    pub warnings: Vec<String>,
}

#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    Parse {
        path: PathBuf,
        message: String,
    },
    NoProfile {
        path: PathBuf,
        profile: String,
        known: Vec<String>,
    },
    BadUrl {
        url: String,
        from: Source,
        reason: String,
    },
    KeyShaped {
        from: Source,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, .. } => {
                write!(f, "cannot read the config file `{}`", path.display())
            }
            ConfigError::Parse { path, message } => write!(
                f,
                "the config file `{}` is not valid TOML: {message}",
                path.display()
            ),
            ConfigError::NoProfile {
                path,
                profile,
                known,
            } => write!(
                f,
                "no profile `{profile}` in `{}` (profiles: {})",
                path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            ConfigError::BadUrl { url, from, reason } => {
                write!(f, "the API address `{url}` from {from} {reason}")
            }
            ConfigError::KeyShaped { from } => write!(
                f,
                "the API address from {from} looks like an API key; keys belong in ALGORITHMIA_API_KEY or a profile's `api_key`"
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Deserialize)]
struct Profile {
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    api_server: Option<String>,
    #[serde(default)]
    git_server: Option<String>,
    #[serde(default)]
    ca_cert: Option<String>,
}

/// What the environment holds, gathered at the edge so that [`resolve`] is pure.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    pub flag_api: Option<String>,
    pub env_api: Option<String>,
    pub env_key: Option<String>,
    pub profile: Option<String>,
    /// The config file's path and text, when it exists.
    pub file: Option<(PathBuf, String)>,
}

impl Inputs {
    pub fn from_env(
        flag_api: Option<String>,
        profile: Option<String>,
    ) -> Result<Inputs, ConfigError> {
        let non_empty = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let path = config_path();
        let file = match path {
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(text) => Some((path, text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => return Err(ConfigError::Read { path, source }),
            },
            None => None,
        };
        Ok(Inputs {
            flag_api,
            env_api: non_empty("ALGORITHMIA_API"),
            env_key: non_empty("ALGORITHMIA_API_KEY"),
            profile,
            file,
        })
    }
}

/// `~/.algorithmia/config` (the official CLIs' location on Unix).
fn config_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".algorithmia").join("config"))
}

fn empty_is_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

pub fn resolve(inputs: Inputs) -> Result<Config, ConfigError> {
    let profile_name = inputs.profile.clone().unwrap_or_else(|| "default".into());
    let mut warnings = Vec::new();
    let (profile, profile_path) = match &inputs.file {
        Some((path, text)) => {
            let parse_error = |e: toml::de::Error| ConfigError::Parse {
                path: path.clone(),
                message: crate::sanitize::line(e.message(), None, 200),
            };
            let table: toml::Table = toml::from_str(text).map_err(parse_error)?;
            for (name, value) in &table {
                if name != "profiles" && value.is_table() {
                    warnings.push(format!(
                        "`{}` has a `[{name}]` table, which is not read: profiles are `[profiles.NAME]` tables (write `[profiles.{name}]`)",
                        path.display()
                    ));
                }
            }
            let file: ConfigFile = table.try_into().map_err(parse_error)?;
            let known: Vec<String> = file.profiles.keys().cloned().collect();
            let mut profiles = file.profiles;
            match profiles.remove(&profile_name) {
                Some(profile) => (Some(profile), Some(path.clone())),
                // Naming a profile that does not exist is an error; a missing default is not.
                None if inputs.profile.is_some() => {
                    return Err(ConfigError::NoProfile {
                        path: path.clone(),
                        profile: profile_name,
                        known,
                    });
                }
                None => (None, None),
            }
        }
        None if inputs.profile.is_some() => {
            return Err(ConfigError::NoProfile {
                path: config_path().unwrap_or_default(),
                profile: profile_name,
                known: Vec::new(),
            });
        }
        None => (None, None),
    };
    let from_profile = || Source::Profile {
        path: profile_path.clone().unwrap_or_default(),
        profile: profile_name.clone(),
    };
    let profile = profile.unwrap_or_default();
    let (api, api_source) = if let Some(api) = inputs.flag_api {
        (api, Source::Flag)
    } else if let Some(api) = inputs.env_api {
        (api, Source::Env("ALGORITHMIA_API"))
    } else if let Some(api) = empty_is_none(profile.api_server.clone()) {
        (api, from_profile())
    } else {
        (DEFAULT_API.to_string(), Source::Default)
    };
    let api = check_url(&api, &api_source)?;
    let (key, key_source) = if let Some(key) = inputs.env_key {
        (
            Some(ApiKey::new(key.trim().to_string())),
            Source::Env("ALGORITHMIA_API_KEY"),
        )
    } else if let Some(key) = empty_is_none(profile.api_key) {
        (Some(ApiKey::new(key.trim().to_string())), from_profile())
    } else {
        (None, Source::Default)
    };
    let git = match empty_is_none(profile.git_server) {
        Some(git) => check_url(&git, &from_profile())?,
        None => derive_git(&api),
    };
    let ca_cert = empty_is_none(profile.ca_cert).map(|path| expand_home(path.trim()));
    Ok(Config {
        api,
        api_source,
        key,
        key_source,
        git,
        ca_cert,
        warnings,
    })
}

/// `~/x` is relative to HOME, as the official CLI writes it.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Absolute http(s) URL, no credentials, no path beyond `/`; plain http only for loopback.
fn check_url(raw: &str, from: &Source) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::BadUrl {
        url: redact_userinfo(raw),
        from: from.clone(),
        reason: reason.to_string(),
    };
    if crate::manifest::looks_like_api_key(raw.trim()) {
        return Err(ConfigError::KeyShaped { from: from.clone() });
    }
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "carries credentials; keys belong in ALGORITHMIA_API_KEY",
        ));
    }
    let host = url.host_str().ok_or_else(|| bad("has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => return Err(bad("uses plain http to a non-loopback host; use https")),
        _ => {
            return Err(bad(
                "must start with https:// (or http:// for a loopback address)",
            ));
        }
    }
    let mut text = url.as_str().trim_end_matches('/').to_string();
    if let Some(stripped) = text.strip_suffix("/v1") {
        // Clients take the server root; `/v1` is added per request.
        text = stripped.to_string();
    }
    Ok(text)
}

fn redact_userinfo(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => crate::sanitize::line(raw, None, 200),
    }
}

pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `https://api.example.com` → `https://git.example.com`; an address without an `api.` host
/// (the emulator) serves git itself.
fn derive_git(api: &str) -> String {
    if api.contains("//api.") {
        api.replacen("//api.", "//git.", 1)
    } else {
        api.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs::default()
    }

    fn with_file(text: &str) -> Inputs {
        Inputs {
            file: Some((
                PathBuf::from("/home/u/.algorithmia/config"),
                text.to_string(),
            )),
            ..Inputs::default()
        }
    }

    #[test]
    fn precedence_is_flag_env_profile_default() {
        let file = "[profiles.default]\napi_key = \"simFromProfile00000000000000\"\napi_server = \"https://api.profile.example\"\n";
        let mut i = with_file(file);
        assert_eq!(
            resolve(i.clone()).unwrap().api,
            "https://api.profile.example"
        );
        i.env_api = Some("https://api.env.example/".into());
        assert_eq!(resolve(i.clone()).unwrap().api, "https://api.env.example");
        i.flag_api = Some("http://127.0.0.1:8686/v1".into());
        let config = resolve(i.clone()).unwrap();
        assert_eq!(
            (config.api.as_str(), &config.api_source),
            ("http://127.0.0.1:8686", &Source::Flag)
        );
        assert_eq!(config.key.unwrap().expose(), "simFromProfile00000000000000");
        i.env_key = Some("simFromEnv000000000000000000".into());
        let config = resolve(i).unwrap();
        assert_eq!(config.key.unwrap().expose(), "simFromEnv000000000000000000");
        assert_eq!(config.key_source, Source::Env("ALGORITHMIA_API_KEY"));
        assert_eq!(resolve(inputs()).unwrap().api, DEFAULT_API);
    }

    #[test]
    fn git_server_is_derived_or_configured() {
        assert_eq!(
            resolve(inputs()).unwrap().git,
            "https://git.algorithmia.com"
        );
        let mut i = inputs();
        i.flag_api = Some("http://127.0.0.1:9000".into());
        assert_eq!(resolve(i).unwrap().git, "http://127.0.0.1:9000");
        let i = with_file(
            "[profiles.default]\napi_server = \"https://api.x.example\"\ngit_server = \"https://code.x.example\"\n",
        );
        assert_eq!(resolve(i).unwrap().git, "https://code.x.example");
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let mut i = inputs();
        i.flag_api = Some("http://api.example.com".into());
        assert!(matches!(
            resolve(i.clone()),
            Err(ConfigError::BadUrl { .. })
        ));
        i.flag_api = Some("http://localhost:1".into());
        assert!(resolve(i.clone()).is_ok());
        i.flag_api = Some("http://[::1]:1".into());
        assert!(resolve(i).is_ok());
    }

    #[test]
    fn profiles_tolerate_other_keys_and_empty_strings() {
        let i = with_file(
            "[profiles.default]\napi_key = \"\"\napi_server = \"\"\nca_cert = \"\"\nbearer_token = \"\"\n",
        );
        let config = resolve(i).unwrap();
        assert!(config.key.is_none());
        assert_eq!(config.api, DEFAULT_API);
    }

    #[test]
    fn a_named_profile_must_exist() {
        let mut i =
            with_file("[profiles.default]\napi_key = \"x\"\n[profiles.prod]\napi_key = \"y\"\n");
        i.profile = Some("staging".into());
        let err = resolve(i).unwrap_err().to_string();
        assert!(
            err.contains("no profile `staging`") && err.contains("default, prod"),
            "{err}"
        );
    }

    #[test]
    fn urls_with_credentials_or_key_shapes_are_refused_without_echoing() {
        let mut i = inputs();
        i.flag_api = Some("https://demo:simSecret0000000000000000000@api.example.com".into());
        let err = resolve(i.clone()).unwrap_err().to_string();
        assert!(!err.contains("simSecret"), "{err}");
        i.flag_api = Some("simSecret0000000000000000000".into());
        let err = resolve(i).unwrap_err().to_string();
        assert!(!err.contains("simSecret"), "{err}");
    }

    #[test]
    fn the_key_never_prints() {
        let key = ApiKey::new("simSecret0000000000000000000".into());
        assert!(!format!("{key:?} {key}").contains("simSecret"));
    }
}
