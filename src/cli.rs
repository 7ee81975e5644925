//! Command-line flags as clap types, and nothing else: checking them and turning them into a
//! configuration happens in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "algodeploy",
    version,
    about = "Declarative deploys for Algorithmia algorithms: validate, plan and apply algorithm.yaml",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// More detail on stderr for developers: -v info, -vv debug, -vvv trace (or RUST_LOG)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never colour output (also when NO_COLOR is set, or when not writing to a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests without touching the network or git; exit 3 if any is invalid
    Validate(ValidateArgs),
    /// Print the JSON Schema of algorithm.yaml (for editors and yaml-language-server)
    Schema,
    /// Run a local Algorithmia (management API, git host, builds) for trying algodeploy and for
    /// offline pipeline tests
    #[cfg(feature = "emulator")]
    Emulator(EmulatorArgs),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
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

#[cfg(feature = "emulator")]
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: std::net::SocketAddr,
    /// Allow listening on an address other than loopback (anyone who can reach it can use the
    /// keys you give)
    #[arg(long)]
    pub allow_remote: bool,
    /// Keep state in this folder (SQLite plus bare git repositories) across restarts; without
    /// it, a temporary folder removed on exit
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A key that may manage OWNER's algorithms, as OWNER=KEY (repeatable); with no key at
    /// all, one is made for owner `demo` and printed
    #[arg(long = "key", value_name = "OWNER=KEY")]
    pub keys: Vec<String>,
    /// A key that may only read OWNER's algorithms, as OWNER=KEY (repeatable)
    #[arg(long = "read-only-key", value_name = "OWNER=KEY")]
    pub read_only_keys: Vec<String>,
    /// How long a build takes
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub build_seconds: f64,
    /// Delay added to every /v1 response
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,
    /// Share of /v1 requests answered 503 with Retry-After: 1, before any state changes
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// The token for /_emulator endpoints; without it, one is made and printed
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
}
