//! The emulator's durable state: algorithms, builds and versions in one SQLite database
//! (`DATA_DIR/emulator.sqlite3`, WAL, `synchronous=FULL`), so that every write answered with a
//! 2xx survives a SIGKILL. One connection behind one mutex serializes writes; that is what makes
//! two simultaneous publishes produce one version, and the `UNIQUE` constraints back it up.
//!
//! Rows hold the emulator's own records; the JSON the API answers is built in `api/answers.rs`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

pub struct Store {
    connection: Connection,
}

#[derive(Debug, Clone)]
pub struct Algorithm {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub details: serde_json::Value,
    pub settings: serde_json::Value,
    pub sample_input: Option<String>,
    /// The last commit of `master` that a build was started for.
    pub pushed_sha: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Build {
    pub seq: i64,
    pub build_id: String,
    pub algorithm_id: String,
    pub commit_sha: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub logs: String,
}

#[derive(Debug, Clone)]
pub struct Version {
    pub algorithm_id: String,
    pub git_hash: String,
    pub version_uuid: String,
    pub build_seq: i64,
    pub semantic_version: Option<String>,
    pub published_seq: Option<i64>,
    pub release_notes: Option<String>,
    pub sample_input: Option<String>,
    pub sample_output: Option<String>,
    pub callability: Option<String>,
}

pub(crate) type Result<T> = rusqlite::Result<T>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS algorithms (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    details TEXT NOT NULL,
    settings TEXT NOT NULL,
    sample_input TEXT,
    pushed_sha TEXT,
    UNIQUE (owner, name)
);
CREATE TABLE IF NOT EXISTS builds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id TEXT NOT NULL UNIQUE,
    algorithm_id TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    logs TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS builds_by_algorithm ON builds (algorithm_id, seq);
CREATE TABLE IF NOT EXISTS versions (
    algorithm_id TEXT NOT NULL,
    git_hash TEXT NOT NULL,
    version_uuid TEXT NOT NULL,
    build_seq INTEGER NOT NULL,
    semantic_version TEXT,
    published_seq INTEGER,
    release_notes TEXT,
    sample_input TEXT,
    sample_output TEXT,
    callability TEXT,
    PRIMARY KEY (algorithm_id, git_hash),
    UNIQUE (algorithm_id, semantic_version)
);
CREATE TABLE IF NOT EXISTS secrets (
    id TEXT PRIMARY KEY,
    algorithm_id TEXT NOT NULL,
    short_name TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    description TEXT NOT NULL,
    value TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    UNIQUE (algorithm_id, secret_key)
);
CREATE TABLE IF NOT EXISTS api_keys (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    manage INTEGER NOT NULL,
    generated INTEGER NOT NULL DEFAULT 0
);
";

/// A stored API key: given with `--key` / `--read-only-key` once, or made at first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub key: String,
    pub owner: String,
    pub manage: bool,
    pub generated: bool,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store> {
        let connection = Connection::open(dir.join("emulator.sqlite3"))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(SCHEMA)?;
        Ok(Store { connection })
    }

    pub fn transaction<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = self.connection.transaction()?;
        let value = f(&Tx { tx: &tx })?;
        tx.commit()?;
        Ok(value)
    }
}

/// Queries inside one transaction.
pub struct Tx<'c> {
    tx: &'c rusqlite::Transaction<'c>,
}

fn json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

fn algorithm_row(row: &rusqlite::Row) -> Result<Algorithm> {
    Ok(Algorithm {
        id: row.get(0)?,
        owner: row.get(1)?,
        name: row.get(2)?,
        details: json(row.get(3)?),
        settings: json(row.get(4)?),
        sample_input: row.get(5)?,
        pushed_sha: row.get(6)?,
    })
}

fn build_row(row: &rusqlite::Row) -> Result<Build> {
    Ok(Build {
        seq: row.get(0)?,
        build_id: row.get(1)?,
        algorithm_id: row.get(2)?,
        commit_sha: row.get(3)?,
        status: row.get(4)?,
        started_at: row.get(5)?,
        finished_at: row.get(6)?,
        logs: row.get(7)?,
    })
}

fn version_row(row: &rusqlite::Row) -> Result<Version> {
    Ok(Version {
        algorithm_id: row.get(0)?,
        git_hash: row.get(1)?,
        version_uuid: row.get(2)?,
        build_seq: row.get(3)?,
        semantic_version: row.get(4)?,
        published_seq: row.get(5)?,
        release_notes: row.get(6)?,
        sample_input: row.get(7)?,
        sample_output: row.get(8)?,
        callability: row.get(9)?,
    })
}

const ALGORITHM_COLUMNS: &str = "id, owner, name, details, settings, sample_input, pushed_sha";
const BUILD_COLUMNS: &str =
    "seq, build_id, algorithm_id, commit_sha, status, started_at, finished_at, logs";
const VERSION_COLUMNS: &str = "algorithm_id, git_hash, version_uuid, build_seq, semantic_version, published_seq, release_notes, sample_input, sample_output, callability";

/// An algorithm's secret; `value` never leaves the emulator but to the algorithm's process.
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: String,
    pub algorithm_id: String,
    pub short_name: String,
    pub secret_key: String,
    pub description: String,
    pub value: String,
    pub provider_id: String,
    pub created: String,
    pub modified: String,
}

impl Tx<'_> {
    pub fn secrets(&self, algorithm_id: &str) -> Result<Vec<Secret>> {
        let mut statement = self.tx.prepare(
            "SELECT id, algorithm_id, short_name, secret_key, description, value, provider_id, created, modified FROM secrets WHERE algorithm_id = ?1 ORDER BY secret_key",
        )?;
        let rows = statement.query_map(params![algorithm_id], |row| {
            Ok(Secret {
                id: row.get(0)?,
                algorithm_id: row.get(1)?,
                short_name: row.get(2)?,
                secret_key: row.get(3)?,
                description: row.get(4)?,
                value: row.get(5)?,
                provider_id: row.get(6)?,
                created: row.get(7)?,
                modified: row.get(8)?,
            })
        })?;
        rows.collect()
    }

    pub fn upsert_secret(&self, secret: &Secret) -> Result<()> {
        self.tx.execute(
            "INSERT INTO secrets (id, algorithm_id, short_name, secret_key, description, value, provider_id, created, modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET short_name = ?3, secret_key = ?4, description = ?5, value = ?6, modified = ?9",
            params![
                secret.id,
                secret.algorithm_id,
                secret.short_name,
                secret.secret_key,
                secret.description,
                secret.value,
                secret.provider_id,
                secret.created,
                secret.modified
            ],
        )?;
        Ok(())
    }

    pub fn delete_secret(&self, algorithm_id: &str, id: &str) -> Result<usize> {
        self.tx.execute(
            "DELETE FROM secrets WHERE algorithm_id = ?1 AND id = ?2",
            params![algorithm_id, id],
        )
    }

    pub fn keys(&self) -> Result<Vec<StoredKey>> {
        let mut statement = self
            .tx
            .prepare("SELECT key, owner, manage, generated FROM api_keys ORDER BY rowid")?;
        statement
            .query_map([], |row| {
                Ok(StoredKey {
                    key: row.get(0)?,
                    owner: row.get(1)?,
                    manage: row.get(2)?,
                    generated: row.get(3)?,
                })
            })?
            .collect()
    }

    pub fn delete_key(&self, key: &str) -> Result<()> {
        self.tx
            .execute("DELETE FROM api_keys WHERE key = ?1", params![key])?;
        Ok(())
    }

    pub fn put_key(&self, key: &StoredKey) -> Result<()> {
        self.tx.execute(
            "INSERT INTO api_keys (key, owner, manage, generated) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET owner = ?2, manage = ?3, generated = ?4",
            params![key.key, key.owner, key.manage, key.generated],
        )?;
        Ok(())
    }

    pub fn algorithm_by_name(&self, owner: &str, name: &str) -> Result<Option<Algorithm>> {
        self.tx
            .query_row(
                &format!(
                    "SELECT {ALGORITHM_COLUMNS} FROM algorithms WHERE owner = ?1 AND name = ?2"
                ),
                params![owner, name],
                algorithm_row,
            )
            .optional()
    }

    pub fn algorithm_by_id(&self, id: &str) -> Result<Option<Algorithm>> {
        self.tx
            .query_row(
                &format!("SELECT {ALGORITHM_COLUMNS} FROM algorithms WHERE id = ?1"),
                params![id],
                algorithm_row,
            )
            .optional()
    }

    pub fn algorithms_of(&self, owner: &str) -> Result<Vec<Algorithm>> {
        let mut statement = self.tx.prepare(&format!(
            "SELECT {ALGORITHM_COLUMNS} FROM algorithms WHERE owner = ?1 ORDER BY name"
        ))?;
        statement
            .query_map(params![owner], algorithm_row)?
            .collect()
    }

    pub fn insert_algorithm(&self, a: &Algorithm) -> Result<()> {
        self.tx.execute(
            "INSERT INTO algorithms (id, owner, name, details, settings, sample_input, pushed_sha) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![a.id, a.owner, a.name, a.details.to_string(), a.settings.to_string(), a.sample_input, a.pushed_sha],
        )?;
        Ok(())
    }

    pub fn update_algorithm(&self, a: &Algorithm) -> Result<()> {
        self.tx.execute(
            "UPDATE algorithms SET details = ?2, settings = ?3, sample_input = ?4, pushed_sha = ?5 WHERE id = ?1",
            params![a.id, a.details.to_string(), a.settings.to_string(), a.sample_input, a.pushed_sha],
        )?;
        Ok(())
    }

    pub fn delete_algorithm(&self, id: &str) -> Result<()> {
        self.tx
            .execute("DELETE FROM secrets WHERE algorithm_id = ?1", params![id])?;
        self.tx
            .execute("DELETE FROM versions WHERE algorithm_id = ?1", params![id])?;
        self.tx
            .execute("DELETE FROM builds WHERE algorithm_id = ?1", params![id])?;
        self.tx
            .execute("DELETE FROM algorithms WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn insert_build(
        &self,
        algorithm_id: &str,
        build_id: &str,
        commit: &str,
        started_at: &str,
    ) -> Result<Build> {
        self.tx.execute(
            "INSERT INTO builds (build_id, algorithm_id, commit_sha, status, started_at) VALUES (?1, ?2, ?3, 'in-progress', ?4)",
            params![build_id, algorithm_id, commit, started_at],
        )?;
        Ok(self
            .build(algorithm_id, build_id)?
            .expect("the build just inserted"))
    }

    pub fn build(&self, algorithm_id: &str, build_id: &str) -> Result<Option<Build>> {
        self.tx
            .query_row(
                &format!(
                    "SELECT {BUILD_COLUMNS} FROM builds WHERE algorithm_id = ?1 AND build_id = ?2"
                ),
                params![algorithm_id, build_id],
                build_row,
            )
            .optional()
    }

    pub fn build_by_seq(&self, seq: i64) -> Result<Option<Build>> {
        self.tx
            .query_row(
                &format!("SELECT {BUILD_COLUMNS} FROM builds WHERE seq = ?1"),
                params![seq],
                build_row,
            )
            .optional()
    }

    /// Builds newest first, `limit` from `offset`.
    pub fn builds(&self, algorithm_id: &str, offset: usize, limit: usize) -> Result<Vec<Build>> {
        let mut statement = self.tx.prepare(&format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE algorithm_id = ?1 ORDER BY seq DESC LIMIT ?2 OFFSET ?3"
        ))?;
        statement
            .query_map(
                params![algorithm_id, limit as i64, offset as i64],
                build_row,
            )?
            .collect()
    }

    pub fn latest_build(&self, algorithm_id: &str) -> Result<Option<Build>> {
        Ok(self.builds(algorithm_id, 0, 1)?.pop())
    }

    pub fn all_algorithms(&self) -> Result<Vec<Algorithm>> {
        let mut statement = self.tx.prepare(&format!(
            "SELECT {ALGORITHM_COLUMNS} FROM algorithms ORDER BY owner, name"
        ))?;
        statement.query_map([], algorithm_row)?.collect()
    }

    /// Whether any build of `commit` exists for the algorithm.
    pub fn has_build(&self, algorithm_id: &str, commit: &str) -> Result<bool> {
        self.tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM builds WHERE algorithm_id = ?1 AND commit_sha = ?2)",
            params![algorithm_id, commit],
            |row| row.get(0),
        )
    }

    pub fn in_progress_builds(&self) -> Result<Vec<Build>> {
        let mut statement = self.tx.prepare(&format!(
            "SELECT {BUILD_COLUMNS} FROM builds WHERE status = 'in-progress' ORDER BY seq"
        ))?;
        statement.query_map([], build_row)?.collect()
    }

    pub fn finish_build(
        &self,
        seq: i64,
        status: &str,
        finished_at: &str,
        logs: &str,
    ) -> Result<()> {
        self.tx.execute(
            "UPDATE builds SET status = ?2, finished_at = ?3, logs = ?4 WHERE seq = ?1",
            params![seq, status, finished_at, logs],
        )?;
        Ok(())
    }

    pub fn version(&self, algorithm_id: &str, git_hash: &str) -> Result<Option<Version>> {
        self.tx
            .query_row(
                &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE algorithm_id = ?1 AND git_hash = ?2"),
                params![algorithm_id, git_hash],
                version_row,
            )
            .optional()
    }

    /// Versions newest first (by their latest build), optionally only published or only not.
    pub fn versions(
        &self,
        algorithm_id: &str,
        published: Option<bool>,
        callable: Option<bool>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Version>> {
        let mut sql = format!("SELECT {VERSION_COLUMNS} FROM versions WHERE algorithm_id = ?1");
        match published {
            Some(true) => sql.push_str(" AND semantic_version IS NOT NULL"),
            Some(false) => sql.push_str(" AND semantic_version IS NULL"),
            None => {}
        }
        match callable {
            Some(true) => sql.push_str(" AND callability = 'public'"),
            Some(false) => sql.push_str(" AND (callability IS NULL OR callability = 'private')"),
            None => {}
        }
        sql.push_str(" ORDER BY build_seq DESC LIMIT ?2 OFFSET ?3");
        let mut statement = self.tx.prepare(&sql)?;
        statement
            .query_map(
                params![algorithm_id, limit as i64, offset as i64],
                version_row,
            )?
            .collect()
    }

    /// The version of the latest successful build.
    pub fn latest_built_version(&self, algorithm_id: &str) -> Result<Option<Version>> {
        Ok(self.versions(algorithm_id, None, None, 0, 1)?.pop())
    }

    pub fn latest_published(&self, algorithm_id: &str) -> Result<Option<Version>> {
        self.tx
            .query_row(
                &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE algorithm_id = ?1 AND semantic_version IS NOT NULL ORDER BY published_seq DESC LIMIT 1"),
                params![algorithm_id],
                version_row,
            )
            .optional()
    }

    /// Records a successful build of a commit: a new hash version, or the existing one moved to
    /// this build.
    pub fn record_built_version(
        &self,
        algorithm_id: &str,
        git_hash: &str,
        build_seq: i64,
        sample_input: Option<&str>,
    ) -> Result<()> {
        self.tx.execute(
            "INSERT INTO versions (algorithm_id, git_hash, version_uuid, build_seq, sample_input) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (algorithm_id, git_hash) DO UPDATE SET build_seq = excluded.build_seq",
            params![algorithm_id, git_hash, uuid::Uuid::new_v4().to_string(), build_seq, sample_input],
        )?;
        Ok(())
    }

    pub fn publish(&self, v: &Version) -> Result<()> {
        let next: i64 = self.tx.query_row(
            "SELECT COALESCE(MAX(published_seq), 0) + 1 FROM versions WHERE algorithm_id = ?1",
            params![v.algorithm_id],
            |row| row.get(0),
        )?;
        self.tx.execute(
            "UPDATE versions SET semantic_version = ?3, published_seq = ?4, release_notes = ?5, sample_input = ?6, sample_output = ?7, callability = ?8
             WHERE algorithm_id = ?1 AND git_hash = ?2 AND semantic_version IS NULL",
            params![v.algorithm_id, v.git_hash, v.semantic_version, next, v.release_notes, v.sample_input, v.sample_output, v.callability],
        )?;
        Ok(())
    }
}
