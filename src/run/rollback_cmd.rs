//! `algodeploy rollback [PATH] --to VERSION`: publish the code of an earlier published version
//! as the next patch version. A rollback commit with that version's tree is made on top of the
//! remote `master` (a fast-forward, so nothing is lost), pushed, built, smoke-tested with that
//! version's samples and published with release notes naming the rollback; plan, confirmation,
//! `--yes`, JSON and exit codes as `apply`. The next `plan` says the newest version is a
//! rollback and what publishing HEAD again needs; the next publish replaces the rollback commit
//! (a push with a lease on it).

use super::apply_cmd::confirm;
use super::gather;
use super::*;
use crate::apply::{self, Reporter};
use crate::cli::RollbackArgs;
use crate::git::Doing;
use crate::plan::{AlgorithmPlan, GitSummary, Step};
use crate::version::{Bump, Version};

pub fn rollback_command(args: &RollbackArgs, color: bool) -> Result<Outcome, Error> {
    let mut done: Option<(Plan, Vec<state::Record>)> = None;
    let result = rollback_inner(args, color, &mut done);
    if args.format == PlanFormat::Json
        && let Err(error) = &result
    {
        let (plan, applied) = done.unwrap_or((Plan::new(Vec::new(), String::new()), Vec::new()));
        failure_document(error, serde_json::json!({"plan": plan, "applied": applied}));
    }
    result
}

fn rollback_inner(
    args: &RollbackArgs,
    color: bool,
    done: &mut Option<(Plan, Vec<state::Record>)>,
) -> Result<Outcome, Error> {
    watchdog(args.api.timeout);
    interrupt_handler();
    let to = Version::parse(&args.to).ok_or_else(|| Error::Usage {
        message: format!("--to `{}` is not a version (MAJOR.MINOR.PATCH)", args.to),
    })?;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("algorithm.yaml"));
    let loaded = load_all(std::slice::from_ref(&path), color)?;
    let (loaded, api) = super::load::select_environment(loaded, &args.api)?;
    if loaded.len() != 1 {
        return Err(Error::Usage {
            message: format!(
                "`{}` holds {} manifests; roll back one at a time",
                path.display(),
                loaded.len()
            ),
        });
    }
    let connection = connect(&api)?;
    let _locks = lock_all(&loaded, std::time::Duration::ZERO)?;
    let options = PlanOptions {
        allow_dirty: true,
        strict_version: false,
        no_strict_version: true,
        skip_smoke_test: false,
        changed_since: None,
        shard: None,
        prune: false,
        parallelism: 1,
    };
    // The deploy source is derived as for a plan: in a monorepo the commits of earlier
    // versions are derived (and so in the local repository) on the way.
    let (prepared, failures) = gather::prepare(loaded, &options, color);
    if let Some(error) = Error::combine(failures) {
        return Err(error);
    }
    let p = &prepared[0];
    let (owner, name) = (&p.loaded.manifest.owner, &p.loaded.manifest.name);
    let algorithm = p.algorithm();
    let session = Session::new(args.api.timeout);
    let live = session
        .block(gather::read_all(&connection, &prepared, 1))?
        .pop()
        .expect("one read")?;
    if live.algorithm.is_none() {
        return Err(Error::NoAlgorithm {
            algorithm: algorithm.clone(),
        });
    }
    let conflict = |message: String, hint: String| Error::Conflict {
        conflicts: vec![crate::plan::Conflict {
            algorithm: algorithm.clone(),
            message,
            hint,
        }],
    };
    let mut versions: Vec<Version> = live.published.iter().map(|v| v.version).collect();
    versions.sort();
    let Some(target) = live.published.iter().find(|v| v.version == to) else {
        return Err(conflict(
            format!("{to} is not a published version"),
            format!(
                "published: {}",
                versions
                    .iter()
                    .rev()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let latest = live
        .published
        .iter()
        .max_by_key(|v| v.version)
        .expect("a published version");
    if latest.version == to {
        return Err(conflict(
            format!("{to} is the newest published version already"),
            "roll back to an earlier version".into(),
        ));
    }
    let master = live.remote_master.clone().ok_or_else(|| {
        conflict(
            "the algorithm's repository has no `master` to build on".into(),
            "push and publish first".into(),
        )
    })?;
    let repo = git::discover(&p.loaded.path)?;
    let missing = |commit: &str, what: &str| {
        conflict(
            format!(
                "the commit {} of {what} is not in this repository",
                git::short(commit)
            ),
            format!(
                "fetch it: `git fetch {} {commit}`, then roll back again",
                live.remote
            ),
        )
    };
    let rollback = {
        let oid = |sha: &str| git2::Oid::from_str(sha).ok();
        let old = oid(&target.commit)
            .and_then(|o| repo.find_commit(o).ok())
            .ok_or_else(|| missing(&target.commit, &format!("version {to}")))?;
        let parent = oid(&master)
            .and_then(|o| repo.find_commit(o).ok())
            .ok_or_else(|| missing(&master, "the remote `master`"))?;
        let tree = old.tree().doing("read a version's tree")?;
        let signature = repo
            .signature()
            .or_else(|_| git2::Signature::now("algodeploy", "algodeploy@localhost"))
            .doing("sign the rollback commit")?;
        let message = format!(
            "{}{to}\n\nThe code of {to} ({}), published again as {}.\n\n{}{to}\nAlgodeploy-Rollback-Commit: {}\n",
            crate::plan::ROLLBACK_NOTE,
            git::short(&target.commit),
            latest.version.bumped(Bump::Revision),
            crate::deploy::ROLLBACK_TRAILER,
            target.commit
        );
        repo.commit(None, &signature, &signature, &message, &tree, &[&parent])
            .doing("make the rollback commit")?
            .to_string()
    };
    let next = latest.version.bumped(Bump::Revision);
    let callability = latest
        .callability
        .or(target.callability)
        .unwrap_or(p.loaded.manifest.settings.algorithm_callability);
    let notes = match target
        .release_notes
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        Some(n) => format!("{}{to}: {n}", crate::plan::ROLLBACK_NOTE),
        None => format!("{}{to}", crate::plan::ROLLBACK_NOTE),
    };
    let info = crate::manifest::VersionInfo {
        semantic_version: next.to_string(),
        release_notes: Some(notes.clone()),
        sample_input: target.sample_input.clone(),
        sample_output: target.sample_output.clone(),
    };
    let mut steps = vec![Step::Push {
        commit: rollback.clone(),
        remote: live.remote.clone(),
        replaces: None,
    }];
    if let Some(input) = &target.sample_input {
        steps.push(Step::Test {
            commit: rollback.clone(),
            input: input.clone(),
            expected: target.sample_output.clone(),
        });
    }
    steps.push(Step::Publish {
        from: Some(latest.version),
        to: next,
        bump: Bump::Revision,
        commit: rollback.clone(),
        callability,
        release_notes: Some(notes),
        sample_input: target.sample_input.clone(),
        sample_output: target.sample_output.clone(),
        request: crate::plan::publish_request(Bump::Revision, next, &rollback, callability, &info),
    });
    let algorithm_plan = AlgorithmPlan {
        algorithm: algorithm.clone(),
        owner: owner.clone(),
        name: name.clone(),
        manifest: crate::diagnostic::display_path(&p.loaded.path),
        environment: p.loaded.environment.clone(),
        version: next,
        published_from: None,
        steps,
        drift: Vec::new(),
        pending: Vec::new(),
        notes: vec![format!(
            "rollback: {next} republishes the code of {to} ({}) on top of `master` {}",
            git::short(&target.commit),
            git::short(&master)
        )],
        git: GitSummary {
            head: p.git.head.clone(),
            deploy_commit: rollback.clone(),
            folders: if p.source.whole {
                Vec::new()
            } else {
                p.source.folders.clone()
            },
            branch: p.git.branch.clone(),
            remote: live.remote.clone(),
            remote_master: Some(master.clone()),
            build: None,
            build_id: None,
        },
        desired: crate::fields::desired(&p.loaded),
        manifest_digest: plan::manifest_digest(
            p.loaded.source.as_bytes(),
            p.loaded.summary.as_deref(),
        ),
        live_digest: plan::live_digest(&live),
    };
    let made_in = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let plan = Plan::new(vec![algorithm_plan], made_in);
    *done = Some((plan.clone(), Vec::new()));
    if args.format == PlanFormat::Text {
        out(paint(&plan, color))?;
    }
    confirm(args.yes)?;
    let reporter = Reporter::new(color && std::io::stderr().is_terminal());
    let ctx = apply::Context {
        client: &connection.client,
        remotes: &connection.remotes,
        manifest: &p.loaded.path,
        git_root: &p.git.root,
        push: true,
        build_timeout: args.build_timeout,
        reporter: &reporter,
        previous: p.record.as_ref(),
    };
    let record = session.block(apply::apply(&ctx, &plan.algorithms[0]))??;
    state::save(&p.loaded.path, &record)?;
    *done = Some((plan.clone(), vec![record.clone()]));
    match args.format {
        PlanFormat::Json => {
            let result = serde_json::json!({"format_version": plan::FORMAT_VERSION, "plan": plan, "applied": [record], "errors": []});
            out(&(serde_json::to_string_pretty(&result).expect("a result serializes") + "\n"))?;
        }
        PlanFormat::Markdown => out(plan.render_markdown("in the job's log"))?,
        PlanFormat::Text => eprintln!("Rollback complete: {next} publishes the code of {to}."),
    }
    Ok(Outcome::Done)
}
