//! Executing a plan: exactly its steps, in order, through `api.rs` and `git.rs`, reporting
//! progress to a [`Reporter`]. It never re-diffs: deciding what to do was the plan's job. It
//! does re-check what a step depends on right before it (HEAD's build is the newest success;
//! the publish answer is the declared version from HEAD).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{ApiError, Client, publish_body};
use crate::config::ApiKey;
use crate::error::Error;
use crate::git::{self, short};
use crate::manifest::Loaded;
use crate::plan::{AlgorithmPlan, Change, Step, desired_fields};
use crate::state::{self, Record};

/// Progress for people: stderr only, a spinner on a terminal, a line every few seconds
/// otherwise.
pub struct Reporter {
    spinner: bool,
}

impl Reporter {
    pub fn new(spinner: bool) -> Reporter {
        Reporter { spinner }
    }

    pub fn line(&self, text: &str) {
        eprintln!("{text}");
    }

    /// Wait for `poll` to give a value, showing `what` with the elapsed time.
    async fn wait<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut poll: F,
    ) -> Result<Option<T>, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, ApiError>>,
    {
        let started = Instant::now();
        let bar = self.spinner.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let mut last_line = Instant::now();
        let mut delay = Duration::from_millis(200);
        let result = loop {
            match poll().await {
                Ok(Some(value)) => break Ok(Some(value)),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            if started.elapsed() >= timeout {
                break Ok(None);
            }
            if bar.is_none() && last_line.elapsed() >= Duration::from_secs(5) {
                eprintln!("{what} ({}s)", started.elapsed().as_secs());
                last_line = Instant::now();
            }
            tokio::time::sleep(delay.min(timeout.saturating_sub(started.elapsed()))).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        result
    }
}

pub struct Context<'a> {
    pub client: &'a Client,
    pub key: &'a ApiKey,
    pub loaded: &'a Loaded,
    pub git_root: &'a std::path::Path,
    pub push: bool,
    pub build_timeout: Duration,
    pub reporter: &'a Reporter,
}

/// The create body: name, details and settings from the manifest.
fn create_body(loaded: &Loaded) -> Value {
    let (details, settings) = sections(loaded, &[]);
    json!({"name": loaded.manifest.name, "details": details, "settings": settings})
}

/// The update body: every managed field; optional fields the plan removes are sent as `null`.
fn update_body(loaded: &Loaded, changes: &[Change]) -> Value {
    let removed: Vec<&str> = changes
        .iter()
        .filter(|c| c.after.is_none())
        .map(|c| c.field.as_str())
        .collect();
    let (details, settings) = sections(loaded, &removed);
    json!({"details": details, "settings": settings})
}

fn sections(loaded: &Loaded, removed: &[&str]) -> (Value, Value) {
    let mut details = serde_json::Map::new();
    let mut settings = serde_json::Map::new();
    for (field, value) in desired_fields(loaded) {
        let (section, name) = field.split_once('.').expect("dotted field");
        let map = if section == "details" {
            &mut details
        } else {
            &mut settings
        };
        map.insert(name.to_string(), value);
    }
    for field in removed {
        let (section, name) = field.split_once('.').expect("dotted field");
        // The runtime is replaced as a whole by the one the manifest names.
        if section == "details" {
            details.insert(name.to_string(), Value::Null);
        }
    }
    (Value::Object(details), Value::Object(settings))
}

fn api_error(algorithm: &str, source: ApiError) -> Error {
    Error::Api {
        algorithm: algorithm.to_string(),
        source: Box::new(source),
    }
}

/// Execute one algorithm's plan; returns the record to save.
pub async fn apply(ctx: &Context<'_>, plan: &AlgorithmPlan) -> Result<Record, Error> {
    let m = &ctx.loaded.manifest;
    let (owner, name) = (m.owner.as_str(), m.name.as_str());
    let algorithm = plan.algorithm.as_str();
    let mut algorithm_id = None;
    let mut version = None;
    for step in &plan.steps {
        match step {
            Step::Create { .. } => {
                ctx.reporter.line(&format!("{algorithm}: creating"));
                let created = ctx
                    .client
                    .create(owner, &create_body(ctx.loaded))
                    .await
                    .map_err(|e| api_error(algorithm, e))?;
                ctx.reporter
                    .line(&format!("{algorithm}: created (id {})", created.id));
                algorithm_id = Some(created.id);
            }
            Step::Update { changes } => {
                ctx.reporter.line(&format!(
                    "{algorithm}: updating {}",
                    changes
                        .iter()
                        .map(|c| c.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let updated = ctx
                    .client
                    .update(owner, name, &update_body(ctx.loaded, changes))
                    .await
                    .map_err(|e| api_error(algorithm, e))?;
                algorithm_id = Some(updated.id);
            }
            Step::Push { commit, remote } => {
                if !ctx.push {
                    return Err(Error::NotPushed {
                        algorithm: algorithm.to_string(),
                        commit: commit.clone(),
                        command: format!("git push {remote} HEAD:master"),
                    });
                }
                ctx.reporter.line(&format!(
                    "{algorithm}: pushing {} to {remote}",
                    short(commit)
                ));
                let (root, remote, user, key, commit) = (
                    ctx.git_root.to_path_buf(),
                    remote.clone(),
                    owner.to_string(),
                    ctx.key.clone(),
                    commit.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    git::push(&root, &remote, &user, &key, &commit)
                })
                .await
                .expect("the push task does not panic")
                .map_err(|source| Error::Git { source })?;
            }
            Step::Publish {
                to,
                bump,
                commit,
                callability,
                ..
            } => {
                wait_for_build(ctx, algorithm, commit).await?;
                ctx.reporter.line(&format!(
                    "{algorithm}: publishing {to} ({} bump) from {}",
                    bump.as_str(),
                    short(commit)
                ));
                let body = publish_body(
                    bump.as_str(),
                    to,
                    commit,
                    callability.as_str(),
                    &m.version_info,
                );
                let published = ctx
                    .client
                    .publish(owner, name, &body)
                    .await
                    .map_err(|e| api_error(algorithm, e))?;
                if published.semantic_version != *to || published.git_hash != *commit {
                    return Err(Error::PublishMismatch {
                        algorithm: algorithm.to_string(),
                        expected: format!("{to} from {}", short(commit)),
                        got: format!(
                            "{} from {}",
                            published.semantic_version,
                            short(&published.git_hash)
                        ),
                    });
                }
                ctx.reporter.line(&format!("{algorithm}: published {to}"));
                version = Some((to.clone(), commit.clone()));
            }
        }
    }
    let algorithm_id = match algorithm_id {
        Some(id) => id,
        None => ctx
            .client
            .algorithm(owner, name)
            .await
            .map_err(|e| api_error(algorithm, e))?
            .map(|a| a.id)
            .unwrap_or_default(),
    };
    let (version, commit) = match version {
        Some((v, c)) => (Some(v), Some(c)),
        None => (
            Some(m.version_info.semantic_version.clone()),
            Some(plan.git.head.clone()),
        ),
    };
    Ok(Record {
        format_version: state::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        algorithm: algorithm.to_string(),
        algorithm_id,
        manifest_digest: plan.manifest_digest.clone(),
        fields: desired_fields(ctx.loaded),
        version,
        commit,
        applied_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    })
}

/// Wait for the build of `commit` to finish; it must succeed and be the newest success.
async fn wait_for_build(ctx: &Context<'_>, algorithm: &str, commit: &str) -> Result<(), Error> {
    let m = &ctx.loaded.manifest;
    let (owner, name) = (m.owner.as_str(), m.name.as_str());
    let what = format!("{algorithm}: waiting for the build of {}", short(commit));
    let finished = ctx
        .reporter
        .wait(&what, ctx.build_timeout, || async {
            let builds = ctx
                .client
                .builds(owner, name, |b| b.iter().any(|b| b.commit == commit))
                .await?;
            Ok(builds
                .into_iter()
                .find(|b| b.commit == commit)
                .filter(|b| b.status != "in-progress")
                .map(|b| (b, ())))
        })
        .await
        .map_err(|e| api_error(algorithm, e))?;
    let Some((build, ())) = finished else {
        return Err(Error::BuildTimeout {
            algorithm: algorithm.to_string(),
            commit: commit.to_string(),
            waited: ctx.build_timeout,
        });
    };
    if build.status != "succeeded" {
        let logs = ctx
            .client
            .build_logs(owner, name, &build.id)
            .await
            .unwrap_or_else(|e| format!("(the log could not be read: {e})"));
        let tail: Vec<&str> = logs
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(Error::BuildFailed {
            algorithm: algorithm.to_string(),
            commit: commit.to_string(),
            log_tail: tail.join("\n"),
        });
    }
    // The real service publishes its latest successful build: it must be this one.
    let builds = ctx
        .client
        .builds(owner, name, |b| b.iter().any(|b| b.status == "succeeded"))
        .await
        .map_err(|e| api_error(algorithm, e))?;
    if let Some(newest) = builds.iter().find(|b| b.status == "succeeded")
        && newest.commit != commit
    {
        return Err(Error::NewerBuild {
            algorithm: algorithm.to_string(),
            head: commit.to_string(),
            newest: newest.commit.clone(),
        });
    }
    Ok(())
}
