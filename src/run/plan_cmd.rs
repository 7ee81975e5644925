//! `algodeploy plan`: every manifest the run covers is planned; one that cannot be (invalid,
//! dirty, a version conflict, a failed read) is reported beside the others, and the exit code
//! is the most severe class present (`Error::severity`).

use super::gather;
use super::*;
use crate::cli::PlanArgs;

pub fn plan_command(args: &PlanArgs, color: bool) -> Result<Outcome, Error> {
    let (plan, failures) = match plan_inner(args, color) {
        Ok(done) => done,
        Err(error) => {
            if args.format == PlanFormat::Json {
                failure_document(&error, serde_json::json!({"algorithms": []}));
            }
            return Err(error);
        }
    };
    let failure = Error::combine(failures);
    match args.format {
        PlanFormat::Text => match &failure {
            // Nothing could be planned: no "No changes" line; the errors say it all (stderr).
            Some(_) if plan.algorithms.is_empty() && plan.prune.is_empty() => {}
            Some(failure) => out(format!(
                "{}{} more could not be planned: see the errors.\n",
                paint(&plan, color),
                failure_rows(failure).len()
            ))?,
            None => out(paint(&plan, color))?,
        },
        PlanFormat::Json => {
            let mut document = serde_json::to_value(&plan).expect("a plan serializes");
            document["errors"] = failure
                .as_ref()
                .map(Error::to_json)
                .unwrap_or_default()
                .into();
            out(&(serde_json::to_string_pretty(&document).expect("a plan serializes") + "\n"))?;
        }
        PlanFormat::Markdown => out(&(plan
            .render_markdown(&full_plan_where(args.out.as_deref()))
            + &errors_markdown(failure.as_ref())))?,
    }
    step_summary(&plan, args.out.as_deref(), failure.as_ref());
    if let Some(path) = &args.out {
        let mut text = serde_json::to_vec_pretty(&plan).expect("a plan serializes");
        text.push(b'\n');
        state::write_atomic(path, &text).at("write the plan to", path)?;
        eprintln!(
            "saved the plan to {}; review it with `algodeploy show {}`, apply it with `algodeploy apply {}`{}",
            path.display(),
            path.display(),
            path.display(),
            if failure.is_some() {
                " (it holds only the algorithms that could be planned)"
            } else {
                ""
            }
        );
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Outcome::ChangesPending
    } else {
        Outcome::Done
    })
}

/// The plan of what could be planned, and the failures of the rest.
fn plan_inner(args: &PlanArgs, color: bool) -> Result<(Plan, Vec<Error>), Error> {
    watchdog(args.api.timeout);
    let (loaded, invalid) = load_selected(&args.paths, Some(&args.options), color)?;
    let (loaded, api) = super::load::select_environment(loaded, &args.api)?;
    let mut failures: Vec<Error> = invalid.into_iter().collect();
    if loaded.is_empty()
        && let Some(only) = Error::combine(std::mem::take(&mut failures))
    {
        return Err(only);
    }
    let connection = connect(&api)?;
    let (prepared, prepare_failures) = gather::prepare(loaded, &args.options, color);
    failures.extend(prepare_failures);
    let session = Session::new(args.api.timeout);
    let (plan, _, plan_failures) =
        session.block(gather::make_plans(&connection, &prepared, &args.options))?;
    failures.extend(plan_failures);
    Ok((plan, failures))
}
