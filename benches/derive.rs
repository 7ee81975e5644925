//! Deriving deploy commits for a monorepo (`deploy.rs`): FOLDERS algorithm folders over a
//! history of COMMITS commits (each touching one folder, every 50th the shared `libs/common`
//! that every 10th folder includes), made with `git fast-import`. Reports side by side, in one
//! run: a cold derivation on a fresh clone (no cache), a warm one (same HEAD), one after a new
//! commit, and `git subtree split` of one folder on the same history; the warm cost against the
//! latency floor of a 500-folder plan at 20 ms and `--parallelism 16` (0.64 s).
//!
//! `cargo bench --bench derive [-- FOLDERS COMMITS]` (defaults 500 and 5000).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use algodeploy::deploy::{self, Spec};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fast-import stream: one commit laying out every folder, then `commits` small ones.
fn history(folders: usize, commits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let blob = |out: &mut Vec<u8>, text: &str| {
        let _ = write!(out, "data {}\n{text}\n", text.len());
    };
    let mut mark = 0;
    let mut commit = |out: &mut Vec<u8>, n: usize, files: &[(String, String)]| {
        mark += 1;
        let message = format!("change {n}");
        let _ = write!(
            out,
            "commit refs/heads/main\nmark :{mark}\nauthor A <a@example.com> {} +0000\ncommitter A <a@example.com> {} +0000\n",
            1_700_000_000 + n,
            1_700_000_000 + n
        );
        blob(out, &message);
        if mark > 1 {
            let _ = writeln!(out, "from :{}", mark - 1);
        }
        for (path, text) in files {
            let _ = writeln!(out, "M 100644 inline {path}");
            blob(out, text);
        }
        out.push(b'\n');
    };
    let mut first = vec![("libs/common/greet.py".to_string(), "G = 0".to_string())];
    for f in 0..folders {
        first.push((
            format!("algorithms/a{f}/algorithm.yaml"),
            format!("name: a{f}"),
        ));
        first.push((
            format!("algorithms/a{f}/src/a{f}.py"),
            "def apply(x): return x".into(),
        ));
        first.push((format!("algorithms/a{f}/requirements.txt"), String::new()));
    }
    commit(&mut out, 0, &first);
    let mut state: u64 = 42;
    for n in 1..=commits {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let folder = (state >> 33) as usize % folders;
        let file = if n % 50 == 0 {
            "libs/common/greet.py".to_string()
        } else if n % 7 == 0 {
            format!("algorithms/a{folder}/algorithm.yaml")
        } else {
            format!("algorithms/a{folder}/src/a{folder}.py")
        };
        commit(&mut out, n, &[(file, format!("# {n}"))]);
    }
    out
}

fn specs(folders: usize) -> Vec<Spec> {
    (0..folders)
        .map(|f| Spec {
            root: format!("algorithms/a{f}"),
            manifest_name: "algorithm.yaml".into(),
            includes: if f % 10 == 0 {
                vec![("libs/common".into(), "libs/common".into())]
            } else {
                vec![]
            },
        })
        .collect()
}

fn derive(dir: &Path, specs: &[Spec]) -> Duration {
    let repo = git2::Repository::open(dir).expect("a repository");
    let head = repo.head().unwrap().peel_to_commit().unwrap().id();
    let started = Instant::now();
    let results = deploy::derive(&repo, head, specs).expect("derives");
    let took = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    took
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let folders = args.first().copied().unwrap_or(500);
    let commits = args.get(1).copied().unwrap_or(5000);
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    std::fs::create_dir(&source).unwrap();
    git(&source, &["init", "-q", "-b", "main"]);
    let mut import = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&source)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    import
        .stdin
        .take()
        .unwrap()
        .write_all(&history(folders, commits))
        .unwrap();
    assert!(import.wait().unwrap().success());
    git(&source, &["reset", "-q", "--hard", "main"]);
    let specs = specs(folders);

    let mut cold = Vec::new();
    for run in 0..3 {
        let clone = work.path().join(format!("clone{run}"));
        git(
            work.path(),
            &[
                "clone",
                "-q",
                "--no-local",
                source.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        cold.push(derive(&clone, &specs));
    }
    let clone = work.path().join("clone0");
    let warm: Vec<Duration> = (0..5).map(|_| derive(&clone, &specs)).collect();
    let mut next = Vec::new();
    for n in 0..3 {
        std::fs::write(
            clone.join(format!("algorithms/a1/src/extra{n}.py")),
            "x = 1\n",
        )
        .unwrap();
        git(&clone, &["add", "-A"]);
        git(
            &clone,
            &[
                "-c",
                "user.name=b",
                "-c",
                "user.email=b@example.com",
                "commit",
                "-qm",
                "one more",
            ],
        );
        next.push(derive(&clone, &specs));
    }
    // `git subtree` is in git's contrib (Debian ships it in the git package's docs).
    let split_clone = work.path().join("clone1");
    let started = Instant::now();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = Path::new("/usr/share/doc/git/contrib/subtree/git-subtree.sh");
    if script.exists() {
        std::fs::copy(script, bin.join("git-subtree")).unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(bin.join("git-subtree"))
            .status()
            .unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let subtree = [vec!["git", "subtree"]].iter().find_map(|program| {
        Command::new(program[0])
            .args(&program[1..])
            .args(["split", "-q", "--prefix=algorithms/a0"])
            .current_dir(&split_clone)
            .env("PATH", &path)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(std::process::ExitStatus::success)
            .map(|_| started.elapsed())
    });

    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let (cold, warm, next) = (best(&cold), best(&warm), best(&next));
    let floor = Duration::from_millis(640);
    println!("deploy commits for {folders} folders over {commits} commits");
    println!("{:<46} {:>10} {:>16}", "", "seconds", "vs plan floor");
    let row = |name: &str, d: Duration| {
        println!(
            "{name:<46} {:>10.3} {:>15.1}%",
            d.as_secs_f64(),
            100.0 * d.as_secs_f64() / floor.as_secs_f64()
        );
    };
    row("cold: fresh clone, no cache, all folders", cold);
    row("warm: same HEAD (cache)", warm);
    row("after one new commit (walks 1 commit)", next);
    match subtree {
        Some(subtree) => {
            row("git subtree split, ONE folder (a0)", subtree);
            row(
                &format!("git subtree split x {folders} (estimate)"),
                subtree * folders as u32,
            );
        }
        None => println!("git subtree split: not installed here (git's contrib/subtree)"),
    }
}
