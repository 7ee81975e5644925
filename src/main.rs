//! Entry point: parse flags, set up tracing, run one command, map the result to an exit code
//! and one printed error.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use algodeploy::cli::{Cli, Command};
use algodeploy::error::Error;
use algodeploy::run::{self, Outcome};
use algodeploy::{manifest, validate};

/// Exit code for command-line usage errors (BSD `EX_USAGE`).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    // git runs `algodeploy git-credential get|store|erase` (never a person): answered before
    // the flags are parsed, so that no help or completion offers it.
    let mut argv = std::env::args_os().skip(1);
    if argv
        .next()
        .is_some_and(|a| a == algodeploy::cli::GIT_CREDENTIAL)
    {
        let action = argv
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::process::exit(algodeploy::credential::helper(&action));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // One colour decision, anstream's (the CLICOLOR spec): `--color never` and `--no-color`
    // win, then `--color always`; on auto NO_COLOR turns colour off, CLICOLOR_FORCE forces it
    // even into a pipe, CLICOLOR=0 and TERM=dumb turn it off, otherwise colour only on a
    // terminal. Without colour there are no spinners either.
    let choice = match cli.global.color {
        _ if cli.global.no_color => anstream::ColorChoice::Never,
        algodeploy::cli::ColorChoice::Never => anstream::ColorChoice::Never,
        algodeploy::cli::ColorChoice::Always => anstream::ColorChoice::Always,
        // anstream colours a terminal under CI whatever TERM says; TERM=dumb means none
        // (unless CLICOLOR_FORCE).
        algodeploy::cli::ColorChoice::Auto
            if std::env::var_os("TERM").is_some_and(|t| t == "dumb")
                && std::env::var_os("CLICOLOR_FORCE").is_none_or(|v| v.is_empty() || v == "0") =>
        {
            anstream::ColorChoice::Never
        }
        algodeploy::cli::ColorChoice::Auto => anstream::ColorChoice::Auto,
    };
    choice.write_global();
    let color = anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never;
    init_tracing(cli.global.verbose, color);
    match run(&cli, color) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ChangesPending) => ExitCode::from(2),
        Err(Error::Output { source }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(err) => {
            // validate reports in its own formats (`--format github` annotations included).
            let annotate = !matches!(cli.command, Command::Validate(_));
            report(&err, color, annotate);
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(1))
        }
    }
}

/// The one dispatch: each command to its module.
fn run(cli: &Cli, color: bool) -> Result<Outcome, Error> {
    let done = |result: Result<(), Error>| result.map(|()| Outcome::Done);
    match &cli.command {
        Command::Validate(args) => done(validate::run(args, color)),
        Command::Plan(args) => run::plan_command(args, color),
        Command::Apply(args) => run::apply_command(args, color),
        Command::Import(args) => run::import_command(args),
        Command::Show(args) => run::show_command(args, color),
        Command::History(args) => run::history_command(args),
        Command::Init(args) => done(algodeploy::init::run(args)),
        Command::Destroy(args) => run::destroy_command(args),
        Command::Rollback(args) => run::rollback_command(args, color),
        Command::Doctor(args) => algodeploy::doctor::run(args, color),
        Command::Schema => done(print_schema()),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => done(emulator(args)),
        Command::Man => done(print_man()),
        Command::Completions { shell } => done(print_completions(*shell)),
    }
}

fn print_schema() -> Result<(), Error> {
    let text = serde_json::to_string_pretty(&manifest::schema()).expect("schema serializes");
    algodeploy::error::print(text + "\n")
}

#[cfg(feature = "emulator")]
fn emulator(args: &algodeploy::emulator::Args) -> Result<(), Error> {
    let options = algodeploy::emulator::Options::from_args(args)
        .map_err(|message| Error::Usage { message })?;
    Ok(algodeploy::emulator::run(options)?)
}

/// The manual: the overview, then each command's synopsis, options and examples.
fn print_man() -> Result<(), Error> {
    let mut out = Vec::new();
    let cli = Cli::command();
    let write = |out: &mut Vec<u8>| -> std::io::Result<()> {
        clap_mangen::Man::new(cli.clone()).render(out)?;
        for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("algodeploy {}", sub.get_name());
            writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
            if let Some(about) = sub.get_about() {
                writeln!(out, "{about}")?;
            }
            let page = clap_mangen::Man::new(sub.clone().bin_name(name.clone()));
            page.render_synopsis_section(out)?;
            page.render_options_section(out)?;
            page.render_extra_section(out)?;
        }
        Ok(())
    };
    write(&mut out).expect("writing to memory does not fail");
    algodeploy::error::print(out)
}

fn print_completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "algodeploy", &mut out);
    algodeploy::error::print(out)
}

/// `error: message`, then each cause on its own `caused by:` line.
fn report(err: &Error, color: bool, annotate: bool) {
    let style = anstyle::Style::new()
        .bold()
        .fg_color(Some(anstyle::AnsiColor::Red.into()));
    let (red, reset) = if color {
        (style.render().to_string(), style.render_reset().to_string())
    } else {
        (String::new(), String::new())
    };
    // Messages carry text from servers, manifests and algorithms: inert before it is shown.
    let inert = |text: String| algodeploy::sanitize::inert(&text);
    let mut text = format!("{red}error{reset}: {}\n", inert(err.to_string()));
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("  caused by: {}\n", inert(cause.to_string())));
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        text.push_str(&format!("hint: {}\n", inert(hint)));
    }
    // Under GitHub Actions every error is an annotation too (with file and line when known).
    if annotate && std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        text.push_str(&algodeploy::diagnostic::error_annotations(&err.to_json()));
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn init_tracing(verbose: u8, color: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "algodeploy=info",
        2 => "algodeploy=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(verbose >= 2)
        .init();
}
