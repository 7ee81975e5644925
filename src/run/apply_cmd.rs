//! `algodeploy apply`: plan (or take a saved plan), check what can be known before the first
//! write (preflight), confirm, then apply up to `--parallelism` algorithms at once, each one's
//! steps in order. A failure stops only its algorithm (`--fail-fast`: no new ones start); state
//! records are saved per algorithm as each finishes; the end is a table of every algorithm's
//! result and an exit code by `Error::severity`.

use std::sync::atomic::{AtomicBool, Ordering};

use super::gather::{self, Prepared};
use super::*;
use crate::apply::{self, Reporter};
use crate::cli::ApplyArgs;

pub(super) fn confirm(yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::NeedsYes);
    }
    eprint!("Apply these changes? Only `yes` is accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .at("read the answer from", Path::new("standard input"))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// What apply can know before its first write: every push it needs is allowed, and (with
/// `--push`, when an algorithm is created) git can reach the git host with the key. Dirty
/// trees, version rules, stale plans and locks were checked while planning.
fn preflight(plan: &Plan, push: bool, delete_published: bool) -> Result<(), Error> {
    // Every secret's value must be here before anything is written.
    for algorithm in &plan.algorithms {
        for step in &algorithm.steps {
            if let plan::Step::Secret {
                name,
                from_env,
                change,
                ..
            } = step
                && *change != plan::SecretChange::Removed
                && crate::secrets::value(from_env).is_none()
            {
                return Err(Error::SecretMissing {
                    algorithm: algorithm.algorithm.clone(),
                    name: name.clone(),
                    from_env: from_env.clone(),
                });
            }
        }
    }
    if let Some(orphan) = plan
        .prune
        .iter()
        .find(|o| !o.published.is_empty() && !delete_published)
    {
        return Err(Error::HasPublished {
            algorithm: orphan.algorithm.clone(),
            versions: orphan.published.clone(),
        });
    }
    if push {
        return Ok(());
    }
    // Every algorithm that needs a push is named, each with its manifest.
    let needed: Vec<Error> = plan
        .algorithms
        .iter()
        .filter_map(|a| {
            let new = a
                .steps
                .iter()
                .any(|s| matches!(s, plan::Step::Create { .. }));
            a.steps.iter().find_map(|s| match s {
                plan::Step::Push { commit, remote, .. } => Some(
                    Error::NotPushed {
                        algorithm: a.algorithm.clone(),
                        commit: commit.clone(),
                        command: (!new).then(|| apply::push_command(remote, commit)),
                    }
                    .located(&a.manifest, Some(&a.algorithm)),
                ),
                _ => None,
            })
        })
        .collect();
    match Error::combine(needed) {
        None => Ok(()),
        Some(error) => Err(error),
    }
}

/// With `--push`, an algorithm that does not exist yet was planned without any git read: one
/// read of a new algorithm's (missing) repository per run proves, before anything is created,
/// that git runs, trusts the host and may use the key there.
async fn probe_git(
    connection: &Connection,
    plan: &Plan,
    prepared: &[Prepared],
    indices: &[usize],
) -> Result<(), Error> {
    let first_new = plan.algorithms.iter().zip(indices).find(|(a, _)| {
        a.steps
            .iter()
            .any(|s| matches!(s, plan::Step::Create { .. }))
            && a.steps.iter().any(|s| matches!(s, plan::Step::Push { .. }))
    });
    let Some((algorithm, &index)) = first_new else {
        return Ok(());
    };
    match connection
        .remotes
        .master(
            &prepared[index].git.root,
            &algorithm.git.remote,
            &algorithm.owner,
        )
        .await
    {
        Ok(_) | Err(crate::remote::RemoteError::NotFound { .. }) => Ok(()),
        Err(source) => Err(Error::Git {
            source: git::GitError::Remote { source },
        }
        .located(&algorithm.manifest, Some(&algorithm.algorithm))),
    }
}

pub fn apply_command(args: &ApplyArgs, color: bool) -> Result<Outcome, Error> {
    let mut done = Done::default();
    let result = apply_inner(args, color, &mut done);
    if args.format == PlanFormat::Json
        && let Err(error) = &result
    {
        // What was done before the failure is part of the document.
        failure_document(
            error,
            serde_json::json!({"plan": done.plan, "applied": done.records}),
        );
    }
    result
}

/// What an apply did, kept for its JSON document when it fails part-way.
#[derive(Default)]
struct Done {
    plan: Option<Plan>,
    records: Vec<state::Record>,
}

/// How one algorithm's apply ended.
enum Ended {
    Applied(state::Record),
    Failed(Error),
    /// `--fail-fast` after another failure, or an interruption, before it started.
    NotStarted,
}

fn apply_inner(args: &ApplyArgs, color: bool, done: &mut Done) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    interrupt_handler();
    let session = Session::new(args.api.timeout);
    let plan_file = args
        .plan
        .clone()
        .or_else(|| super::saved::saved_plan_path(&args.paths));
    let mut failures: Vec<Error> = Vec::new();
    let (prepared, plan, indices, connection, _locks) = match &plan_file {
        Some(file) => {
            let saved = super::saved::read_plan_file(file)?;
            let paths = super::saved::plan_manifests(&saved, file)?;
            // A plan of nothing (a `--changed-since` run that selected no manifest) applies
            // as nothing: no manifest is read, least of all `./algorithm.yaml`.
            let loaded = if paths.is_empty() {
                Vec::new()
            } else {
                load_all(&paths, color)?
            };
            let (loaded, api) = super::load::select_environment(loaded, &args.api)?;
            let connection = connect(&api)?;
            let locks = lock_all(&loaded, args.lock_timeout)?;
            let (prepared, prepare_failures) = gather::prepare(loaded, &args.options, color);
            if let Some(error) = Error::combine(prepare_failures) {
                return Err(error);
            }
            let (fresh, indices, plan_failures) =
                session.block(gather::make_plans(&connection, &prepared, &args.options))?;
            if let Some(error) = Error::combine(plan_failures) {
                return Err(error);
            }
            super::saved::check_fresh(&saved, &prepared, &fresh)?;
            if args.format == PlanFormat::Text {
                out(paint(&saved, color))?;
            }
            if saved.prune != fresh.prune {
                return Err(Error::Stale {
                    reasons: vec![
                        "the algorithms to prune are not what the plan lists (an algorithm was created, deleted or published since)".into(),
                    ],
                });
            }
            preflight(&saved, args.push, args.delete_published)?;
            (prepared, saved, indices, connection, locks)
        }
        None => {
            let (loaded, invalid) = load_selected(&args.paths, Some(&args.options), color)?;
            let (loaded, api) = super::load::select_environment(loaded, &args.api)?;
            failures.extend(invalid);
            if loaded.is_empty()
                && let Some(only) = Error::combine(std::mem::take(&mut failures))
            {
                return Err(only);
            }
            let connection = connect(&api)?;
            let locks = lock_all(&loaded, args.lock_timeout)?;
            let (prepared, prepare_failures) = gather::prepare(loaded, &args.options, color);
            failures.extend(prepare_failures);
            let (plan, indices, plan_failures) =
                session.block(gather::make_plans(&connection, &prepared, &args.options))?;
            failures.extend(plan_failures);
            if args.format == PlanFormat::Text
                && (failures.is_empty() || !plan.algorithms.is_empty() || !plan.prune.is_empty())
            {
                out(paint(&plan, color))?;
            }
            if !plan.prune.is_empty() && !failures.is_empty() {
                // Pruning needs every manifest planned: one that failed may declare an
                // algorithm that would look orphaned.
                return Err(Error::combine(failures).expect("failures"));
            }
            preflight(&plan, args.push, args.delete_published)?;
            if plan.has_changes() {
                confirm(args.yes)?;
            }
            (prepared, plan, indices, connection, locks)
        }
    };
    if args.push {
        session.block(probe_git(&connection, &plan, &prepared, &indices))??;
    }
    done.plan = Some(plan.clone());
    let ended = session.block(apply_all(
        args,
        color,
        &connection,
        &plan,
        &prepared,
        &indices,
    ))?;
    // Pruning comes after the algorithms that stay (a failure among them stops it).
    let mut pruned = Vec::new();
    if !plan.prune.is_empty() {
        let ok = ended.iter().all(|e| matches!(e, Ended::Applied(_)));
        for orphan in &plan.prune {
            if !ok || apply::INTERRUPTED.load(Ordering::SeqCst) != 0 {
                pruned.push((orphan.algorithm.clone(), "not started".to_string()));
                continue;
            }
            match session.block(connection.client.delete(&orphan.owner, &orphan.name))? {
                Ok(()) => {
                    eprintln!("{}: destroyed (no manifest declares it)", orphan.algorithm);
                    pruned.push((orphan.algorithm.clone(), "destroyed".to_string()));
                }
                Err(source) => {
                    let error = Error::api(&orphan.algorithm, source);
                    pruned.push((
                        orphan.algorithm.clone(),
                        format!("failed ({}, exit {})", error.code(), error.exit_code()),
                    ));
                    failures.push(error);
                }
            }
        }
    }
    // Those that failed before anything started (invalid, dirty, a conflict) are rows too.
    let mut table: Vec<(String, String)> = failures.iter().flat_map(super::failure_rows).collect();
    for (algorithm, ended) in plan.algorithms.iter().zip(ended) {
        let result = match ended {
            Ended::Applied(record) => {
                let result = if algorithm.has_changes() {
                    let verbs: Vec<&str> =
                        algorithm.steps.iter().map(|s| s.action().verb()).collect();
                    format!("applied: {}", verbs.join(", "))
                } else {
                    "no changes".to_string()
                };
                done.records.push(record);
                result
            }
            Ended::Failed(error) => {
                let result = format!("failed ({}, exit {})", error.code(), error.exit_code());
                failures.push(error.located(&algorithm.manifest, Some(&algorithm.algorithm)));
                result
            }
            Ended::NotStarted => "not started".to_string(),
        };
        table.push((algorithm.algorithm.clone(), result));
    }
    table.extend(pruned);
    let failure = Error::combine(failures);
    let s = &plan.summary;
    // The job's summary: what was applied and how each algorithm ended.
    let summary = plan.render_markdown_titled("algodeploy apply", "in the job's log")
        + &results_markdown(&table)
        + &super::errors_markdown(failure.as_ref());
    super::step_summary_text(&summary);
    match args.format {
        PlanFormat::Json if failure.is_none() => {
            let result = serde_json::json!({"format_version": plan::FORMAT_VERSION, "plan": plan, "applied": done.records, "errors": []});
            out(&(serde_json::to_string_pretty(&result).expect("a result serializes") + "\n"))?;
        }
        PlanFormat::Json => {}
        PlanFormat::Markdown => out(&summary)?,
        PlanFormat::Text => {
            if plan.algorithms.len() > 1 || failure.is_some() {
                eprint!("{}", results_text(&table));
            }
            if failure.is_none() && plan.has_changes() {
                eprintln!(
                    "Apply complete: {} created, {} updated, {} pushed, {} published{}{}.",
                    s.create,
                    s.update,
                    s.push,
                    s.publish,
                    match s.secret {
                        0 => String::new(),
                        1 => ", 1 secret set or removed".to_string(),
                        n => format!(", {n} secrets set or removed"),
                    },
                    if s.destroy > 0 {
                        format!(", {} destroyed", s.destroy)
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    match failure {
        Some(failure) => Err(failure),
        None => Ok(Outcome::Done),
    }
}

/// Every algorithm's steps, `--parallelism` algorithms at a time.
async fn apply_all(
    args: &ApplyArgs,
    color: bool,
    connection: &Connection,
    plan: &Plan,
    prepared: &[Prepared],
    indices: &[usize],
) -> Vec<Ended> {
    let reporter = Arc::new(Reporter::new(
        color && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    ));
    let permits = Arc::new(tokio::sync::Semaphore::new(usize::from(
        args.options.parallelism,
    )));
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (algorithm_plan, &index)) in plan.algorithms.iter().zip(indices).enumerate() {
        let p = &prepared[index];
        let (client, remotes, manifest, git_root, previous, algorithm_plan) = (
            connection.client.clone(),
            connection.remotes.clone(),
            p.loaded.path.clone(),
            p.git.root.clone(),
            p.record.clone(),
            algorithm_plan.clone(),
        );
        let (reporter, permits, failed) = (reporter.clone(), permits.clone(), failed.clone());
        let (push, build_timeout, fail_fast) = (args.push, args.build_timeout, args.fail_fast);
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            if (fail_fast && failed.load(Ordering::SeqCst))
                || apply::INTERRUPTED.load(Ordering::SeqCst) != 0
            {
                return (n, Ended::NotStarted);
            }
            let ctx = apply::Context {
                client: &client,
                remotes: &remotes,
                manifest: &manifest,
                git_root: &git_root,
                push,
                build_timeout,
                reporter: &reporter,
                previous: previous.as_ref(),
            };
            let result = async {
                let record = apply::apply(&ctx, &algorithm_plan).await?;
                state::save(&manifest, &record)?;
                Ok::<_, Error>(record)
            }
            .await;
            match result {
                Ok(record) => (n, Ended::Applied(record)),
                Err(error) => {
                    failed.store(true, Ordering::SeqCst);
                    (n, Ended::Failed(error))
                }
            }
        });
    }
    let mut ended: Vec<Option<Ended>> = (0..plan.algorithms.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (n, result) = joined.expect("an apply task does not panic");
        ended[n] = Some(result);
    }
    ended
        .into_iter()
        .map(|e| e.expect("every algorithm ends"))
        .collect()
}

fn results_text(table: &[(String, String)]) -> String {
    let width = table
        .iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = String::from("\nResults:\n");
    for (algorithm, result) in table {
        text.push_str(&format!("  {algorithm:<width$}  {result}\n"));
    }
    text
}

fn results_markdown(table: &[(String, String)]) -> String {
    let mut text = String::from("\n### Results\n\n| algorithm | result |\n|---|---|\n");
    for (algorithm, result) in table {
        text.push_str(&format!(
            "| `{}` | {} |\n",
            crate::plan::markdown_cell(algorithm),
            crate::plan::markdown_cell(result)
        ));
    }
    text
}
