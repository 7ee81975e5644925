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
