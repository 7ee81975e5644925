//! Command-line flags as clap types, and nothing else: checking them and turning them into a
//! configuration happens in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "algodeploy",
    version = crate::VERSION,
    about = "Declarative deploys for Algorithmia algorithms: validate, plan and apply algorithm.yaml",
    propagate_version = true,
    max_term_width = 100,
    after_help = TOP_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The environment and exit codes, under the top-level help.
const TOP_HELP: &str = "\
Examples:
  algodeploy init --owner demo            start an algorithm in this folder
  algodeploy validate algorithms          check every manifest under a folder
  algodeploy plan --detailed-exitcode     what apply would change (exit 2 if anything)
  algodeploy apply --yes --push           create or update, push, build, test, publish
  algodeploy apply --env production --yes --push
  algodeploy emulator                     a local Algorithmia to try it on

Environment:
  ALGORITHMIA_API        the API address (after --api; before the profile's api_server)
  ALGORITHMIA_API_KEY    the API key (never a flag); else the profile's api_key
  SSL_CERT_FILE, SSL_CERT_DIR  more trusted CAs, for the API and git alike
  HTTPS_PROXY, NO_PROXY  proxies (git reads its own http.proxy too)
  NO_COLOR, CLICOLOR=0, TERM=dumb  no colour and no spinners; CLICOLOR_FORCE forces colour
  RUST_LOG               developer logs on stderr (also -v, -vv, -vvv)

Exit codes:
  0 success or no changes; 1 runtime failure (network, TLS, API, git, I/O); 2 changes pending
  (plan --detailed-exitcode); 3 a manifest is invalid; 4 a precondition failed; 5 the key was
  rejected or lacks permission; 64 usage error. Several failures: the most severe class.";

#[derive(Debug, Args)]
pub struct Global {
    /// More detail on stderr for developers: -v info, -vv debug, -vvv trace (or RUST_LOG)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never colour output (also when NO_COLOR is set, or when not writing to a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// When to colour output: auto (a terminal, and no NO_COLOR, CLICOLOR=0 or TERM=dumb),
    /// always, never
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The environment section under each command's help (a macro so that `concat!` can build each
/// command's `after_help` at compile time).
macro_rules! env_help {
    () => {
        "\n\nEnvironment:\n  ALGORITHMIA_API        the API address (after --api, before the profile's api_server)\n  ALGORITHMIA_API_KEY    the API key (never a flag); else the profile's api_key\n  SSL_CERT_FILE, SSL_CERT_DIR  more trusted CAs, for the API and git\n  HTTPS_PROXY, NO_PROXY  proxies\n  NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM  colour (see --color)\n\nExit codes: 0 ok; 1 runtime failure; 2 changes pending (plan --detailed-exitcode);\n3 manifest invalid; 4 precondition failed; 5 key rejected; 64 usage error."
    };
}

/// Local commands: only the colour variables apply.
macro_rules! local_env_help {
    () => {
        "\n\nEnvironment:\n  NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM  colour (see --color)"
    };
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests without touching the network or git; exit 3 if any is invalid
    #[command(after_help = concat!("Examples:\n  algodeploy validate\n  algodeploy validate algorithms --format github   (annotations in a pull request)\n  algodeploy validate a/algorithm.yaml b --format json", local_env_help!(), "\n\nExit codes: 0 all valid; 3 a manifest is invalid; 64 usage error."))]
    Validate(ValidateArgs),
    /// Show what apply would change: create, update, push, publish; exit 2 with
    /// --detailed-exitcode when there are changes
    #[command(
        after_help = concat!("Examples:\n  algodeploy plan\n  algodeploy plan algorithms --changed-since origin/main --format markdown\n  algodeploy plan algorithms --shard 2/4 --parallelism 16 --out plan.json\n  algodeploy plan --env staging --format json", env_help!())
    )]
    Plan(PlanArgs),
    /// Create or update the algorithm and publish the declared version from HEAD
    #[command(
        after_help = concat!("Examples:\n  algodeploy apply --yes --push\n  algodeploy apply plan.json --push          (exactly a saved, reviewed plan)\n  algodeploy apply algorithms --changed-since \"$BEFORE\" --yes --push --parallelism 8\n  algodeploy apply algorithms --prune --yes  (also delete algorithms no manifest declares)", env_help!())
    )]
    Apply(ApplyArgs),
    /// Write an algorithm.yaml for an existing algorithm and its latest published version
    #[command(after_help = concat!("Examples:\n  algodeploy import demo/hello_world > algorithm.yaml\n  algodeploy import demo/hello_world --out algorithms/hello_world/algorithm.yaml", env_help!()))]
    Import(ImportArgs),
    /// Show a saved plan (`plan --out FILE`) as text or JSON
    #[command(after_help = concat!("Examples:\n  algodeploy show plan.json\n  algodeploy show plan.json --format markdown > plan.md", local_env_help!()))]
    Show(ShowArgs),
    /// Start an algorithm: write algorithm.yaml, its entry point, requirements.txt and the
    /// schema for editors (never over existing files)
    #[command(after_help = concat!("Examples:\n  algodeploy init --owner demo\n  algodeploy init algorithms/resize --owner acme --name resize --runtime python3", local_env_help!()))]
    Init(InitArgs),
    /// List an algorithm's published versions, newest first, with the commits they came from
    #[command(after_help = concat!("Examples:\n  algodeploy history\n  algodeploy history demo/hello_world --format json", env_help!()))]
    History(HistoryArgs),
    /// Delete the algorithm a manifest declares, after a plan and a confirmation
    #[command(after_help = concat!("Examples:\n  algodeploy destroy\n  algodeploy destroy algorithms/old --yes", env_help!()))]
    Destroy(DestroyArgs),
    /// Publish the code of an earlier version as the next patch version
    #[command(after_help = concat!("Examples:\n  algodeploy rollback --to 1.2.0\n  algodeploy rollback algorithms/resize --to 2.0.1 --yes", env_help!()))]
    Rollback(RollbackArgs),
    /// Print the JSON Schema of algorithm.yaml (for editors and yaml-language-server)
    #[command(after_help = concat!("Examples:\n  algodeploy schema > algorithm.schema.json\n  (then `# yaml-language-server: $schema=./algorithm.schema.json` atop algorithm.yaml)", local_env_help!()))]
    Schema,
    /// Run a local Algorithmia (management API, git host, builds) for trying algodeploy and for
    /// offline pipeline tests
    #[command(after_help = concat!("Examples:\n  algodeploy emulator                              (prints the key, the address and the console)\n  algodeploy emulator --listen 127.0.0.1:8080 --data-dir ./emulator   (the same key and state next time)\n  algodeploy emulator --data-dir ./emulator --key-file keys --install-requirements", "\n\nEnvironment:\n  ALGODEPLOY_EMULATOR_ADMIN_TOKEN  the admin token (for /_emulator and the console)\n  RUST_LOG               logs on stderr (-v: one line per request)"))]
    #[cfg(feature = "emulator")]
    Emulator(algodeploy_emulator::Args),
    /// Check the configuration, the API, the key, the git host and the git program, one line
    /// each with the fix
    #[command(after_help = concat!("Examples:\n  algodeploy doctor\n  algodeploy doctor --env production --format json\n  algodeploy doctor --owner acme", env_help!()))]
    Doctor(DoctorArgs),
    /// Print the manual page (roff), covering every command: `algodeploy man | man -l -`
    #[command(after_help = concat!("Examples:\n  algodeploy man | man -l -\n  algodeploy man > /usr/local/share/man/man1/algodeploy.1", local_env_help!()))]
    Man,
    /// Print a shell completion script
    #[command(after_help = concat!("Examples:\n  algodeploy completions bash > ~/.local/share/bash-completion/completions/algodeploy\n  algodeploy completions zsh > ~/.zfunc/_algodeploy", local_env_help!()))]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// The hidden `git-credential ACTION` command (git's credential helper protocol, for the git
/// that algodeploy runs) is read before the flags (`main.rs`): it is not a command people use,
/// so help and shell completions do not offer it.
pub const GIT_CREDENTIAL: &str = "git-credential";

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The manifest (or a folder holding algorithm.yaml) whose owner and git remote to check
    /// [default: ./algorithm.yaml when it exists]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Check the key's permission for this owner instead of the manifest's
    #[arg(long, value_name = "OWNER")]
    pub owner: Option<String>,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files, or folders searched for algorithm.yaml [default: ./algorithm.yaml]
    pub paths: Vec<PathBuf>,
    /// How to report problems
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// rustc-style diagnostics on stderr
    Text,
    /// a JSON array of {file, line, column, end_line, end_column, severity, code, message, help} on stdout
    Json,
    /// GitHub Actions `::error` annotations on stdout
    Github,
}

/// Where the API is. The key never comes from a flag: ALGORITHMIA_API_KEY or the profile.
#[derive(Debug, Args, Clone)]
pub struct ApiArgs {
    /// API server root [default: ALGORITHMIA_API, else the profile's api_server, else
    /// https://api.algorithmia.com]
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// Profile in ~/.algorithmia/config [default: default, or the environment's `profile`]
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The environment of the manifests to use (`environments.NAME`): its overrides, its
    /// profile, its own record and lock
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Give up on the whole run after this long, such as 15m (nothing can hang a pipeline)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args, Clone)]
pub struct PlanOptions {
    /// Plan even when the work tree has uncommitted changes (HEAD is what gets published)
    #[arg(long)]
    pub allow_dirty: bool,
    /// Fail (exit 4) when the code changed but the declared version is already published from
    /// another commit (the default; kept for scripts that pass it)
    #[arg(long, overrides_with = "no_strict_version")]
    pub strict_version: bool,
    /// Only note (not fail) when the code changed but the declared version is already
    /// published from another commit: nothing is pushed or published for it
    #[arg(long)]
    pub no_strict_version: bool,
    /// Publish without first calling the exact build with `version_info.sample_input`
    #[arg(long)]
    pub skip_smoke_test: bool,
    /// Only manifests whose folder (or summary_file) changed between the merge base of REF and
    /// HEAD, or has uncommitted changes
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
    /// Only shard I of N: a fixed partition of the manifests by algorithm name, for CI matrices
    #[arg(long, value_name = "I/N", value_parser = clap::value_parser!(crate::select::Shard))]
    pub shard: Option<crate::select::Shard>,
    /// Also plan (apply: delete) the algorithms of the run's owners that no manifest declares;
    /// not with --changed-since or --shard
    #[arg(long, conflicts_with_all = ["changed_since", "shard"])]
    pub prune: bool,
    /// How many algorithms to plan (and apply) at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
}

impl PlanOptions {
    /// Whether a changed deploy commit with an already-published version refuses the plan.
    pub fn strict(&self) -> bool {
        !self.no_strict_version
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Manifest files, or folders searched for algorithm.yaml [default: ./algorithm.yaml]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub options: PlanOptions,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Also save the plan (JSON, no key) for `apply --plan FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 with no changes, 2 with changes (other codes mean errors)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    /// GitHub-flavoured Markdown (a pull-request comment, a step summary)
    Markdown,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Manifest files, or folders searched for algorithm.yaml [default: ./algorithm.yaml]; or
    /// one saved plan (`plan --out FILE`), recognised by its content
    #[arg(conflicts_with = "plan")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub options: PlanOptions,
    /// Execute exactly this saved plan (refused if anything moved since it was made)
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// `json`: print nothing until the end, then `{format_version, plan, applied, errors}` on
    /// stdout, `applied` being the last-applied record of each algorithm that finished
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Push the deploy commit to the algorithm's `master` when it is not there yet
    #[arg(long)]
    pub push: bool,
    /// Start no new algorithm after the first failure (those running finish)
    #[arg(long)]
    pub fail_fast: bool,
    /// With --prune, also delete algorithms that have published versions
    #[arg(long)]
    pub delete_published: bool,
    /// How long to wait for HEAD's build, such as 90s or 10m
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub build_timeout: std::time::Duration,
    /// How long to wait for another apply of the same manifest to finish (default: do not wait)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into [default: .]
    pub dir: Option<PathBuf>,
    /// The algorithm's owner (your user or organization)
    #[arg(long)]
    pub owner: String,
    /// The algorithm's name [default: the folder's name, as a valid name]
    #[arg(long)]
    pub name: Option<String>,
    /// The runtime: a Python package set such as python38 or python39
    #[arg(long, default_value = "python38")]
    pub runtime: String,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The manifest (or a folder holding algorithm.yaml) [default: ./algorithm.yaml]
    pub path: Option<PathBuf>,
    /// The published version whose code is published again
    #[arg(long, value_name = "VERSION")]
    pub to: String,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// How long to wait for the rollback's build, such as 90s or 10m
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub build_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The manifest (or a folder holding algorithm.yaml) [default: ./algorithm.yaml]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also delete an algorithm with published versions (their callers break)
    #[arg(long)]
    pub delete_published: bool,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A manifest (or a folder holding algorithm.yaml), or OWNER/NAME [default:
    /// ./algorithm.yaml]
    pub target: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan
    pub plan: PathBuf,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The algorithm, as OWNER/NAME
    pub algorithm: String,
    #[command(flatten)]
    pub api: ApiArgs,
    /// Write the manifest here instead of stdout (refuses to overwrite)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
