//! Environments: one manifest, a staging and a production cluster (two emulators), each
//! environment with its profile, overrides, record and lock; the same deploy commit published
//! on both.

use crate::harness::{Deploy, Emulator, KEY, Output};

const ENVIRONMENTS: &str = "environments:\n  staging:\n    profile: staging\n    details:\n      label: Hello World (staging)\n  production:\n    profile: prod\n";

fn two_clusters() -> (Deploy, Emulator) {
    let d = Deploy::new(&[]);
    let production = Emulator::start(&[]);
    d.profile(&format!(
        "[profiles.staging]\napi_key = \"{KEY}\"\napi_server = \"{}\"\n\n[profiles.prod]\napi_key = \"{KEY}\"\napi_server = \"{}\"\n",
        d.emulator.url, production.url
    ));
    let manifest = std::fs::read_to_string(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    d.repo
        .write("algorithm.yaml", &format!("{manifest}{ENVIRONMENTS}"));
    d.repo.commit("environments");
    (d, production)
}

/// algodeploy with only the profiles (no ALGORITHMIA_API or key in the environment).
fn run(d: &Deploy, args: &[&str]) -> Output {
    d.run_profile(args, &[])
}

fn published(emulator: &Emulator) -> Vec<(String, String)> {
    emulator.published("hello_world")
}

#[test]
fn each_environment_deploys_the_same_commit_to_its_own_cluster() {
    let (d, production) = two_clusters();
    // A manifest with environments needs one; an unknown one is named with the choices.
    run(&d, &["plan"])
        .code(64)
        .stderr_has("declares environments (production, staging)");
    run(&d, &["plan", "--env", "qa"])
        .code(64)
        .stderr_has("has no environment `qa` (it has: production, staging)");

    run(&d, &["plan", "--env", "staging"])
        .code(0)
        .stdout_has("demo/hello_world (algorithm.yaml) [staging]")
        .stdout_has("details.label: \"Hello World (staging)\"");
    run(&d, &["apply", "--env", "staging", "--yes", "--push"]).code(0);
    let (_, live) = d
        .emulator
        .call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(live["details"]["label"], "Hello World (staging)");
    assert!(published(&production).is_empty(), "production was touched");

    run(&d, &["apply", "--env", "production", "--yes", "--push"]).code(0);
    let (_, live) = production.call("GET", "/v1/algorithms/demo/hello_world", Some(KEY), None);
    assert_eq!(live["details"]["label"], "Hello World");
    // The exact commit staging built and tested is what production published.
    assert_eq!(published(&production), published(&d.emulator));
    assert_eq!(published(&production)[0].1, d.repo.head());
    for env in ["staging", "production"] {
        assert!(
            d.repo
                .dir
                .path()
                .join(format!(".algodeploy/state.{env}.json"))
                .exists(),
            "{env}"
        );
        run(&d, &["plan", "--env", env, "--detailed-exitcode"]).code(0);
    }
    let history = run(&d, &["history", "--env", "production", "--format", "json"]);
    history.code(0);
    assert!(
        history.stdout.contains(&d.repo.head()),
        "{}",
        history.stdout
    );
}

#[test]
fn environment_overrides_are_validated_where_they_are_written() {
    let d = Deploy::new(&[]);
    let manifest = std::fs::read_to_string(d.repo.dir.path().join("algorithm.yaml")).unwrap();
    d.repo.write(
        "algorithm.yaml",
        &format!("{manifest}environments:\n  production:\n    settings:\n      license: nope\n    colour: red\n"),
    );
    let lines = manifest.lines().count();
    let out = d.run(&["validate", "--format", "json"]);
    out.code(3);
    let problems: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let at: Vec<(u64, &str)> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert!(
        at.contains(&(lines as u64 + 4, "value-not-allowed")),
        "{at:?}"
    );
    assert!(at.contains(&(lines as u64 + 5, "unknown-key")), "{at:?}");
}

#[test]
fn doctor_checks_an_environments_cluster_and_import_refuses_env() {
    let (d, production) = two_clusters();
    let out = run(&d, &["doctor", "--env", "production", "--format", "json"]);
    out.code(0);
    assert!(out.stdout.contains(&production.url), "{}", out.stdout);
    run(&d, &["doctor", "--env", "qa"]).code(64);
    run(&d, &["import", "demo/hello_world", "--env", "production"]).code(64);
}
