//! The platform's build rules (`algodeploy_platform::entry_points`, shared with the emulator's
//! builds) applied to a manifest: the check `plan` makes on the deploy tree before anything is
//! created or pushed (a missing entry point is found before the build, not by it).

pub use algodeploy_platform::entry_points::{required_paths, runtime_kind};

/// The paths a manifest's runtime needs, when its runtime is known here: a legacy `language`
/// or a package set named after its language (`python38`, `java11`, `node14`, `r36`, …). An
/// `algorithm_environment` (an id) or another package set is the platform's to check.
pub fn for_manifest(manifest: &crate::manifest::Manifest) -> Option<Vec<String>> {
    let settings = &manifest.settings;
    let language = settings
        .language
        .map(super::manifest::Language::as_str)
        .unwrap_or("");
    let package_set = settings.package_set.as_deref().unwrap_or("");
    let known = !language.is_empty()
        || ["python", "java", "scala", "node"]
            .iter()
            .any(|p| package_set.starts_with(p))
        || runtime_kind("", package_set) == "r";
    known.then(|| required_paths(runtime_kind(language, package_set), &manifest.name))
}
