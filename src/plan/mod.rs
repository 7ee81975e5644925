//! The plan: a value computed by a pure function from the desired state (the manifest), the
//! current state (the API and the git remote, as [`crate::current`] values), the local git
//! state and the last-applied record. Each step holds exactly the request apply will send;
//! `apply` executes the steps of a [`Plan`] and nothing else, and never re-diffs.
//!
//! - `model.rs`: the types ([`Plan`], [`AlgorithmPlan`], [`Step`], [`Action`]) and their JSON.
//! - `compute.rs`: the pure [`plan()`] and the digests that make saved plans detectably stale.
//! - `render.rs`: text rendering, as lines that know their action (for colour).
//! - `markdown.rs`: Markdown for pull-request comments and step summaries.
//!
//! The user's vocabulary is [`Action`]: one symbol and one verb per step, the same in code,
//! output, JSON and README:
//!
//! | symbol | action | meaning |
//! |---|---|---|
//! | `+` | `create` | create the algorithm |
//! | `~` | `update` | change details or settings in place |
//! | `>` | `push` | push HEAD to the algorithm's `master` (apply `--push`) |
//! | `^` | `publish` | wait for HEAD's build, then publish the declared version from it |
//!
//! This module imports nothing from `api/`: the current state reaches it as domain types.

mod compute;
mod markdown;
mod model;
mod render;

pub use crate::current::Live;
pub use compute::{
    Conflict, Options, ROLLBACK_NOTE, live_digest, manifest_digest, plan, publish_request,
};
pub use markdown::cell as markdown_cell;
pub use model::*;
pub use render::{Line, LineKind};
