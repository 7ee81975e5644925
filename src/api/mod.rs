//! The HTTP client for Algorithmia's management API: one method per endpoint, private wire
//! types written from `docs/api/openapispec.yml` (never shared with the emulator), and one
//! choke point ([`Client::send`]) that turns every non-2xx answer into a typed [`ApiError`].
//!
//! Readers are lenient where the real service was (`docs/api/decisions.md`): `{"error":"text"}`,
//! a bare `{code,message}`, or a proxy's HTML page all become an error with the status and a
//! short, sanitised excerpt. The key goes only in the `Authorization` header, to the configured
//! origin; redirects are not followed.
//!
//! - `error.rs`: [`ApiError`], what is retryable, error bodies as one sanitised line.
//! - `retry.rs`: the backoff, the total wait, `Retry-After`.
//! - `wire.rs`: the answers' wire types, checked before they become `current` types.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::{ApiKey, Config};
use crate::current::{Algorithm, Build, Published};

mod error;
mod retry;
mod wire;

pub use error::{ApiError, certificate_problem};
use error::{error_body, excerpt};
use retry::retry_after;
pub use retry::{RETRY_BUDGET, RetryBudget, retry_policy};
use wire::{WireAlgorithm, WireBuild, WireLogs, WirePage, bad_value, checked_build};

/// Bodies larger than this are refused (a management answer is a few KiB; logs are capped).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// A sink for one-line progress messages meant for people.
pub type Notify = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    api: String,
    key: ApiKey,
    /// Where retries are reported for people (the caller's reporter); `None`: developer logs only.
    notify: Option<Notify>,
    /// Which request last reported each kind of retry, and when: a dead API shows one request's
    /// retries, not those of every request of every algorithm.
    noticed: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
    >,
}

/// How long one kind of retry notice stays quiet after it was shown.
const NOTICE_QUIET: Duration = Duration::from_secs(5);

/// What a call of an algorithm gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Called {
    /// `result` with `metadata.content_type` (`json`, `text` or `binary`, base64).
    Returned { content_type: String, result: Value },
    /// The algorithm raised: its message and stack trace (sanitised).
    Raised {
        message: String,
        stacktrace: String,
        error_type: String,
    },
}

/// The most bytes a paged list may add up to (hundreds of versions are a few MiB).
const MAX_PAGED: usize = 32 * 1024 * 1024;

/// How a page-limit failure starts (builds stop quietly there; other lists fail).
const PAGE_LIMIT: &str = "read the most pages allowed";

impl Client {
    pub fn new(config: &Config, key: ApiKey, trust: &crate::trust::Trust) -> Client {
        // rustls needs a process-wide crypto provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        // Plain http goes only to loopback (config.rs), and never through a proxy, where the
        // key would travel in the clear.
        if config.api.starts_with("http://") {
            builder = builder.no_proxy();
        }
        let http = builder
            .tls_backend_preconfigured(trust.rustls_config())
            .user_agent(concat!("algodeploy/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build()
            .expect("a reqwest client with static settings builds");
        Client {
            http,
            api: config.api.clone(),
            key,
            notify: None,
            noticed: std::sync::Arc::default(),
        }
    }

    /// Report retries through `notify` (one line each) rather than only to developer logs.
    #[must_use]
    pub fn with_notify(mut self, notify: impl Fn(&str) + Send + Sync + 'static) -> Client {
        self.notify = Some(std::sync::Arc::new(notify));
        self
    }

    /// Report a retry: always to developer logs; to people, every retry of the request that
    /// first met this kind of failure (no answer, or the status), and those of other requests
    /// only when that kind has been quiet for [`NOTICE_QUIET`].
    fn notice(&self, error: &ApiError, wait: Duration) {
        let line = format!("retrying in {:.1}s: {error}", wait.as_secs_f64());
        tracing::debug!("{line}");
        let Some(notify) = &self.notify else {
            return;
        };
        let kind = match error.status() {
            Some(status) => format!("status {status}"),
            None => "no answer".to_string(),
        };
        let now = std::time::Instant::now();
        let mut noticed = self
            .noticed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if noticed
            .get(&kind)
            .is_some_and(|(url, at)| url != error.url() && now.duration_since(*at) < NOTICE_QUIET)
        {
            return;
        }
        noticed.insert(kind, (error.url().to_string(), now));
        drop(noticed);
        notify(&line);
    }

    /// The header value, marked sensitive so that no Debug output or log shows it.
    fn authorization(&self) -> reqwest::header::HeaderValue {
        let mut value =
            reqwest::header::HeaderValue::from_str(&format!("Simple {}", self.key.expose()))
                .unwrap_or_else(|_| {
                    reqwest::header::HeaderValue::from_static("Simple invalid-key")
                });
        value.set_sensitive(true);
        value
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.api)
    }

    /// The one place a request is sent and its answer checked.
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let url = self.url(path);
        let full = if query.is_empty() {
            url.clone()
        } else {
            reqwest::Url::parse_with_params(&url, query).map_or_else(|_| url.clone(), String::from)
        };
        let mut request = self
            .http
            .request(method.parse().expect("a valid method"), &full)
            .header("Authorization", self.authorization())
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        tracing::debug!(method, %url, "request");
        let transport = |source| ApiError::Transport {
            method,
            url: url.clone(),
            source,
        };
        let mut response =
            request
                .send()
                .await
                .map_err(|source| match certificate_problem(&source) {
                    Some(reason) => ApiError::Certificate {
                        method,
                        url: url.clone(),
                        host: reqwest::Url::parse(&url)
                            .ok()
                            .and_then(|u| u.host_str().map(str::to_owned))
                            .unwrap_or_default(),
                        reason,
                    },
                    None => transport(source),
                })?;
        let status = response.status().as_u16();
        let retry = retry_after(response.headers());
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(ApiError::Decode {
                    url,
                    status,
                    reason: format!("the body is larger than {} MiB", MAX_BODY / 1024 / 1024),
                    excerpt: excerpt(&bytes, Some(&self.key)),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        tracing::debug!(method, %url, status, "answer");
        if (200..300).contains(&status) {
            return Ok((status, bytes));
        }
        let (code, message) = error_body(&bytes, Some(&self.key));
        Err(match status {
            401 => ApiError::Unauthorized { url, code, message },
            403 => ApiError::Forbidden { url, code, message },
            _ => ApiError::Status {
                method,
                url,
                status,
                code,
                message,
                retry_after: retry,
            },
        })
    }

    /// A GET, retried on connection errors, 429, 500, 502, 503 and 504 with jittered
    /// exponential backoff that honours `Retry-After` (clamped), within a bounded number of
    /// attempts and total time. Other statuses (400, 401, 403, 404, ...) are answers, not
    /// faults, and are never retried.
    async fn read<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        self.read_with(path, query, |_| {}).await
    }

    async fn read_with<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        sized: impl Fn(usize),
    ) -> Result<T, ApiError> {
        use backon::Retryable;
        let budget = RetryBudget::default();
        (|| async {
            let (status, bytes) = self.send("GET", path, query, None).await?;
            sized(bytes.len());
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                url: self.url(path),
                status,
                reason: format!("not the JSON the spec describes ({e})"),
                excerpt: excerpt(&bytes, Some(&self.key)),
            })
        })
        .retry(retry_policy())
        .when(ApiError::is_retryable)
        .adjust(|e, backoff| budget.next(e, backoff))
        .notify(|e, wait| self.notice(e, wait))
        .await
    }

    /// [`Client::read`] that also says how large the body was (for paging limits).
    async fn read_sized<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(T, usize), ApiError> {
        let size = std::sync::atomic::AtomicUsize::new(0);
        let value = self
            .read_with(path, query, |bytes| {
                size.store(bytes, std::sync::atomic::Ordering::Relaxed);
            })
            .await?;
        Ok((value, size.load(std::sync::atomic::Ordering::Relaxed)))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let (status, bytes) = self.send(method, path, query, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
            url: self.url(path),
            status,
            reason: format!("not the JSON the spec describes ({e})"),
            excerpt: excerpt(&bytes, Some(&self.key)),
        })
    }

    /// `None` when the algorithm does not exist.
    pub async fn algorithm(&self, owner: &str, name: &str) -> Result<Option<Algorithm>, ApiError> {
        let path = format!("/algorithms/{owner}/{name}");
        match self.read::<WireAlgorithm>(&path, &[]).await {
            Ok(wire) => wire.into_current(&self.url(&path)).map(Some),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn create(&self, owner: &str, body: &Value) -> Result<Algorithm, ApiError> {
        let path = format!("/algorithms/{owner}");
        let wire: WireAlgorithm = self.json("POST", &path, &[], Some(body)).await?;
        wire.into_current(&self.url(&path))
    }

    pub async fn update(
        &self,
        owner: &str,
        name: &str,
        body: &Value,
    ) -> Result<Algorithm, ApiError> {
        let path = format!("/algorithms/{owner}/{name}");
        let wire: WireAlgorithm = self.json("PUT", &path, &[], Some(body)).await?;
        wire.into_current(&self.url(&path))
    }

    /// The names of `owner`'s algorithms (`--prune`): the spec's array of `{algoname, …}`
    /// (a `{results: [...]}` page is read too). Names that are not algorithm names are refused.
    pub async fn list_algorithms(&self, owner: &str) -> Result<Vec<String>, ApiError> {
        let path = format!("/users/{owner}/algorithms");
        let value: Value = self.read(&path, &[]).await?;
        let items = match &value {
            Value::Array(items) => items.clone(),
            other => other["results"].as_array().cloned().unwrap_or_default(),
        };
        let url = self.url(&path);
        items
            .iter()
            .map(|item| {
                let name = item["algoname"].as_str().unwrap_or("");
                let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Ok(name.to_string())
                } else {
                    Err(bad_value(&url, "an algorithm's `algoname`", name))
                }
            })
            .collect()
    }

    /// The algorithm's secrets (`GET /v1/algorithms/{id}/secrets`): names, never values. The
    /// spec's `{results: [...]}`, or `{secrets: [...]}` as the real service answered.
    pub async fn secrets(
        &self,
        algorithm_id: &str,
    ) -> Result<Vec<crate::current::LiveSecret>, ApiError> {
        let path = format!("/algorithms/{algorithm_id}/secrets");
        let value: Value = self.read(&path, &[]).await?;
        let items = value["results"]
            .as_array()
            .or_else(|| value["secrets"].as_array())
            .cloned()
            .unwrap_or_default();
        let url = self.url(&path);
        items
            .iter()
            .map(|item| {
                let id = item["id"].as_str().unwrap_or("");
                let key = item["secret_key"].as_str().unwrap_or("");
                let valid = !id.is_empty()
                    && id.len() <= 100
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if !valid {
                    return Err(bad_value(&url, "a secret's `id`", id));
                }
                Ok(crate::current::LiveSecret {
                    id: id.to_string(),
                    name: crate::sanitize::line(key, Some(&self.key), 128),
                })
            })
            .collect()
    }

    /// The secret provider to create secrets with: the default one, else the first
    /// (`GET /v1/secret-provider`, as the official client does).
    pub async fn secret_provider(&self) -> Result<Option<String>, ApiError> {
        let value: Value = self.read("/secret-provider", &[]).await?;
        let list = value["results"]
            .as_array()
            .or_else(|| value.as_array())
            .cloned()
            .unwrap_or_default();
        let chosen = list
            .iter()
            .find(|p| p["is_default"] == true)
            .or_else(|| list.first());
        Ok(chosen.and_then(|p| p["id"].as_str()).map(str::to_owned))
    }

    /// Create (`secret_id` None) or edit a secret; `body` holds the value and is never logged.
    pub async fn put_secret(
        &self,
        algorithm_id: &str,
        secret_id: Option<&str>,
        body: &Value,
    ) -> Result<(), ApiError> {
        match secret_id {
            None => {
                let path = format!("/algorithms/{algorithm_id}/secrets");
                self.send("POST", &path, &[], Some(body)).await.map(|_| ())
            }
            Some(id) => {
                let path = format!("/algorithms/{algorithm_id}/secrets/{id}");
                self.send("PUT", &path, &[], Some(body)).await.map(|_| ())
            }
        }
    }

    pub async fn delete_secret(&self, algorithm_id: &str, secret_id: &str) -> Result<(), ApiError> {
        let path = format!("/algorithms/{algorithm_id}/secrets/{secret_id}");
        self.send("DELETE", &path, &[], None).await.map(|_| ())
    }

    /// Delete the algorithm (`destroy`). Its repository, builds and versions go with it.
    pub async fn delete(&self, owner: &str, name: &str) -> Result<(), ApiError> {
        let path = format!("/algorithms/{owner}/{name}");
        self.send("DELETE", &path, &[], None).await.map(|_| ())
    }

    /// Whether the key is accepted and may read `owner`'s algorithms (`doctor`): the first page
    /// of the owner's list.
    pub async fn probe_read(&self, owner: &str) -> Result<(), ApiError> {
        let path = format!("/users/{owner}/algorithms");
        self.send("GET", &path, &[("limit", "1".to_string())], None)
            .await
            .map(|_| ())
    }

    /// Whether the key may manage `owner`'s algorithms (`doctor`), without changing anything:
    /// a create request with an empty body, which the service refuses with 400 for a key that
    /// may create (the body is checked after the permission) and 403 for one that may not.
    /// `Ok(true)`: may manage; `Ok(false)`: the service accepted the empty body (unexpected).
    pub async fn probe_manage(&self, owner: &str) -> Result<bool, ApiError> {
        let path = format!("/algorithms/{owner}");
        match self.send("POST", &path, &[], Some(&json!({}))).await {
            Ok(_) => Ok(false),
            Err(ApiError::Status { status: 400, .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Call one version of an algorithm (the call API, `POST /v1/algo/OWNER/NAME/VERSION`) with
    /// `input` (JSON when it parses as JSON, else text), waiting at most `timeout` on the
    /// server. Faults that mean the call did not run (no connection, 429, 502, 503, 504) are
    /// retried within the retry budget; a 500 is not (the algorithm may have run).
    pub async fn call(
        &self,
        owner: &str,
        name: &str,
        version: &str,
        input: &str,
        timeout: Duration,
    ) -> Result<Called, ApiError> {
        use backon::BackoffBuilder;
        let mut delays = retry_policy().build();
        let budget = RetryBudget::default();
        loop {
            let error = match self.call_once(owner, name, version, input, timeout).await {
                Err(e) if e.is_retryable() && e.status() != Some(500) => e,
                other => return other,
            };
            let Some(wait) = budget.next(&error, delays.next()) else {
                return Err(error);
            };
            self.notice(&error, wait);
            tokio::time::sleep(wait).await;
        }
    }

    async fn call_once(
        &self,
        owner: &str,
        name: &str,
        version: &str,
        input: &str,
        timeout: Duration,
    ) -> Result<Called, ApiError> {
        let path = format!("/algo/{owner}/{name}/{version}");
        let url = self.url(&path);
        let full = format!("{url}?timeout={}", timeout.as_secs().max(1));
        let (content_type, body) = match serde_json::from_str::<Value>(input) {
            Ok(_) => ("application/json", input.to_string()),
            Err(_) => ("text/plain", input.to_string()),
        };
        let transport = |source| ApiError::Transport {
            method: "POST",
            url: url.clone(),
            source,
        };
        let response = self
            .http
            .post(&full)
            .header("Authorization", self.authorization())
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .body(body)
            // The run itself may take the whole timeout.
            .timeout(timeout + Duration::from_secs(30))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        if bytes.len() > MAX_BODY {
            return Err(ApiError::Decode {
                url,
                status,
                reason: format!("the answer is larger than {} MiB", MAX_BODY / 1024 / 1024),
                excerpt: String::new(),
            });
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
            url: url.clone(),
            status,
            reason: format!("not the JSON the call API answers ({e})"),
            excerpt: excerpt(&bytes, Some(&self.key)),
        })?;
        let clean =
            |v: &Value| crate::sanitize::lines(v.as_str().unwrap_or(""), Some(&self.key), 20_000);
        if let Some(error) = value.get("error").filter(|e| e.is_object()) {
            let stacktrace = error
                .get("stacktrace")
                .or_else(|| error.get("stack_trace"))
                .map(clean)
                .unwrap_or_default();
            let message = clean(&error["message"]);
            let error_type =
                crate::sanitize::line(error["error_type"].as_str().unwrap_or(""), None, 60);
            if (200..300).contains(&status) || status == 400 {
                return Ok(Called::Raised {
                    message,
                    stacktrace,
                    error_type,
                });
            }
            let code = error.get("code").and_then(Value::as_i64);
            return Err(match status {
                401 => ApiError::Unauthorized { url, code, message },
                403 => ApiError::Forbidden { url, code, message },
                _ => ApiError::Status {
                    method: "POST",
                    url,
                    status,
                    code,
                    message,
                    retry_after: wait,
                },
            });
        }
        if !(200..300).contains(&status) {
            let (code, message) = error_body(&bytes, Some(&self.key));
            return Err(ApiError::Status {
                method: "POST",
                url,
                status,
                code,
                message,
                retry_after: wait,
            });
        }
        let content_type = value["metadata"]["content_type"]
            .as_str()
            .unwrap_or("json")
            .to_string();
        let result = value.get("result").cloned().unwrap_or(Value::Null);
        Ok(Called::Returned {
            content_type,
            result,
        })
    }

    /// Every published version (paged through), in the API's order.
    pub async fn published_versions(
        &self,
        owner: &str,
        name: &str,
    ) -> Result<Vec<Published>, ApiError> {
        let path = format!("/algorithms/{owner}/{name}/versions");
        let base = [
            ("published", "true".to_string()),
            ("limit", "100".to_string()),
        ];
        let pages: Vec<WireAlgorithm> = match self.pages(&path, &base, 100, |_| false).await {
            Ok(all) => all,
            Err(e) if e.status() == Some(404) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let url = self.url(&path);
        let mut versions = Vec::new();
        for wire in pages {
            if let Some(version) = wire.into_published(&url) {
                versions.push(version?);
            }
        }
        Ok(versions)
    }

    /// Builds newest first, reading pages until `enough` says stop (at most 20 pages: what is
    /// older than the newest 1000 builds does not matter to a plan).
    pub async fn builds(
        &self,
        owner: &str,
        name: &str,
        enough: impl Fn(&[Build]) -> bool,
    ) -> Result<Vec<Build>, ApiError> {
        let path = format!("/algorithms/{owner}/{name}/builds");
        let url = self.url(&path);
        let base = [("limit", "50".to_string())];
        let mut converted = Vec::new();
        let checked = |wire: &WireBuild| checked_build(wire, &url);
        let pages = self
            .pages::<WireBuild>(&path, &base, 20, |page| {
                converted = page.iter().filter_map(|w| checked(w).ok()).collect();
                enough(&converted)
            })
            .await;
        let pages = match pages {
            Ok(all) => all,
            Err(ApiError::Decode { reason, .. }) if reason.starts_with(PAGE_LIMIT) => {
                // Twenty pages read without the build sought: it is not among the newest.
                return Ok(converted);
            }
            Err(e) if e.status() == Some(404) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        pages.iter().map(checked).collect()
    }

    /// Every item of a paged list: follows `marker` until the last page, `stop` says enough
    /// (given everything so far), or it fails loudly: a marker seen before (a server that loops),
    /// more than `max_pages`, or more than [`MAX_PAGED`] bytes in all.
    async fn pages<T: DeserializeOwned>(
        &self,
        path: &str,
        base: &[(&str, String)],
        max_pages: usize,
        mut stop: impl FnMut(&[T]) -> bool,
    ) -> Result<Vec<T>, ApiError> {
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        let mut bytes = 0usize;
        let fail = |reason: String| ApiError::Decode {
            url: self.url(path),
            status: 200,
            reason,
            excerpt: String::new(),
        };
        for _ in 0..max_pages {
            let mut query = base.to_vec();
            if let Some(m) = &marker {
                query.push(("marker", m.clone()));
            }
            let (page, size): (WirePage<T>, usize) = self.read_sized(path, &query).await?;
            bytes += size;
            if bytes > MAX_PAGED {
                return Err(fail(format!(
                    "the pages add up to more than {} MiB",
                    MAX_PAGED / 1024 / 1024
                )));
            }
            items.extend(page.results);
            if stop(&items) {
                return Ok(items);
            }
            match page.marker {
                Some(next) if !next.is_empty() => {
                    if !seen.insert(next.clone()) {
                        return Err(fail(
                            "the server's paging repeats a marker (it would never end)".into(),
                        ));
                    }
                    marker = Some(next);
                }
                _ => return Ok(items),
            }
        }
        Err(fail(format!(
            "{PAGE_LIMIT} ({max_pages}) without reaching the last page"
        )))
    }

    pub async fn build(&self, owner: &str, name: &str, id: &str) -> Result<Build, ApiError> {
        let path = format!("/algorithms/{owner}/{name}/builds/{id}");
        let b: WireBuild = self.read(&path, &[]).await?;
        checked_build(&b, &self.url(&path))
    }

    pub async fn build_logs(&self, owner: &str, name: &str, id: &str) -> Result<String, ApiError> {
        let logs: WireLogs = self
            .read(&format!("/algorithms/{owner}/{name}/builds/{id}/logs"), &[])
            .await?;
        Ok(logs.logs.unwrap_or_default())
    }

    pub async fn publish(
        &self,
        owner: &str,
        name: &str,
        body: &Value,
    ) -> Result<Published, ApiError> {
        let path = format!("/algorithms/{owner}/{name}/versions");
        let wire: WireAlgorithm = self.json("POST", &path, &[], Some(body)).await?;
        let url = self.url(&path);
        wire.into_published(&url).unwrap_or_else(|| {
            Err(ApiError::Decode {
                url: url.clone(),
                status: 200,
                reason: "the publish answer has no `version_info.semantic_version` and `git_hash`"
                    .into(),
                excerpt: String::new(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_every_shape() {
        assert_eq!(
            error_body(
                br#"{"error":{"id":"x","code":1001,"message":"No such algorithm"}}"#,
                None
            ),
            (Some(1001), "No such algorithm".into())
        );
        assert_eq!(
            error_body(br#"{"error":"No such algorithm"}"#, None),
            (None, "No such algorithm".into())
        );
        assert_eq!(
            error_body(br#"{"code":2002,"message":"bad key"}"#, None),
            (Some(2002), "bad key".into())
        );
        let (code, message) = error_body(b"<html><title>502 Bad Gateway</title>\n</html>", None);
        assert_eq!(code, None);
        assert!(
            message.starts_with("not JSON: `<html><title>502 Bad Gateway</title> </html>`"),
            "{message}"
        );
    }

    #[test]
    fn excerpts_drop_key_shaped_words() {
        let body = b"denied for simAAAAAAAAAAAAAAAAAAAAAAAAA today";
        assert_eq!(excerpt(body, None), "denied for (redacted) today");
        let key = ApiKey::new("notKeyShapedButSecret".into());
        let (_, message) = error_body(
            br#"{"error":{"message":"bad auth: Simple notKeyShapedButSecret"}}"#,
            Some(&key),
        );
        assert_eq!(message, "bad auth: Simple (redacted)");
    }

    #[test]
    fn the_retry_budget_holds_whatever_retry_after_asks() {
        let budget = RetryBudget::default();
        let slow = ApiError::Status {
            method: "GET",
            url: "u".into(),
            status: 503,
            code: None,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3600)),
        };
        let mut waited = Duration::ZERO;
        let mut tries = 0;
        while let Some(wait) = budget.next(&slow, Some(Duration::from_millis(250))) {
            waited += wait;
            tries += 1;
            assert!(tries < 100);
        }
        assert!(waited <= RETRY_BUDGET, "{waited:?}");
        assert_eq!(tries, 3, "30 s each (clamped), three fit in 90 s");
        // The backoff ending ends the retries too.
        assert_eq!(RetryBudget::default().next(&slow, None), None);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }
}
