//! The one integration-test binary: each module drives the real `algodeploy` binary.

mod harness;

mod cli;
mod conformance;
mod deploy;
mod emulator;
mod hostile;
mod readme;
mod schema;
mod validate;
