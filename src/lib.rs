//! algodeploy as a library: the binary (`main.rs`) is a thin shell over these modules, and the
//! benchmarks call them directly. See README.md for the tool itself.

/// `0.1.0 (1a2b3c4d5e6f 2026-12-07)`: the version, and the commit and date it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ALGODEPLOY_COMMIT"),
    " ",
    env!("ALGODEPLOY_DATE"),
    ")"
);

pub mod api;
pub mod apply;
pub mod cli;
pub mod config;
pub mod credential;
pub mod current;
pub mod deploy;
pub mod diagnostic;
pub mod doctor;
/// The local Algorithmia, its own crate (`crates/emulator`): no wire type is shared with the
/// client.
#[cfg(feature = "emulator")]
pub use algodeploy_emulator as emulator;
pub mod entry_points;
pub mod error;
pub mod fields;
pub mod git;
pub mod import;
pub mod init;
pub mod live;
pub mod manifest;
pub mod plan;
pub mod remote;
pub mod run;
pub mod sanitize;
pub mod secrets;
pub mod select;
pub mod state;
pub mod trust;
pub mod validate;
pub mod version;
pub mod yaml;
