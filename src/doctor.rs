//! `algodeploy doctor`: checks what a deploy depends on, one line each with the verdict and the
//! fix: where the configuration came from, the trusted roots, the API address (DNS, TCP, TLS
//! against those roots, with the certificate's subject and expiry), the key (accepted; may it
//! manage the owner's algorithms), the git host (the same network checks, then a remote read
//! through the `git` program with the key lent as for a push) and the `git` program itself.
//!
//! Nothing is changed anywhere: the permission check is a create request with an empty body,
//! which the service refuses (400 for a key that may create, 403 for one that may not). The
//! exit code is the class of the first failure (1 network or TLS, 5 key), else 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::api::{ApiError, Client};
use crate::cli::{DoctorArgs, PlanFormat};
use crate::config::{self, Config};
use crate::error::Error;
use crate::error::Outcome;
use crate::remote::{self, Remotes};
use crate::trust::Trust;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The exit code a failure maps to.
    #[serde(skip)]
    pub class: i32,
}

impl Check {
    fn ok(check: &str, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
            class: 0,
        }
    }

    fn warn(check: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix,
            class: 0,
        }
    }

    fn skip(check: &str, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
            class: 0,
        }
    }

    fn fail(check: &str, class: i32, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix,
            class,
        }
    }
}

/// The manifest's owner, name and repository folder, when doctor runs on one.
struct Target {
    owner: String,
    name: Option<String>,
    root: Option<PathBuf>,
}

pub fn run(args: &DoctorArgs, color: bool) -> Result<Outcome, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let checks = runtime.block_on(checks(args));
    let failed = checks.iter().find(|c| c.status == Status::Fail);
    let exit = failed.map_or(0, |c| c.class);
    let failures = checks.iter().filter(|c| c.status == Status::Fail).count();
    let text = match args.format {
        PlanFormat::Json => {
            let doc = serde_json::json!({
                "format_version": 1,
                "ok": failed.is_none(),
                "exit_code": exit,
                "checks": checks,
            });
            serde_json::to_string_pretty(&doc).expect("a report serializes") + "\n"
        }
        PlanFormat::Text | PlanFormat::Markdown => render(&checks, color),
    };
    crate::error::print(text)?;
    match exit {
        0 => Ok(Outcome::Done),
        code => Err(Error::Doctor {
            failed: failures,
            exit: code,
        }),
    }
}

fn render(checks: &[Check], color: bool) -> String {
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let (word, paint) = match c.status {
            Status::Ok => ("ok", "\x1b[32m"),
            Status::Warn => ("warn", "\x1b[33m"),
            Status::Fail => ("FAIL", "\x1b[1;31m"),
            Status::Skip => ("skip", "\x1b[2m"),
        };
        let verdict = if color {
            format!("{paint}{word:<4}\x1b[0m")
        } else {
            format!("{word:<4}")
        };
        out.push_str(&format!("{verdict}  {:<width$}  {}\n", c.check, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{:<4}  {:<width$}  fix: {fix}\n", "", ""));
        }
    }
    out
}

async fn checks(args: &DoctorArgs) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut env_profile = None;
    let target = target(args, &mut checks, &mut env_profile);
    // `--env NAME`: the environment's profile, unless --profile names one.
    let profile = args.api.profile.clone().or(env_profile);

    // Configuration: any failure here leaves nothing to connect with.
    let inputs = match config::Inputs::from_env(args.api.api.clone(), profile) {
        Ok(inputs) => inputs,
        Err(e) => {
            checks.push(Check::fail("config", 1, e.to_string(), None));
            return checks;
        }
    };
    let config = match config::resolve(inputs) {
        Ok(config) => config,
        Err(e) => {
            checks.push(Check::fail(
                "config",
                1,
                e.to_string(),
                Some("fix ~/.algorithmia/config, ALGORITHMIA_API or --api".into()),
            ));
            return checks;
        }
    };
    checks.push(config_check(&config));
    for warning in &config.warnings {
        checks.push(Check::warn("config", warning.clone(), None));
    }
    let trust = match Trust::load(config.ca_cert.as_deref()) {
        Ok(trust) => {
            let sources: Vec<String> = trust
                .sources
                .iter()
                .map(|(origin, n)| format!("{origin} ({n})"))
                .collect();
            checks.push(if trust.is_empty() {
                Check::warn(
                    "trust",
                    "no trusted certificates found",
                    Some(
                        "install the system CA bundle (ca-certificates), or set SSL_CERT_FILE"
                            .into(),
                    ),
                )
            } else {
                Check::ok(
                    "trust",
                    format!("{} certificates: {}", trust.len(), sources.join(", ")),
                )
            });
            trust
        }
        Err(e) => {
            checks.push(Check::fail(
                "trust",
                1,
                e.to_string(),
                Some(
                    "point `ca_cert` (profile) or SSL_CERT_FILE at a PEM file of CA certificates"
                        .into(),
                ),
            ));
            return checks;
        }
    };

    let api_ok = network_checks("api", &config.api, &trust, &mut checks).await;

    let Some(key) = config.key.clone() else {
        checks.push(Check::fail(
            "key",
            5,
            "no API key: ALGORITHMIA_API_KEY is not set and the profile has no `api_key`",
            Some(
                "set ALGORITHMIA_API_KEY, or `api_key` in a profile of ~/.algorithmia/config"
                    .into(),
            ),
        ));
        return checks;
    };
    let client = Client::new(&config, key.clone(), &trust);
    if api_ok {
        key_checks(&client, target.as_ref(), &mut checks).await;
    } else {
        checks.push(Check::skip("key", "the API cannot be reached"));
    }

    let same_origin = crate::credential::Origin::of_url(&config.api)
        == crate::credential::Origin::of_url(&config.git);
    let git_reachable = if same_origin {
        api_ok
    } else {
        network_checks("git host", &config.git, &trust, &mut checks).await
    };
    let remotes = Remotes::new(&config.git, key, trust);
    match remote::git_version() {
        Ok(v) => checks.push(Check::ok(
            "git program",
            format!("git {}.{}.{}", v.0, v.1, v.2),
        )),
        Err(e) => {
            let hint = e.hint();
            checks.push(Check::fail("git program", 1, e.to_string(), hint));
            return checks;
        }
    }
    if !git_reachable {
        checks.push(Check::skip("git read", "the git host cannot be reached"));
        return checks;
    }
    match &target {
        Some(Target {
            owner,
            name: Some(name),
            root,
        }) => {
            let url = crate::git::remote_url(&config.git, owner, name);
            let dir = root.clone().unwrap_or_else(|| PathBuf::from("."));
            let started = Instant::now();
            match remotes.master(&dir, &url, owner).await {
                Ok(Some(sha)) => checks.push(Check::ok(
                    "git read",
                    format!(
                        "{url}: master is {} ({} ms)",
                        crate::git::short(&sha),
                        started.elapsed().as_millis()
                    ),
                )),
                Ok(None) => checks.push(Check::ok("git read", format!("{url}: empty repository"))),
                Err(remote::RemoteError::NotFound {
                    credentials_given,
                    url: used,
                    ..
                }) => {
                    let rewritten = if used == url {
                        String::new()
                    } else {
                        format!(" (rewritten to {used} by your git configuration)")
                    };
                    checks.push(if credentials_given {
                        Check::ok(
                            "git read",
                            format!("{url}{rewritten}: reachable, credentials accepted; the repository does not exist yet (apply creates it)"),
                        )
                    } else {
                        Check::warn(
                            "git read",
                            format!("{url}{rewritten}: reachable, but it answered \"not found\" without asking for the key, so the credentials are not checked"),
                            None,
                        )
                    });
                }
                Err(e) => {
                    let hint = e.hint();
                    checks.push(Check::fail("git read", if e.exit_code() == 5 { 5 } else { 1 }, e.to_string(), hint));
                }
            }
        }
        _ => checks.push(Check::skip(
            "git read",
            "no manifest here: run doctor in the algorithm's repository (or name its algorithm.yaml) to read its git remote",
        )),
    }
    checks
}

fn config_check(config: &Config) -> Check {
    let key = match &config.key {
        Some(_) => format!("key from {}", config.key_source),
        None => "no key".into(),
    };
    let ca = config
        .ca_cert
        .as_ref()
        .map(|p| format!("; ca_cert `{}`", p.display()))
        .unwrap_or_default();
    Check::ok(
        "config",
        format!(
            "API {} from {}; git {}; {key}{ca}",
            config.api, config.api_source, config.git
        ),
    )
}

/// The manifest doctor runs on: PATH, else `./algorithm.yaml` when it exists; `--owner` wins
/// for the permission check.
fn target(
    args: &DoctorArgs,
    checks: &mut Vec<Check>,
    env_profile: &mut Option<String>,
) -> Option<Target> {
    let path = match &args.path {
        Some(path) if path.is_dir() => Some(path.join("algorithm.yaml")),
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from("algorithm.yaml")).filter(|p| p.is_file()),
    };
    let loaded = path.and_then(|path| {
        let (mut loaded, reports) = crate::manifest::load_paths(std::slice::from_ref(&path));
        if !reports.is_empty() {
            checks.push(Check::warn(
                "manifest",
                format!(
                    "`{}` is not valid (run `algodeploy validate` for the details); checks go on without it",
                    path.display()
                ),
                None,
            ));
        }
        loaded.pop()
    });
    // `--env NAME` checks that environment of the manifest (its owner and profile).
    let loaded = match (loaded, &args.api.env) {
        (Some(l), Some(env)) => match l.for_environment(env) {
            Some(chosen) => {
                *env_profile = l.environments[env].profile.clone();
                Some(chosen)
            }
            None => {
                checks.push(Check::fail(
                    "manifest",
                    64,
                    format!(
                        "`{}` has no environment `{env}` (it has: {})",
                        l.path.display(),
                        l.environment_names()
                    ),
                    None,
                ));
                None
            }
        },
        (Some(l), None) if !l.environments.is_empty() => {
            checks.push(Check::warn(
                "manifest",
                format!(
                    "`{}` declares environments ({}): `--env NAME` checks one of them",
                    l.path.display(),
                    l.environment_names()
                ),
                None,
            ));
            Some(l)
        }
        (loaded, _) => loaded,
    };
    if let Some(loaded) = &loaded {
        checks.push(Check::ok(
            "manifest",
            format!(
                "{}/{} ({})",
                loaded.manifest.owner,
                loaded.manifest.name,
                loaded.path.display()
            ),
        ));
    }
    let root = loaded
        .as_ref()
        .and_then(|l| crate::git::inspect(&l.path).ok())
        .map(|g| g.root);
    match (&args.owner, loaded) {
        (Some(owner), loaded) => Some(Target {
            owner: owner.clone(),
            name: loaded
                .filter(|l| l.manifest.owner == *owner)
                .map(|l| l.manifest.name),
            root,
        }),
        (None, Some(loaded)) => Some(Target {
            owner: loaded.manifest.owner,
            name: Some(loaded.manifest.name),
            root,
        }),
        (None, None) => None,
    }
}

/// DNS, TCP and (for https) TLS to `base`; whether it can be reached.
async fn network_checks(label: &str, base: &str, trust: &Trust, checks: &mut Vec<Check>) -> bool {
    let Ok(url) = reqwest::Url::parse(base) else {
        checks.push(Check::fail(
            &format!("{label} address"),
            1,
            format!("`{base}` is not a URL"),
            None,
        ));
        return false;
    };
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::lookup_host((lookup.as_str(), port)),
    )
    .await
    {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => {
            checks.push(Check::fail(
                &format!("{label} dns"),
                1,
                format!("cannot resolve `{host}`: {e}"),
                Some(
                    "check the address (--api, ALGORITHMIA_API, api_server or git_server) and DNS"
                        .into(),
                ),
            ));
            return false;
        }
        Err(_) => {
            checks.push(Check::fail(
                &format!("{label} dns"),
                1,
                format!("resolving `{host}` took over 10 s"),
                None,
            ));
            return false;
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    checks.push(Check::ok(
        &format!("{label} dns"),
        format!("{host} → {}", shown.join(", ")),
    ));
    let started = Instant::now();
    let mut stream = None;
    let mut last_error = String::from("no address");
    for addr in &addrs {
        match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
        {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last_error = format!("{addr}: {e}"),
            Err(_) => last_error = format!("{addr}: no answer within 5 s"),
        }
    }
    let Some(stream) = stream else {
        checks.push(Check::fail(
            &format!("{label} tcp"),
            1,
            format!("cannot connect to {host}:{port} ({last_error})"),
            Some("check that the server runs and that no firewall is in the way (a proxy: HTTPS_PROXY)".into()),
        ));
        return false;
    };
    checks.push(Check::ok(
        &format!("{label} tcp"),
        format!(
            "connected to {host}:{port} in {} ms",
            started.elapsed().as_millis()
        ),
    ));
    if url.scheme() != "https" {
        checks.push(Check::warn(
            &format!("{label} tls"),
            "plain http (allowed only to loopback): nothing is encrypted",
            None,
        ));
        return true;
    }
    tls_check(label, &host, stream, trust, checks).await
}

/// A verifier that remembers the end-entity certificate it was shown, then lets webpki judge.
#[derive(Debug)]
struct Recording {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl rustls::client::danger::ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(end_entity.as_ref().to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

async fn tls_check(
    label: &str,
    host: &str,
    stream: tokio::net::TcpStream,
    trust: &Trust,
    checks: &mut Vec<Check>,
) -> bool {
    let name = format!("{label} tls");
    let base = trust.rustls_config();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(trust.root_store());
    let inner =
        match rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
        {
            Ok(inner) => inner,
            Err(e) => {
                checks.push(Check::fail(
                    &name,
                    1,
                    format!("no usable trusted roots ({e})"),
                    None,
                ));
                return false;
            }
        };
    let recording = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    config.alpn_protocols = base.alpn_protocols.clone();
    let server_name = match rustls_pki_types::ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    ) {
        Ok(n) => n,
        Err(e) => {
            checks.push(Check::fail(
                &name,
                1,
                format!("`{host}` is not a valid TLS server name ({e})"),
                None,
            ));
            return false;
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect(server_name, stream),
    )
    .await;
    let seen = recording
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let described = seen.as_deref().map(describe_certificate);
    match result {
        Ok(Ok(tls)) => {
            let version = tls
                .get_ref()
                .1
                .protocol_version()
                .map_or_else(|| "TLS".to_string(), |v| format!("{v:?}").replace('_', "."));
            let (detail, days) =
                described.unwrap_or_else(|| ("no certificate details".into(), None));
            match days {
                Some(days) if days < 14 => checks.push(Check::warn(
                    &name,
                    format!("{version}, trusted; {detail}"),
                    Some("renew the server's certificate soon".into()),
                )),
                _ => checks.push(Check::ok(&name, format!("{version}, trusted; {detail}"))),
            }
            true
        }
        Ok(Err(e)) => {
            let reason = crate::api::certificate_problem(&e).unwrap_or_else(|| e.to_string());
            let shown = described
                .map(|(d, _)| format!("; it presented {d}"))
                .unwrap_or_default();
            checks.push(Check::fail(
                &name,
                1,
                format!("the certificate of `{host}` is not trusted: {reason}{shown}"),
                Some("set `ca_cert = \"/path/to/ca.pem\"` in the profile of ~/.algorithmia/config, or SSL_CERT_FILE=/path/to/ca.pem, to the CA that issued it".into()),
            ));
            false
        }
        Err(_) => {
            checks.push(Check::fail(
                &name,
                1,
                format!("the TLS handshake with `{host}` took over 10 s"),
                None,
            ));
            false
        }
    }
}

/// "subject CN=…, issued by CN=…, expires 2027-01-01 (396 days)", and the days left.
fn describe_certificate(der: &[u8]) -> (String, Option<i64>) {
    use x509_cert::der::Decode;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return ("a certificate that cannot be parsed".into(), None);
    };
    let tbs = cert.tbs_certificate();
    let not_after = SystemTime::UNIX_EPOCH + tbs.validity().not_after.to_unix_duration();
    let days = match not_after.duration_since(SystemTime::now()) {
        Ok(left) => (left.as_secs() / 86_400) as i64,
        Err(past) => -((past.duration().as_secs() / 86_400) as i64) - 1,
    };
    let date = humantime::format_rfc3339_seconds(not_after).to_string();
    let subject = crate::sanitize::line(&tbs.subject().to_string(), None, 120);
    let issuer = crate::sanitize::line(&tbs.issuer().to_string(), None, 120);
    let expiry = if days < 0 {
        format!("expired {}", &date[..10])
    } else {
        format!("expires {} ({days} days)", &date[..10])
    };
    (
        format!("subject {subject}, issued by {issuer}, {expiry}"),
        Some(days),
    )
}

async fn key_checks(client: &Client, target: Option<&Target>, checks: &mut Vec<Check>) {
    let owner = target.map(|t| t.owner.as_str());
    // Without an owner the key is checked against a name nobody owns: 404 or 403 mean accepted.
    let probe_owner = owner.unwrap_or("algodeploydoctor");
    match client.probe_read(probe_owner).await {
        Ok(()) => checks.push(Check::ok(
            "key",
            match owner {
                Some(owner) => format!("accepted; may read {owner}'s algorithms"),
                None => "accepted".into(),
            },
        )),
        Err(ApiError::Unauthorized { message, .. }) => {
            checks.push(Check::fail(
                "key",
                5,
                format!("the API key was rejected (401: {message})"),
                Some("check ALGORITHMIA_API_KEY (or the profile's `api_key`) and that it belongs to this cluster".into()),
            ));
            return;
        }
        Err(e @ ApiError::Forbidden { .. }) if owner.is_some() => {
            checks.push(Check::fail(
                "key",
                5,
                format!("accepted, but {e}"),
                Some(format!(
                    "use a key of {} (or of a member of that organization)",
                    owner.unwrap_or_default()
                )),
            ));
            return;
        }
        Err(ApiError::Forbidden { .. } | ApiError::Status { status: 404, .. }) => {
            checks.push(Check::ok("key", "accepted"));
        }
        Err(e) => {
            checks.push(Check::fail("key", 1, e.to_string(), None));
            return;
        }
    }
    let Some(owner) = owner else {
        checks.push(Check::skip(
            "permission",
            "no owner to check: run in the algorithm's repository, or pass --owner OWNER",
        ));
        return;
    };
    match client.probe_manage(owner).await {
        Ok(true) => checks.push(Check::ok(
            "permission",
            format!("may manage {owner}'s algorithms (create, update, publish)"),
        )),
        Ok(false) => checks.push(Check::warn(
            "permission",
            "the service accepted an empty create request; check the API address",
            None,
        )),
        Err(ApiError::Forbidden { .. }) => checks.push(Check::fail(
            "permission",
            5,
            format!("read-only for {owner}: the key may read but not manage these algorithms"),
            Some(
                "create a key with \"manage my algorithms\" (read and write) for the owner".into(),
            ),
        )),
        Err(e) => checks.push(Check::fail("permission", 1, e.to_string(), None)),
    }
}
