//! The one integration-test binary: each module drives the real `algodeploy` binary.

mod harness;

mod action;
mod cli;
mod clusters;
// The official clients and schemathesis, from the virtualenvs `.ci/python-setup` makes
// (`cargo test --features conformance`; `bash .ci/test` does).
#[cfg(feature = "conformance")]
mod conformance;
mod console;
mod contract;
mod deploy;
mod emulator;
mod environments;
mod folders;
mod fuzz;
mod hardening;
mod hostile;
mod lifecycle;
mod monorepo;
mod readme;
mod reliability;
mod runtime;
mod sandbox;
mod schema;
mod secrets;
mod validate;
