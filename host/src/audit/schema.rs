//! Opening the audit database and bringing its schema up to date.
//!
//! Migrations are the SQL files in `host/migrations/`, compiled into the
//! binary and applied in order, each in its own transaction together with
//! its row in `schema_version`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::AuditError;

/// One versioned migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version (the file's number).
    pub version: u32,
    /// Its name (the rest of the file name).
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration, in order. A new one is a new file here *and* in
/// `host/migrations/` (a test checks the two agree).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sql: include_str!("../../migrations/0001_init.sql"),
}];

/// The schema version this binary writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens (creating it if needed) the database for the writer: WAL,
/// `synchronous = NORMAL`, schema migrated to the latest version.
pub fn open_writer(path: &Path) -> Result<Connection, AuditError> {
    let err = |source| AuditError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| AuditError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    create_private(path)?;
    let mut conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(AuditError::Schema {
            path: path.to_path_buf(),
            message: format!("cannot switch to WAL mode (journal_mode is `{mode}`)"),
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    migrate(&mut conn).map_err(|e| e.at(path))?;
    Ok(conn)
}

/// Opens an existing database for queries only. The schema must be one this
/// binary knows; nothing is created or migrated.
pub fn open_reader(path: &Path) -> Result<Connection, AuditError> {
    if !path.is_file() {
        return Err(AuditError::Missing {
            path: path.to_path_buf(),
        });
    }
    let err = |source| AuditError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    // Read-write without create: a read-only connection cannot open a WAL
    // database whose -shm file is gone (a clean shutdown removes it).
    // `query_only` makes sure this connection never writes.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    conn.pragma_update(None, "query_only", true).map_err(err)?;
    let version = current_version(&conn).map_err(err)?;
    let latest = latest_version();
    if version == 0 {
        return Err(AuditError::Schema {
            path: path.to_path_buf(),
            message: "not a voicegate audit database (no schema_version)".to_owned(),
        });
    }
    if version != latest {
        return Err(AuditError::Schema {
            path: path.to_path_buf(),
            message: version_mismatch(version, latest),
        });
    }
    Ok(conn)
}

fn version_mismatch(found: u32, latest: u32) -> String {
    if found > latest {
        format!(
            "schema version {found} is newer than this voicegate knows ({latest}); use a newer voicegate"
        )
    } else {
        format!(
            "schema version {found} is older than this voicegate's ({latest}); start the host once to migrate it"
        )
    }
}

/// The database file holds phone numbers and what callers said: create it
/// readable by its owner only (SQLite gives -wal and -shm the same mode).
fn create_private(path: &Path) -> Result<(), AuditError> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// The highest applied version; 0 for a fresh database.
pub fn current_version(conn: &Connection) -> rusqlite::Result<u32> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |row| row.get(0),
    )
}

/// A migration problem, before the path is known.
#[derive(Debug)]
pub enum MigrateError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// The database is newer than this binary.
    TooNew(u32),
    /// A migration failed.
    Failed(u32, &'static str, rusqlite::Error),
}

impl MigrateError {
    fn at(self, path: &Path) -> AuditError {
        let path = path.to_path_buf();
        match self {
            Self::Sqlite(source) => AuditError::Sqlite { path, source },
            Self::TooNew(found) => AuditError::Schema {
                path,
                message: version_mismatch(found, latest_version()),
            },
            Self::Failed(version, name, source) => AuditError::Schema {
                path,
                message: format!("migration {version:04}_{name}.sql failed: {source}"),
            },
        }
    }
}

/// Applies every migration newer than the database. Returns the versions
/// applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<u32>, MigrateError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY NOT NULL,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL
         )",
    )
    .map_err(MigrateError::Sqlite)?;
    let current = current_version(conn).map_err(MigrateError::Sqlite)?;
    if current > latest_version() {
        return Err(MigrateError::TooNew(current));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let failed = |e| MigrateError::Failed(m.version, m.name, e);
        let tx = conn.transaction().map_err(failed)?;
        tx.execute_batch(m.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, crate::events::now_rfc3339()],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "Audit database migrated."
        );
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_files_and_the_list_agree() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions are 1, 2, 3, …");
        }
    }

    #[test]
    fn a_fresh_database_is_migrated_once_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/audit.db");
        let conn = open_writer(&path).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        for table in [
            "calls",
            "verdicts",
            "transcripts",
            "answers",
            "admin_actions",
        ] {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        drop(conn);
        // Opening again applies nothing.
        let mut conn = open_writer(&path).unwrap();
        assert!(migrate(&mut conn).unwrap().is_empty());
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn docs_audit_md_describes_every_column() {
        let doc = include_str!("../../../docs/audit.md");
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("audit.db")).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(tables.len() >= 6, "{tables:?}");
        for table in tables {
            let section = doc
                .split(&format!("### `{table}`"))
                .nth(1)
                .unwrap_or_else(|| panic!("docs/audit.md has no `### `{table}`` section"));
            let section = section.split("\n### ").next().unwrap_or_default();
            let columns: Vec<String> = conn
                .prepare(&format!("PRAGMA table_info({table})"))
                .unwrap()
                .query_map([], |r| r.get(1))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for column in columns {
                assert!(
                    section.contains(&format!("| `{column}` |")),
                    "docs/audit.md does not describe {table}.{column}"
                );
            }
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let conn = open_writer(&path).unwrap();
        conn.execute(
            "INSERT INTO schema_version VALUES (?1, 'future', 'x')",
            [latest_version() + 1],
        )
        .unwrap();
        drop(conn);
        let err = open_writer(&path).unwrap_err().to_string();
        assert!(err.contains("newer than this voicegate"), "{err}");
        assert!(err.contains("audit.db"), "{err}");
        let err = open_reader(&path).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }

    #[test]
    fn readers_need_an_existing_voicegate_database_and_never_write() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.db");
        assert!(matches!(
            open_reader(&missing),
            Err(AuditError::Missing { .. })
        ));
        assert!(!missing.exists(), "a reader creates nothing");
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = open_reader(&other).unwrap_err().to_string();
        assert!(err.contains("not a voicegate audit database"), "{err}");

        let path = dir.path().join("audit.db");
        drop(open_writer(&path).unwrap());
        let reader = open_reader(&path).unwrap();
        assert!(reader
            .execute("DELETE FROM calls", [])
            .unwrap_err()
            .to_string()
            .contains("readonly"));
    }

    #[test]
    fn rows_cannot_be_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("audit.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO calls (session_id, transport, call_id, from_number, to_number, started_at)
                 VALUES ('s', 't', 'c', '+1', '+2', 'x');
             INSERT INTO answers (session_id, text, at) VALUES ('s', 'hi', 'x');",
        )
        .unwrap();
        conn.execute(
            "UPDATE calls SET ended_at = 'y', end_reason = 'stopped', stream_id = 'MZ' WHERE session_id = 's'",
            [],
        )
        .unwrap();
        for sql in [
            "UPDATE calls SET from_number = '+3'",
            "UPDATE answers SET text = 'bye'",
        ] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        // Retention stays possible.
        conn.execute("DELETE FROM answers", []).unwrap();
    }
}
