//! algodeploy as a library: the binary (`main.rs`) is a thin shell over these modules, and the
//! benchmarks call them directly. See README.md for the tool itself.

pub mod cli;
pub mod diagnostic;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod error;
pub mod manifest;
pub mod validate;
pub mod yaml;
