//! The deploy source: which commit an algorithm's git repository gets.
//!
//! A manifest's `repository` (default: the manifest's folder) names a root folder of the
//! monorepo and folders copied in (`include`). The commit pushed for it, the **deploy commit**,
//! is derived from the monorepo's history only, as `git subtree split` and splitsh-lite do:
//!
//! - each monorepo commit C has a deploy tree: the root's tree at C, less the manifest file and
//!   `.algodeploy/`, with each include's tree at C placed at its `to` path;
//! - the derived parents of C are the derived commits of C's parents (distinct, and none that is
//!   an ancestor of another);
//! - when C has one derived parent whose tree is C's deploy tree, C derives that commit (a
//!   commit that changes nothing deployed gives no new commit); otherwise a new commit with
//!   C's deploy tree, the derived parents, C's author, committer and message, and trailers
//!   naming C and the folders (`Algodeploy-Source-Commit`, `Algodeploy-Folders`).
//!
//! So the same history gives the same object names on every full clone, and each new deploy
//! commit descends from the previous one (the algorithm's `master` only fast-forwards). A root
//! that is the repository's own root with no includes deploys HEAD itself (single-algorithm
//! repositories keep their commits).
//!
//! The walk covers every manifest of a repository at once: path lookups are shared through a
//! trie of the folders, and a subtree that did not change since the first parent is copied, so
//! a commit costs what it changed. Results at HEAD are cached in `.git/algodeploy/deploy-commits`
//! (a few tips per folder set); a later HEAD walks only the commits since a cached tip.
//! A shallow clone whose walk reaches a shallow boundary is refused (its history would differ).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository};

use crate::git::Doing;
use sha2::{Digest, Sha256};

/// Bump when the derivation changes: cached results of other versions are not used.
const DERIVATION: &str = "algodeploy-deploy-commit-v1";
/// Tips kept per folder set in the cache.
const TIPS_PER_KEY: usize = 4;
const TREE_MODE: i32 = 0o040000;

/// What one manifest deploys, relative to the git repository's root (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    /// The root folder (`""`: the repository's root).
    pub root: String,
    /// The manifest's file name in `root` (never deployed).
    pub manifest_name: String,
    /// `(from, to)`: `from` relative to the repository's root, `to` inside the deploy tree.
    pub includes: Vec<(String, String)>,
}

impl Spec {
    /// HEAD itself is deployed: the repository's root, nothing included.
    pub fn is_whole(&self) -> bool {
        self.root.is_empty() && self.includes.is_empty()
    }

    fn key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(DERIVATION);
        for part in [&self.root, &self.manifest_name] {
            hasher.update([0]);
            hasher.update(part);
        }
        for (from, to) in &self.includes {
            hasher.update([1]);
            hasher.update(from);
            hasher.update([0]);
            hasher.update(to);
        }
        algodeploy_platform::hex(&hasher.finalize()[..16])
    }

    /// The folders trailer every commit derived for this spec carries.
    fn trailer(&self) -> String {
        crate::sanitize::line(
            &format!("Algodeploy-Folders: {}", self.folders().join(" + ")),
            None,
            1000,
        )
    }

    /// The folders, as said in plans and trailers: `algorithms/alpha + libs/common`.
    pub fn folders(&self) -> Vec<String> {
        let root = if self.root.is_empty() {
            ".".to_string()
        } else {
            self.root.clone()
        };
        std::iter::once(root)
            .chain(self.includes.iter().map(|(from, to)| {
                if from == to {
                    from.clone()
                } else {
                    format!("{from} as {to}")
                }
            }))
            .collect()
    }
}

/// What one manifest deploys, as plans and apply use it: the deploy commit (HEAD itself when
/// `whole`), its tree, and the folders it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub commit: String,
    pub tree: String,
    /// `algorithms/alpha`, `libs/common`, … (`.` for the repository's root).
    pub folders: Vec<String>,
    /// HEAD itself is deployed.
    pub whole: bool,
}

/// The deploy commit of one manifest at HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub commit: String,
    pub tree: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployError {
    /// The walk reached a shallow clone's boundary.
    Shallow {
        root: PathBuf,
        at: String,
    },
    /// A folder the manifest deploys is not in HEAD.
    NotInHead {
        path: String,
        what: &'static str,
    },
    Git {
        action: String,
        message: String,
    },
}

impl DeployError {
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployError::Git { .. } => 1,
            _ => 4,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            DeployError::Shallow { .. } => Some(
                "fetch the whole history: `git fetch --unshallow` (in GitHub Actions, `fetch-depth: 0` on actions/checkout)".into(),
            ),
            DeployError::NotInHead { .. } => Some("commit it, then plan again".into()),
            DeployError::Git { .. } => None,
        }
    }
}

impl std::fmt::Display for DeployError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployError::Shallow { root, at } => write!(
                f,
                "`{}` is a shallow clone: its history stops at {}, so the deploy commit cannot be derived as a full clone would derive it",
                root.display(),
                crate::git::short(at)
            ),
            DeployError::NotInHead { path, what } => {
                write!(f, "{what} `{path}` is not in HEAD's commit")
            }
            DeployError::Git { action, message } => write!(f, "git could not {action}: {message}"),
        }
    }
}

impl std::error::Error for DeployError {}

impl From<crate::git::GitError> for DeployError {
    fn from(error: crate::git::GitError) -> Self {
        match error {
            crate::git::GitError::Git { action, source } => DeployError::Git {
                action: action.into(),
                message: source.message().to_string(),
            },
            other => DeployError::Git {
                action: "read the repository".into(),
                message: other.to_string(),
            },
        }
    }
}

/// A tree entry: object and file mode.
type Entry = (Oid, i32);

/// The folders of every spec as one trie, numbered in preorder so that a node's descendants
/// are the contiguous range `node + 1 .. end[node]`.
struct Trie {
    names: Vec<String>,
    children: Vec<Vec<usize>>,
    end: Vec<usize>,
}

impl Trie {
    fn build(paths: &[&str]) -> (Trie, HashMap<String, usize>) {
        // Build with insertion ids, then renumber in preorder.
        let mut names = vec![String::new()];
        let mut children: Vec<Vec<usize>> = vec![Vec::new()];
        let mut ids: HashMap<String, usize> = HashMap::new();
        for path in paths {
            let mut node = 0;
            for part in path.split('/').filter(|p| !p.is_empty()) {
                node = match children[node].iter().find(|&&c| names[c] == part) {
                    Some(&c) => c,
                    None => {
                        names.push(part.to_string());
                        children.push(Vec::new());
                        let id = names.len() - 1;
                        children[node].push(id);
                        id
                    }
                };
            }
            ids.insert((*path).to_string(), node);
        }
        let mut order = Vec::with_capacity(names.len());
        let mut stack = vec![0];
        while let Some(node) = stack.pop() {
            order.push(node);
            stack.extend(children[node].iter().rev());
        }
        let mut new_id = vec![0; names.len()];
        for (i, &old) in order.iter().enumerate() {
            new_id[old] = i;
        }
        let mut trie = Trie {
            names: order.iter().map(|&o| names[o].clone()).collect(),
            children: order
                .iter()
                .map(|&o| children[o].iter().map(|&c| new_id[c]).collect())
                .collect(),
            end: vec![0; names.len()],
        };
        for node in (0..trie.names.len()).rev() {
            trie.end[node] = trie.children[node]
                .iter()
                .map(|&c| trie.end[c])
                .max()
                .unwrap_or(node + 1);
        }
        let ids = ids.into_iter().map(|(p, old)| (p, new_id[old])).collect();
        (trie, ids)
    }

    /// Every node's entry at a commit whose root tree is `tree`; subtrees equal to the
    /// parent's are copied from `parent`.
    fn resolve(
        &self,
        repo: &Repository,
        tree: Oid,
        parent: Option<&[Option<Entry>]>,
    ) -> Result<Vec<Option<Entry>>, DeployError> {
        let mut out: Vec<Option<Entry>> = vec![None; self.names.len()];
        out[0] = Some((tree, TREE_MODE));
        let mut stack = vec![0usize];
        while let Some(node) = stack.pop() {
            let Some((oid, mode)) = out[node] else {
                continue;
            };
            if let Some(parent) = parent
                && parent[node] == out[node]
            {
                out[node + 1..self.end[node]].copy_from_slice(&parent[node + 1..self.end[node]]);
                continue;
            }
            if mode != TREE_MODE || self.children[node].is_empty() {
                continue;
            }
            let tree = repo.find_tree(oid).doing("read a tree")?;
            for &child in &self.children[node] {
                out[child] = tree
                    .get_name(&self.names[child])
                    .map(|e| (e.id(), e.filemode()));
                stack.push(child);
            }
        }
        Ok(out)
    }
}

/// One spec's place in the walk.
struct Compiled {
    spec: Spec,
    key: String,
    root: usize,
    /// `(node of from, to's parts)`.
    includes: Vec<(usize, Vec<String>)>,
    /// The trailers of every commit derived for this spec.
    trailer: String,
}

/// `(derived commit, its tree)` of one spec at one commit; `None` before the root existed.
type Value = Option<(Oid, Oid)>;

/// The deploy commit of each spec at `head` (whole specs give `head` itself).
pub fn derive(
    repo: &Repository,
    head: Oid,
    specs: &[Spec],
) -> Result<Vec<Result<Derived, DeployError>>, DeployError> {
    let mut results: Vec<Option<Result<Derived, DeployError>>> = vec![None; specs.len()];
    let head_tree = repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .doing("read HEAD's tree")?
        .id();
    for (i, spec) in specs.iter().enumerate() {
        if spec.is_whole() {
            results[i] = Some(Ok(Derived {
                commit: head.to_string(),
                tree: head_tree.to_string(),
            }));
        }
    }
    let mut cache = Cache::load(repo);
    let odb = repo.odb().doing("open the object database")?;
    // Every folder the specs read, resolved at HEAD once (for checking cached answers).
    let mut paths: Vec<&str> = Vec::new();
    for spec in specs.iter().filter(|s| !s.is_whole()) {
        paths.push(&spec.root);
        paths.extend(spec.includes.iter().map(|(from, _)| from.as_str()));
    }
    let (trie, ids) = Trie::build(&paths);
    let at_head = trie.resolve(repo, head_tree, None)?;
    let lookup = |path: &str| ids.get(path).and_then(|&n| at_head[n]).map(|e| e.0);
    // Distinct non-whole specs not cached at HEAD.
    let mut todo: Vec<Spec> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        if let Some((commit, tree)) = cache.get(&spec.key(), head)
            && odb.exists(commit)
            && verified(repo, spec, &spec.trailer(), &lookup, (commit, tree))
        {
            results[i] = Some(Ok(Derived {
                commit: commit.to_string(),
                tree: tree.to_string(),
            }));
        } else if !todo.contains(spec) {
            todo.push(spec.clone());
        }
    }
    if !todo.is_empty() {
        let shallow = shallow_commits(repo);
        let mut walked = walk(repo, head, &todo, &cache, true, &shallow)?;
        let cold: Vec<Spec> = todo
            .iter()
            .zip(&walked)
            .filter(|(_, r)| r.is_none())
            .map(|(s, _)| s.clone())
            .collect();
        if !cold.is_empty() {
            let mut full = walk(repo, head, &cold, &cache, false, &shallow)?.into_iter();
            for slot in walked.iter_mut().filter(|r| r.is_none()) {
                *slot = full.next().flatten();
            }
        }
        let mut answers: HashMap<&Spec, Result<Derived, DeployError>> = HashMap::new();
        for (spec, value) in todo.iter().zip(walked) {
            let value = value.expect("a full walk answers every spec")?;
            let result = head_result(&lookup, spec, value);
            if let Ok(derived) = &result
                && let (Ok(commit), Ok(tree)) =
                    (Oid::from_str(&derived.commit), Oid::from_str(&derived.tree))
            {
                cache.put(&spec.key(), head, commit, tree);
            }
            answers.insert(spec, result);
        }
        for (i, s) in specs.iter().enumerate() {
            if results[i].is_none() {
                results[i] = answers.get(s).cloned();
            }
        }
        cache.save(repo);
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every spec answered"))
        .collect())
}

/// The answer at HEAD: the folders must be there.
fn head_result(
    lookup: &dyn Fn(&str) -> Option<Oid>,
    spec: &Spec,
    value: Value,
) -> Result<Derived, DeployError> {
    let is_there = |path: &str| lookup(path).is_some();
    if !spec.root.is_empty() && !is_there(&spec.root) {
        return Err(DeployError::NotInHead {
            path: spec.root.clone(),
            what: "the folder",
        });
    }
    for (from, _) in &spec.includes {
        if !is_there(from) {
            return Err(DeployError::NotInHead {
                path: from.clone(),
                what: "`repository.include`",
            });
        }
    }
    let (commit, tree) = value.ok_or_else(|| DeployError::NotInHead {
        path: spec.root.clone(),
        what: "the folder",
    })?;
    Ok(Derived {
        commit: commit.to_string(),
        tree: tree.to_string(),
    })
}

/// The commits at a shallow clone's boundary (their parents are missing).
fn shallow_commits(repo: &Repository) -> HashSet<Oid> {
    std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| Oid::from_str(l.trim()).ok())
        .collect()
}

/// Walk the history of `head` (all of it, or with `incremental` only what is not below a
/// cached tip) and give each spec's value at HEAD; `None` for a spec an incremental walk
/// could not answer (a parent outside the walk that is not cached).
fn walk(
    repo: &Repository,
    head: Oid,
    specs: &[Spec],
    cache: &Cache,
    incremental: bool,
    shallow: &HashSet<Oid>,
) -> Result<Vec<Option<Result<Value, DeployError>>>, DeployError> {
    let mut paths: Vec<&str> = Vec::new();
    for spec in specs {
        paths.push(&spec.root);
        paths.extend(spec.includes.iter().map(|(from, _)| from.as_str()));
    }
    let (trie, ids) = Trie::build(&paths);
    let compiled: Vec<Compiled> = specs
        .iter()
        .map(|spec| {
            let trailer = spec.trailer();
            Compiled {
                key: spec.key(),
                root: ids[&spec.root],
                includes: spec
                    .includes
                    .iter()
                    .map(|(from, to)| {
                        (
                            ids[from.as_str()],
                            to.split('/').map(str::to_owned).collect(),
                        )
                    })
                    .collect(),
                trailer,
                spec: spec.clone(),
            }
        })
        .collect();

    let mut revwalk = repo.revwalk().doing("walk the history")?;
    revwalk
        .set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .doing("walk the history")?;
    revwalk.push(head).doing("walk the history")?;
    if incremental {
        for tip in cache.tips(compiled.iter().map(|c| c.key.as_str())) {
            if repo.find_commit(tip).is_ok() {
                let _ = revwalk.hide(tip);
            }
        }
    }
    let order: Vec<Oid> = revwalk
        .collect::<Result<_, _>>()
        .doing("walk the history")?;
    let in_walk: HashSet<Oid> = order.iter().copied().collect();
    let mut children: HashMap<Oid, u32> = HashMap::new();
    let mut parents_of: HashMap<Oid, Vec<Oid>> = HashMap::with_capacity(order.len());
    for &oid in &order {
        let commit = repo.find_commit(oid).doing("read a commit")?;
        let parents: Vec<Oid> = commit.parent_ids().collect();
        for p in &parents {
            if in_walk.contains(p) {
                *children.entry(*p).or_default() += 1;
            }
        }
        parents_of.insert(oid, parents);
    }

    struct State {
        resolved: Vec<Option<Entry>>,
        values: Vec<Value>,
    }
    let mut states: HashMap<Oid, State> = HashMap::new();
    // Specs an incremental walk cannot answer.
    let mut unanswerable = vec![false; compiled.len()];
    let mut errors: Vec<Option<DeployError>> = vec![None; compiled.len()];

    // Parents outside an incremental walk are cached tips: their values come from the cache,
    // and their trees are resolved so that the shortcut below applies to their children.
    for &oid in &order {
        for p in &parents_of[&oid] {
            if in_walk.contains(p) || states.contains_key(p) {
                continue;
            }
            let tree = repo.find_commit(*p).doing("read a commit")?.tree_id();
            let resolved = trie.resolve(repo, tree, None)?;
            let lookup = |path: &str| ids.get(path).and_then(|&n| resolved[n]).map(|e| e.0);
            let values: Vec<Value> = compiled
                .iter()
                .map(|c| {
                    cache
                        .get(&c.key, *p)
                        .filter(|v| verified(repo, &c.spec, &c.trailer, &lookup, *v))
                })
                .collect();
            if values.iter().any(Option::is_none) {
                continue;
            }
            states.insert(*p, State { resolved, values });
        }
    }
    for &oid in &order {
        if shallow.contains(&oid) {
            return Err(DeployError::Shallow {
                root: repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf(),
                at: oid.to_string(),
            });
        }
        let commit = repo.find_commit(oid).doing("read a commit")?;
        let parents = &parents_of[&oid];
        let first = parents.first().and_then(|p| states.get(p));
        let resolved =
            trie.resolve(repo, commit.tree_id(), first.map(|s| s.resolved.as_slice()))?;
        let mut values = Vec::with_capacity(compiled.len());
        for (i, spec) in compiled.iter().enumerate() {
            if unanswerable[i] || errors[i].is_some() {
                values.push(None);
                continue;
            }
            // The shortcut: one parent, and nothing this spec reads changed.
            if parents.len() == 1
                && let Some(parent) = first
                && parent.resolved[spec.root] == resolved[spec.root]
                && spec
                    .includes
                    .iter()
                    .all(|(node, _)| parent.resolved[*node] == resolved[*node])
            {
                values.push(parent.values[i]);
                continue;
            }
            let mut derived_parents: Vec<(Oid, Oid)> = Vec::new();
            for p in parents {
                let value = match states.get(p) {
                    Some(state) => state.values[i],
                    None => match cache.get(&spec.key, *p).filter(|v| {
                        let lookup = |path: &str| path_in(repo, *p, path);
                        verified(repo, &spec.spec, &spec.trailer, &lookup, *v)
                    }) {
                        Some(v) => Some(v),
                        None => {
                            unanswerable[i] = true;
                            None
                        }
                    },
                };
                if let Some(v) = value
                    && !derived_parents.contains(&v)
                {
                    derived_parents.push(v);
                }
            }
            if unanswerable[i] {
                values.push(None);
                continue;
            }
            match derive_one(repo, &commit, spec, &resolved, &derived_parents) {
                Ok(v) => values.push(v),
                Err(e) => {
                    errors[i] = Some(e);
                    values.push(None);
                }
            }
        }
        for p in parents {
            if let Some(count) = children.get_mut(p) {
                *count -= 1;
                if *count == 0 && *p != head {
                    states.remove(p);
                }
            }
        }
        states.insert(oid, State { resolved, values });
    }
    let at_head = states.get(&head);
    Ok(compiled
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            if let Some(e) = errors[i].take() {
                return Some(Err(e));
            }
            if unanswerable[i] {
                return None;
            }
            match at_head {
                Some(state) => Some(Ok(state.values[i])),
                // HEAD is below a cached tip of this spec: the cache answers, or nothing does.
                None => cache
                    .get(&spec.key, head)
                    .filter(|v| {
                        let lookup = |path: &str| path_in(repo, head, path);
                        verified(repo, &spec.spec, &spec.trailer, &lookup, *v)
                    })
                    .map(|v| Ok(Some(v))),
            }
        })
        .collect())
}

/// The value of one spec at `commit`, given its derived parents.
fn derive_one(
    repo: &Repository,
    commit: &git2::Commit<'_>,
    spec: &Compiled,
    resolved: &[Option<Entry>],
    derived_parents: &[(Oid, Oid)],
) -> Result<Value, DeployError> {
    let mut parents: Vec<(Oid, Oid)> = derived_parents.to_vec();
    if parents.len() > 1 {
        // None that is an ancestor of another.
        let all = parents.clone();
        parents.retain(|(x, _)| {
            !all.iter()
                .any(|(y, _)| y != x && repo.graph_descendant_of(*y, *x).unwrap_or(false))
        });
    }
    // The folder is not there (yet, or any more): nothing new to deploy.
    let Some((root, TREE_MODE)) = resolved[spec.root] else {
        return Ok(parents.first().copied());
    };
    let tree = deploy_tree(repo, spec, root, resolved)?;
    if let [(only, only_tree)] = parents.as_slice()
        && *only_tree == tree
    {
        return Ok(Some((*only, tree)));
    }
    let tree_object = repo.find_tree(tree).doing("read a tree")?;
    let parent_commits: Vec<git2::Commit<'_>> = parents
        .iter()
        .map(|(p, _)| repo.find_commit(*p))
        .collect::<Result<_, _>>()
        .doing("read a derived commit")?;
    let parent_refs: Vec<&git2::Commit<'_>> = parent_commits.iter().collect();
    let original = String::from_utf8_lossy(commit.message_raw_bytes()).into_owned();
    let message = format!(
        "{}\n\nAlgodeploy-Source-Commit: {}\n{}\n",
        original.trim_end(),
        commit.id(),
        spec.trailer
    );
    let buffer = repo
        .commit_create_buffer(
            &commit.author(),
            &commit.committer(),
            &message,
            &tree_object,
            &parent_refs,
        )
        .doing("make a deploy commit")?;
    let oid = repo
        .odb()
        .and_then(|odb| odb.write(ObjectType::Commit, &buffer))
        .doing("write a deploy commit")?;
    Ok(Some((oid, tree)))
}

/// The root's tree less the manifest and `.algodeploy/`, with the includes placed.
fn deploy_tree(
    repo: &Repository,
    spec: &Compiled,
    root: Oid,
    resolved: &[Option<Entry>],
) -> Result<Oid, DeployError> {
    let base = repo.find_tree(root).doing("read a tree")?;
    let mut builder = repo.treebuilder(Some(&base)).doing("build a tree")?;
    for name in [spec.spec.manifest_name.as_str(), ".algodeploy"] {
        if builder.get(name).ok().flatten().is_some() {
            builder.remove(name).doing("build a tree")?;
        }
    }
    for (node, to) in &spec.includes {
        if let Some(entry) = resolved[*node] {
            place(repo, &mut builder, to, entry)?;
        }
    }
    Ok(builder.write().doing("write a tree")?)
}

fn place(
    repo: &Repository,
    builder: &mut git2::TreeBuilder<'_>,
    parts: &[String],
    entry: Entry,
) -> Result<(), DeployError> {
    let [first, rest @ ..] = parts else {
        return Ok(());
    };
    if rest.is_empty() {
        builder
            .insert(first, entry.0, entry.1)
            .doing("build a tree")?;
        return Ok(());
    }
    let existing = builder
        .get(first)
        .ok()
        .flatten()
        .filter(|e| e.filemode() == TREE_MODE)
        .map(|e| e.id());
    let sub_tree = existing.and_then(|oid| repo.find_tree(oid).ok());
    let mut sub = repo.treebuilder(sub_tree.as_ref()).doing("build a tree")?;
    place(repo, &mut sub, rest, entry)?;
    let oid = sub.write().doing("write a tree")?;
    builder
        .insert(first, oid, TREE_MODE)
        .doing("build a tree")?;
    Ok(())
}

/// Tips of earlier derivations: `(key, source commit) → (derived commit, tree)`, newest first
/// per key, in `.git/algodeploy/deploy-commits` (inside `.git`, so never in the work tree).
struct Cache {
    entries: Vec<(String, Oid, Oid, Oid)>,
    index: HashMap<(String, Oid), (Oid, Oid)>,
    changed: bool,
}

impl Cache {
    fn file(repo: &Repository) -> PathBuf {
        repo.path().join("algodeploy").join("deploy-commits")
    }

    fn load(repo: &Repository) -> Cache {
        use std::io::Read;
        let mut text = String::new();
        if let Ok(file) = std::fs::File::open(Cache::file(repo)) {
            let _ = file.take(16 * 1024 * 1024).read_to_string(&mut text);
        }
        let entries = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                let (key, src, commit, tree) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                Some((
                    key.to_string(),
                    Oid::from_str(src).ok()?,
                    Oid::from_str(commit).ok()?,
                    Oid::from_str(tree).ok()?,
                ))
            })
            .collect::<Vec<(String, Oid, Oid, Oid)>>();
        let index = entries
            .iter()
            .map(|(k, s, c, t)| ((k.clone(), *s), (*c, *t)))
            .collect();
        Cache {
            entries,
            index,
            changed: false,
        }
    }

    fn get(&self, key: &str, source: Oid) -> Option<(Oid, Oid)> {
        self.index.get(&(key.to_string(), source)).copied()
    }

    fn tips<'a>(&self, keys: impl Iterator<Item = &'a str>) -> Vec<Oid> {
        let keys: HashSet<&str> = keys.collect();
        let mut tips: Vec<Oid> = self
            .entries
            .iter()
            .filter(|(k, ..)| keys.contains(k.as_str()))
            .map(|(_, s, ..)| *s)
            .collect();
        tips.sort();
        tips.dedup();
        tips
    }

    fn put(&mut self, key: &str, source: Oid, commit: Oid, tree: Oid) {
        self.entries
            .retain(|(k, s, ..)| !(k == key && *s == source));
        self.entries
            .insert(0, (key.to_string(), source, commit, tree));
        let mut seen = 0;
        self.entries.retain(|(k, ..)| {
            if k == key {
                seen += 1;
                seen <= TIPS_PER_KEY
            } else {
                true
            }
        });
        self.changed = true;
    }

    /// Best effort: a cache that cannot be written costs time, never correctness.
    fn save(&self, repo: &Repository) {
        if !self.changed {
            return;
        }
        let path = Cache::file(repo);
        if let Some(folder) = path.parent() {
            let _ = std::fs::create_dir_all(folder);
        }
        // Newest (last put) first; one line per key and source; a few per key.
        let mut seen: HashSet<(&str, Oid)> = HashSet::new();
        let mut per_key: HashMap<&str, usize> = HashMap::new();
        let mut text = String::new();
        let newest_first = self
            .entries
            .iter()
            .rev()
            .filter(|(k, s, ..)| seen.insert((k, *s)));
        let mut kept: Vec<&(String, Oid, Oid, Oid)> = newest_first
            .filter(|(k, ..)| {
                let count = per_key.entry(k).or_default();
                *count += 1;
                *count <= TIPS_PER_KEY
            })
            .collect();
        kept.reverse();
        // Loaded files are read in order and later puts appended: keep the newest last.
        for (k, s, c, t) in kept {
            text.push_str(&format!("{k} {s} {c} {t}\n"));
        }
        if let Err(e) = crate::state::write_atomic(&path, text.as_bytes()) {
            tracing::debug!(
                "cannot write the deploy-commit cache {}: {e}",
                path.display()
            );
        }
    }
}

/// Whether a cached answer is what the derivation would give at `source`: the commit exists
/// with the cached tree and this spec's folders trailer, and that tree is the spec's deploy
/// tree at the source commit whose paths `lookup` resolves (each include's object at its `to`; every other top-level entry the
/// root's, but the manifest and `.algodeploy/`). A cache in `.git` is written by algodeploy,
/// but nothing in it is trusted blindly: a swapped or stale line would push other code.
fn verified(
    repo: &Repository,
    spec: &Spec,
    trailer: &str,
    lookup: &dyn Fn(&str) -> Option<Oid>,
    cached: (Oid, Oid),
) -> bool {
    let (commit, tree) = cached;
    let check = || -> Option<bool> {
        let found = repo.find_commit(commit).ok()?;
        if found.tree_id() != tree {
            return Some(false);
        }
        let message = String::from_utf8_lossy(found.message_raw_bytes()).into_owned();
        if !message.lines().any(|l| l == trailer) {
            return Some(false);
        }
        let root = repo.find_tree(lookup(&spec.root)?).ok()?;
        let deployed = repo.find_tree(tree).ok()?;
        let mut placed: HashSet<&str> = HashSet::new();
        for (from, to) in &spec.includes {
            let want = lookup(from);
            let have = deployed.get_path(Path::new(to)).ok().map(|e| e.id());
            if want != have {
                return Some(false);
            }
            placed.insert(to.split('/').next().unwrap_or(to));
        }
        let skip = |name: &str| {
            name == spec.manifest_name || name == ".algodeploy" || placed.contains(name)
        };
        let entries = |t: &git2::Tree<'_>| -> Vec<(String, Oid, i32)> {
            t.iter()
                .filter_map(|e| {
                    let name = e.name().ok()?.to_string();
                    (!skip(&name)).then(|| (name, e.id(), e.filemode()))
                })
                .collect()
        };
        Some(entries(&root) == entries(&deployed))
    };
    check().unwrap_or(false)
}

/// The trailer a rollback commit carries (`algodeploy rollback`).
pub const ROLLBACK_TRAILER: &str = "Algodeploy-Rollback-Of: ";

/// Whether `master` is a rollback commit (in the repository at `root`) whose parent is
/// `deploy` or in its history.
pub fn is_rollback_on(root: &Path, master: &str, deploy: &str) -> bool {
    let Ok(repo) = Repository::open(root) else {
        return false;
    };
    let (Ok(master), Ok(deploy)) = (Oid::from_str(master), Oid::from_str(deploy)) else {
        return false;
    };
    let Ok(commit) = repo.find_commit(master) else {
        return false;
    };
    let message = String::from_utf8_lossy(commit.message_raw_bytes()).into_owned();
    if !message.lines().any(|l| l.starts_with(ROLLBACK_TRAILER)) || commit.parent_count() != 1 {
        return false;
    }
    let Ok(parent) = commit.parent_id(0) else {
        return false;
    };
    parent == deploy || repo.graph_descendant_of(deploy, parent).unwrap_or(false)
}

/// `path` (repository-relative, `""` for the root) in the tree of `commit`.
fn path_in(repo: &Repository, commit: Oid, path: &str) -> Option<Oid> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    if path.is_empty() {
        return Some(tree.id());
    }
    tree.get_path(Path::new(path)).ok().map(|e| e.id())
}

/// The monorepo commit a deploy commit was derived from (its `Algodeploy-Source-Commit`
/// trailer), when the commit is in the local repository.
pub fn source_commit(repo: &Repository, deploy_commit: &str) -> Option<String> {
    let commit = repo.find_commit(Oid::from_str(deploy_commit).ok()?).ok()?;
    let message = String::from_utf8_lossy(commit.message_raw_bytes()).into_owned();
    message.lines().rev().find_map(|line| {
        line.strip_prefix("Algodeploy-Source-Commit: ")
            .map(str::trim)
            .filter(|sha| crate::git::is_object_name(sha))
            .map(str::to_owned)
    })
}

/// Which of `paths` (files, or folders when they end in `/`) the tree lacks.
pub fn missing_paths(repo: &Repository, tree: &str, paths: &[String]) -> Vec<String> {
    let Some(tree) = Oid::from_str(tree)
        .ok()
        .and_then(|t| repo.find_tree(t).ok())
    else {
        return paths.to_vec();
    };
    paths
        .iter()
        .filter(|path| {
            let folder = path.ends_with('/');
            match tree.get_path(Path::new(path.trim_end_matches('/'))) {
                Ok(entry) => (entry.filemode() == TREE_MODE) != folder,
                Err(_) => true,
            }
        })
        .cloned()
        .collect()
}

/// Whether two commits deploy the same code: their trees equal but for the manifest file and
/// `.algodeploy/` at the root.
pub fn same_code(repo: &Repository, a: &str, b: &str, manifest_name: &str) -> bool {
    let tree = |sha: &str| -> Option<Oid> {
        let commit = repo.find_commit(Oid::from_str(sha).ok()?).ok()?;
        let tree = commit.tree().ok()?;
        let mut builder = repo.treebuilder(Some(&tree)).ok()?;
        for name in [manifest_name, ".algodeploy"] {
            if builder.get(name).ok().flatten().is_some() {
                builder.remove(name).ok()?;
            }
        }
        builder.write().ok()
    };
    match (tree(a), tree(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trie_numbers_descendants_contiguously() {
        let (trie, ids) = Trie::build(&["a/b", "a/c/d", "e", "a/b/f", ""]);
        assert_eq!(ids[""], 0);
        let a = trie.children[0]
            .iter()
            .copied()
            .find(|&c| trie.names[c] == "a")
            .unwrap();
        for path in ["a/b", "a/c/d", "a/b/f"] {
            assert!((a + 1..trie.end[a]).contains(&ids[path]), "{path}");
        }
        assert!(!(a + 1..trie.end[a]).contains(&ids["e"]));
        assert_eq!(trie.end[0], trie.names.len());
    }
}
