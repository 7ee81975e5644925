//! What both sides of algodeploy share, and nothing else: the platform's build rules (which
//! files a runtime needs) and the sanitiser for outside text. The client (`algodeploy`) and the
//! emulator (`algodeploy-emulator`) depend on this crate and never on each other, so they share
//! no wire types: a field-name mistake on one side is caught by the other's tests.

pub mod entry_points;
pub mod text;
