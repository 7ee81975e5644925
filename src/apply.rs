//! Executing a plan: exactly its steps, in order, through `api/` and `git.rs`, reporting
//! progress to a [`Reporter`]. It never re-diffs: deciding what to do was the plan's job. It
//! does re-check what a step depends on right before it (the deploy commit's build is the newest success;
//! the publish answer is the declared version from the deploy commit).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{ApiError, Called, Client};
use crate::current::BuildStatus;
use crate::error::{About, At, Error};
use crate::git::short;
use crate::plan::{AlgorithmPlan, Step};
use crate::state::{self, Record};
use crate::version::Version;

/// Progress for people: stderr only, a spinner on a terminal, a line every few seconds
/// otherwise.
/// Several algorithms applied at once each get a live line on a terminal (indicatif's
/// multi-progress); without a terminal every line names its algorithm.
pub struct Reporter {
    multi: Option<indicatif::MultiProgress>,
}

impl Reporter {
    pub fn new(spinner: bool) -> Reporter {
        Reporter {
            multi: spinner.then(|| {
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
            }),
        }
    }

    pub fn line(&self, text: &str) {
        let text = &crate::sanitize::inert(text);
        match &self.multi {
            Some(multi) if multi.println(text).is_ok() => {}
            _ => eprintln!("{text}"),
        }
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
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let mut last_line = Instant::now();
        let result = loop {
            if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) != 0 {
                break Ok(None);
            }
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
            // Often while the wait is young, less as it grows: an eighth of the time waited so
            // far (100 ms to 2 s), so a finished build is seen within about 12% of its length
            // and a ten-minute build costs about 300 polls.
            let delay =
                (started.elapsed() / 8).clamp(Duration::from_millis(100), Duration::from_secs(2));
            tokio::time::sleep(delay.min(timeout.saturating_sub(started.elapsed()))).await;
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
            if let Some(multi) = &self.multi {
                multi.remove(&bar);
            }
        }
        result
    }
}

pub struct Context<'a> {
    pub client: &'a Client,
    pub remotes: &'a crate::remote::Remotes,
    /// The manifest the plan was made from (its state record sits beside it).
    pub manifest: &'a std::path::Path,
    pub git_root: &'a std::path::Path,
    pub push: bool,
    pub build_timeout: Duration,
    pub reporter: &'a Reporter,
    /// The last-applied record before this run, if any.
    pub previous: Option<&'a Record>,
}

/// Set by the signal handler (`run.rs`): 2 for SIGINT, 15 for SIGTERM. Apply starts nothing
/// new once it is set; the request in flight finishes.
pub static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

fn check_interrupted() -> Result<(), Error> {
    match INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(Error::Interrupted { signal }),
    }
}

/// A test-only way to die by SIGKILL right after a step's request returned, to prove that a
/// re-run converges (debug builds only; `ALGODEPLOY_TEST_KILL_AFTER=create|update|push|publish`).
fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("ALGODEPLOY_TEST_KILL_AFTER").is_ok_and(|v| v == step) {
        let _ = std::process::Command::new("kill")
            .env_remove("ALGORITHMIA_API_KEY")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(60));
    }
    let _ = step;
}

/// Send a write; when its outcome is unknown (no answer, or a 429/5xx), never resend blindly:
/// re-read the server, carry on if the effect is there, otherwise send once more (bounded).
async fn verified_write<T, S, SF, V, VF>(
    reporter: &Reporter,
    what: &str,
    mut send: S,
    mut verify: V,
) -> Result<T, ApiError>
where
    S: FnMut() -> SF,
    SF: std::future::Future<Output = Result<T, ApiError>>,
    V: FnMut() -> VF,
    VF: std::future::Future<Output = Result<Option<T>, ApiError>>,
{
    use backon::BackoffBuilder;
    let mut delays = crate::api::retry_policy().build();
    let budget = crate::api::RetryBudget::default();
    loop {
        let error = match send().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_retryable() => e,
            Err(e) => return Err(e),
        };
        let Some(delay) = budget.next(&error, delays.next()) else {
            return Err(error);
        };
        reporter.line(&format!(
            "{what}: no clear answer ({error}); checking the server in {:.1}s",
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
        if let Some(done) = verify().await? {
            reporter.line(&format!("{what}: the server has it; carrying on"));
            return Ok(done);
        }
    }
}

/// Execute one algorithm's plan; returns the record to save.
pub async fn apply(ctx: &Context<'_>, plan: &AlgorithmPlan) -> Result<Record, Error> {
    let (owner, name) = (plan.owner.as_str(), plan.name.as_str());
    let algorithm = plan.algorithm.as_str();
    let moved = |what: String| Error::Moved {
        algorithm: algorithm.to_string(),
        what,
    };
    let mut algorithm_id: Option<String> = None;
    // Whether this run created the algorithm (its repository then holds the starter commit).
    let mut created_here = false;
    // Whether "the build succeeded" was said (the test and the publish both wait for it).
    let mut announced = false;
    let mut version = None;
    // The fingerprints of the secrets set so far (the previous record's, then this run's).
    let mut secrets = ctx.previous.map(|r| r.secrets.clone()).unwrap_or_default();
    let mut provider: Option<Option<String>> = None;
    for step in &plan.steps {
        check_interrupted()?;
        match step {
            Step::Secret {
                name: secret,
                from_env,
                change,
                secret_id,
                request,
            } => {
                let id = match &algorithm_id {
                    Some(id) => id.clone(),
                    None => {
                        let found = ctx
                            .client
                            .algorithm(owner, name)
                            .await
                            .about(algorithm)?
                            .ok_or_else(|| moved("it no longer exists".into()))?;
                        algorithm_id = Some(found.id.clone());
                        found.id
                    }
                };
                if *change == crate::plan::SecretChange::Removed {
                    if let Some(secret_id) = secret_id {
                        ctx.client
                            .delete_secret(&id, secret_id)
                            .await
                            .about(algorithm)?;
                    }
                    secrets.remove(secret);
                    ctx.reporter
                        .line(&format!("{algorithm}: secret {secret} removed"));
                    continue;
                }
                let value =
                    crate::secrets::value(from_env).ok_or_else(|| Error::SecretMissing {
                        algorithm: algorithm.to_string(),
                        name: secret.clone(),
                        from_env: from_env.clone(),
                    })?;
                let mut body = request.clone();
                body["secret_value"] = value.clone().into();
                body["owner_type"] = "algorithm".into();
                body["owner_id"] = id.clone().into();
                if secret_id.is_none() {
                    if provider.is_none() {
                        provider = Some(ctx.client.secret_provider().await.about(algorithm)?);
                    }
                    if let Some(Some(p)) = &provider {
                        body["provider_id"] = p.clone().into();
                    }
                }
                ctx.client
                    .put_secret(&id, secret_id.as_deref(), &body)
                    .await
                    .about(algorithm)?;
                let key = crate::secrets::machine_key(ctx.manifest).at(
                    "read the fingerprint key beside",
                    &state::path_for(ctx.manifest),
                )?;
                secrets.insert(
                    secret.clone(),
                    crate::secrets::fingerprint(&key, secret, &value),
                );
                ctx.reporter.line(&format!(
                    "{algorithm}: secret {secret} {}",
                    change.describe()
                ));
            }
            Step::Create { request, .. } => {
                // Another run (another machine) may have created it since the plan.
                if ctx
                    .client
                    .algorithm(owner, name)
                    .await
                    .about(algorithm)?
                    .is_some()
                {
                    return Err(moved("it exists now".into()));
                }
                ctx.reporter.line(&format!("{algorithm}: creating"));
                let created = verified_write(
                    ctx.reporter,
                    algorithm,
                    || ctx.client.create(owner, request),
                    || ctx.client.algorithm(owner, name),
                )
                .await
                .map_err(|e| match e.code() {
                    // The name exists: another run created it between the check and the write.
                    Some(1002) => moved("another run created it first".into()),
                    _ => Error::api(algorithm, e),
                })?;
                ctx.reporter
                    .line(&format!("{algorithm}: created (id {})", created.id));
                save_progress(ctx, plan, &created.id)?;
                algorithm_id = Some(created.id);
                created_here = true;
                crash_point("create");
            }
            Step::Update { changes, request } => {
                let live = ctx.client.algorithm(owner, name).await.about(algorithm)?;
                let Some(live) = live else {
                    return Err(moved("it was deleted".into()));
                };
                let now = &live.fields;
                if let Some(change) = changes
                    .iter()
                    .find(|c| now.get(&c.field) != c.before.as_ref())
                {
                    return Err(moved(format!(
                        "`{}` is now {}",
                        change.field,
                        now.get(&change.field)
                            .map_or("absent".to_string(), ToString::to_string)
                    )));
                }
                ctx.reporter.line(&format!(
                    "{algorithm}: updating {}",
                    changes
                        .iter()
                        .map(|c| c.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let updated = verified_write(
                    ctx.reporter,
                    algorithm,
                    || ctx.client.update(owner, name, request),
                    || async {
                        let live = ctx.client.algorithm(owner, name).await?;
                        Ok(live.filter(|l| {
                            changes
                                .iter()
                                .all(|c| l.fields.get(&c.field) == c.after.as_ref())
                        }))
                    },
                )
                .await
                .about(algorithm)?;
                save_progress(ctx, plan, &updated.id)?;
                algorithm_id = Some(updated.id);
                crash_point("update");
            }
            Step::Push {
                commit,
                remote,
                replaces,
            } => {
                if !ctx.push {
                    return Err(Error::NotPushed {
                        algorithm: algorithm.to_string(),
                        commit: commit.clone(),
                        command: (!created_here).then(|| push_command(remote, commit)),
                    });
                }
                let target = ctx
                    .remotes
                    .effective(ctx.git_root, remote, crate::remote::Op::Push)
                    .await?;
                ctx.reporter.line(&match &target.rule {
                    None => format!("{algorithm}: pushing {} to {remote}", short(commit)),
                    Some(rule) => format!(
                        "{algorithm}: pushing {} to {} (rewritten from {remote} by {rule})",
                        short(commit),
                        target.url
                    ),
                });
                // An algorithm this run created has the platform's starter commit on `master`
                // now: the first push of the user's own history replaces exactly that commit.
                let mut lease = replaces.clone();
                if lease.is_none() && created_here {
                    let master = ctx.remotes.master(ctx.git_root, remote, owner).await?;
                    lease = master.filter(|m| !crate::git::contains(ctx.git_root, commit, m));
                }
                if let Some(starter) = &lease {
                    ctx.reporter.line(&format!(
                        "{algorithm}: replacing the platform's starter commit {}",
                        short(starter)
                    ));
                }
                ctx.remotes
                    .push(ctx.git_root, remote, owner, commit, lease.as_deref())
                    .await?;
                crash_point("push");
            }
            Step::Test {
                commit,
                input,
                expected,
            } => {
                wait_for_build(ctx, plan, commit, &mut announced).await?;
                check_interrupted()?;
                smoke_test(ctx, plan, commit, input, expected.as_deref()).await?;
            }
            Step::Publish {
                from,
                to,
                bump,
                commit,
                request,
                ..
            } => {
                wait_for_build(ctx, plan, commit, &mut announced).await?;
                check_interrupted()?;
                // Re-read what the publish depends on: another run may have published since.
                let published = ctx
                    .client
                    .published_versions(owner, name)
                    .await
                    .about(algorithm)?;
                if let Some(done) = published.iter().find(|p| p.version == *to) {
                    if done.commit == *commit {
                        ctx.reporter.line(&format!(
                            "{algorithm}: {to} is already published from {}",
                            short(commit)
                        ));
                        version = Some((*to, commit.clone()));
                        continue;
                    }
                    return Err(moved(format!(
                        "another run published {to} from {} first",
                        short(&done.commit)
                    )));
                }
                let latest = published.iter().map(|p| p.version).max();
                if latest != *from {
                    return Err(moved(format!(
                        "the latest published version is {} now, not {}",
                        latest.map_or_else(|| "none".to_string(), |v| v.to_string()),
                        from.map_or_else(|| "none".to_string(), |v| v.to_string())
                    )));
                }
                ctx.reporter.line(&format!(
                    "{algorithm}: publishing {to} ({} bump) from {}",
                    bump.as_str(),
                    short(commit)
                ));
                let published = verified_write(
                    ctx.reporter,
                    algorithm,
                    || ctx.client.publish(owner, name, request),
                    || async {
                        let all = ctx.client.published_versions(owner, name).await?;
                        Ok(all
                            .into_iter()
                            .find(|p| p.version == *to && p.commit == *commit))
                    },
                )
                .await;
                let published = match published {
                    Ok(published) => published,
                    // Already published: another run got there between the re-read and now.
                    Err(e) if e.code() == Some(1007) => {
                        let now = ctx
                            .client
                            .published_versions(owner, name)
                            .await
                            .about(algorithm)?;
                        return Err(moved(match now.iter().find(|p| p.commit == *commit) {
                            Some(p) => format!(
                                "another run published {} from {} first",
                                p.version,
                                short(commit)
                            ),
                            None => "another run published this build first".into(),
                        }));
                    }
                    Err(e) => return Err(Error::api(algorithm, e)),
                };
                if published.version != *to || published.commit != *commit {
                    return Err(Error::PublishMismatch {
                        algorithm: algorithm.to_string(),
                        expected: format!("{to} from {}", short(commit)),
                        got: format!("{} from {}", published.version, short(&published.commit)),
                    });
                }
                ctx.reporter.line(&format!("{algorithm}: published {to}"));
                version = Some((*to, commit.clone()));
                crash_point("publish");
            }
        }
    }
    let algorithm_id = match algorithm_id {
        Some(id) => id,
        None => ctx
            .client
            .algorithm(owner, name)
            .await
            .about(algorithm)?
            .map(|a| a.id)
            .unwrap_or_default(),
    };
    let mut record = record(ctx, plan, algorithm_id, version);
    record.secrets = secrets;
    Ok(record)
}

/// The last-applied record after this apply: the plan's desired fields, and the version with
/// the commit it was published from (this run's publish, or what the plan or the previous
/// record said about the same version).
fn record(
    ctx: &Context<'_>,
    plan: &AlgorithmPlan,
    algorithm_id: String,
    published: Option<(Version, String)>,
) -> Record {
    let (version, commit) = match (published, &plan.published_from) {
        (Some((v, c)), _) => (Some(v.to_string()), Some(c)),
        (None, Some(commit)) => (Some(plan.version.to_string()), Some(commit.clone())),
        (None, None) => ctx
            .previous
            .map_or((None, None), |p| (p.version.clone(), p.commit.clone())),
    };
    Record {
        format_version: state::FORMAT_VERSION,
        tool_version: crate::VERSION.into(),
        algorithm: plan.algorithm.clone(),
        algorithm_id,
        manifest_digest: plan.manifest_digest.clone(),
        fields: plan.desired.clone(),
        version,
        commit,
        applied_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        secrets: ctx.previous.map(|p| p.secrets.clone()).unwrap_or_default(),
    }
}

/// After a create or update the fields are applied even if a later step fails or the run is
/// interrupted: record them now, so that drift is measured from what the server was given.
fn save_progress(ctx: &Context<'_>, plan: &AlgorithmPlan, algorithm_id: &str) -> Result<(), Error> {
    Ok(state::save(
        ctx.manifest,
        &record(ctx, plan, algorithm_id.to_string(), None),
    )?)
}

/// How long a smoke test may run (the platform's default call timeout).
const SMOKE_TIMEOUT: Duration = Duration::from_secs(300);

/// Call the exact build with the sample input; the result must be the sample output.
async fn smoke_test(
    ctx: &Context<'_>,
    plan: &AlgorithmPlan,
    commit: &str,
    input: &str,
    expected: Option<&str>,
) -> Result<(), Error> {
    let algorithm = plan.algorithm.as_str();
    ctx.reporter.line(&format!(
        "{algorithm}: testing the build of {} with sample_input",
        short(commit)
    ));
    let called = ctx
        .client
        .call(&plan.owner, &plan.name, commit, input, SMOKE_TIMEOUT)
        .await
        .about(algorithm)?;
    let failed = |actual: String, message: Option<String>, stacktrace: String| Error::SmokeTest {
        failure: Box::new(crate::error::SmokeFailure {
            algorithm: algorithm.to_string(),
            commit: commit.to_string(),
            input: input.to_string(),
            expected: expected.map(str::to_owned),
            actual,
            message,
            stacktrace,
        }),
    };
    match called {
        Called::Raised {
            message,
            error_type,
            ..
        } if error_type == "UnsupportedError" => {
            ctx.reporter
                .line(&format!("{algorithm}: smoke test skipped: {message}"));
            Ok(())
        }
        Called::Raised {
            message,
            stacktrace,
            ..
        } => Err(failed(String::new(), Some(message), stacktrace)),
        Called::Returned {
            content_type,
            result,
        } => {
            let actual = match (&content_type[..], &result) {
                ("binary", Value::String(b64)) => {
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                (_, Value::String(text)) => text.clone(),
                (_, other) => other.to_string(),
            };
            let ok = match expected {
                None => true,
                Some(want) => outputs_equal(want, &actual, &result),
            };
            if ok {
                ctx.reporter.line(&format!(
                    "{algorithm}: smoke test passed{}",
                    if expected.is_some() {
                        " (sample_output matches)"
                    } else {
                        ""
                    }
                ));
                Ok(())
            } else {
                Err(failed(actual, None, String::new()))
            }
        }
    }
}

/// JSON-equal when both parse as JSON, else the exact text.
fn outputs_equal(expected: &str, actual: &str, result: &Value) -> bool {
    if expected == actual {
        return true;
    }
    match serde_json::from_str::<Value>(expected) {
        Ok(want) => {
            want == *result || serde_json::from_str::<Value>(actual).is_ok_and(|a| a == want)
        }
        Err(_) => false,
    }
}

/// Wait for the build of `commit` to finish; it must succeed and be the newest success.
async fn wait_for_build(
    ctx: &Context<'_>,
    plan: &AlgorithmPlan,
    commit: &str,
    announced: &mut bool,
) -> Result<(), Error> {
    let (owner, name) = (plan.owner.as_str(), plan.name.as_str());
    let algorithm = plan.algorithm.as_str();
    let what = format!("{algorithm}: waiting for the build of {}", short(commit));
    // Each poll reads the builds down to this commit's (newest first): when it has finished,
    // the same list says whether a newer build succeeded, with no second request.
    let finished = ctx
        .reporter
        .wait(&what, ctx.build_timeout, || async {
            let builds = ctx
                .client
                .builds(owner, name, |b| b.iter().any(|b| b.commit == commit))
                .await?;
            let Some(at) = builds.iter().position(|b| b.commit == commit) else {
                return Ok(None);
            };
            // Only a finished build ends the wait: queued, in progress, or a status this
            // version does not know yet keep it waiting (the build timeout bounds it).
            if !builds[at].status.is_finished() {
                return Ok(None);
            }
            let newer_success = builds[..at]
                .iter()
                .find(|b| b.status == BuildStatus::Succeeded)
                .map(|b| b.commit.clone());
            Ok(Some((builds[at].clone(), newer_success)))
        })
        .await
        .about(algorithm)?;
    let Some((build, newer_success)) = finished else {
        check_interrupted()?;
        return Err(Error::BuildTimeout {
            algorithm: algorithm.to_string(),
            commit: commit.to_string(),
            waited: ctx.build_timeout,
        });
    };
    if build.status != BuildStatus::Succeeded {
        let logs = ctx
            .client
            .build_logs(owner, name, &build.id)
            .await
            .unwrap_or_else(|e| format!("(the log could not be read: {e})"));
        let logs = crate::sanitize::lines(&logs, None, 64 * 1024);
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
    if !*announced {
        ctx.reporter.line(&format!(
            "{algorithm}: the build of {} succeeded",
            short(commit)
        ));
        *announced = true;
    }
    // The real service publishes its latest successful build: it must be this one.
    if let Some(newest) = newer_success
        && newest != commit
    {
        return Err(Error::NewerBuild {
            algorithm: algorithm.to_string(),
            head: commit.to_string(),
            newest,
        });
    }
    Ok(())
}

/// The `git push` a person runs instead of `apply --push`: HEAD itself needs no object name;
/// a derived deploy commit exists only in the local repository's objects.
pub fn push_command(remote: &str, commit: &str) -> String {
    format!("git push {remote} {commit}:refs/heads/master")
}
