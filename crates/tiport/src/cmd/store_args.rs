//! The flags every command that touches the store shares: where the store is, and how long
//! import records and files are kept.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;
use store::sqlite::{SqliteOptions, SqliteStore};
use store::Retention;
use tiport_core::files::ImportFiles;

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The data directory: the embedded database and the files of imports.
    #[arg(long, env = "TIPORT_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The database instead of the data directory's: `sqlite:PATH` (or `postgres://…`).
    #[arg(long, env = "TIPORT_DATABASE_URL", value_name = "URL")]
    database: Option<String>,
    /// How long import records are kept, e.g. `30d`.
    #[arg(long, env = "TIPORT_IMPORT_RECORD_RETENTION", value_name = "DURATION",
          default_value = "30d", value_parser = crate::cmd::config::parse_duration)]
    import_record_retention: Duration,
    /// How long an import's file and error file are kept, e.g. `24h`.
    #[arg(long, env = "TIPORT_IMPORT_FILE_RETENTION", value_name = "DURATION",
          default_value = "24h", value_parser = crate::cmd::config::parse_duration)]
    import_file_retention: Duration,
    /// Open a store whose files other users of this machine may read (they hold the token
    /// signing key, the hashes of every secret and the intelligence): refused otherwise.
    #[arg(long, env = "TIPORT_ALLOW_READABLE_STORE")]
    allow_readable_store: bool,
}

impl StoreArgs {
    /// Refuses a store whose files (or import area) other users may read, unless allowed.
    fn refuse_exposed(&self, db: &std::path::Path, data_dir: &std::path::Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut exposed = store::sqlite::exposed_files(db);
        let imports = data_dir.join("imports");
        if let Ok(m) = std::fs::metadata(&imports) {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                exposed.push((imports, mode));
            }
        }
        if exposed.is_empty() {
            return Ok(());
        }
        let list = exposed
            .iter()
            .map(|(p, m)| format!("{} (mode {m:04o})", p.display()))
            .collect::<Vec<_>>()
            .join(", ");
        if self.allow_readable_store {
            eprintln!("tiport: warning: other users may read the store: {list}");
            return Ok(());
        }
        bail!(
            "other users of this machine may read the store's files: {list}. They hold the token \
             signing key, the hashes of every secret and the intelligence. Make them private \
             (chmod 600 for files, 700 for directories), or pass --allow-readable-store to open \
             the store anyway"
        )
    }
}

/// An open store with its data directory.
pub struct Opened {
    pub store: SqliteStore,
    pub files: ImportFiles,
    /// The data directory, absolute.
    pub data_dir: PathBuf,
    /// The retention periods in force, for a process that sweeps again while it runs.
    pub retention: Retention,
}

impl StoreArgs {
    /// Opens the store, creating the data directory if need be, and does the housekeeping
    /// every opening does (abandoned imports failed, retention applied).
    pub fn open(&self) -> Result<Opened> {
        let (db, data_dir) = match &self.database {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                bail!(
                    "the PostgreSQL engine is not in this build yet; use the embedded store \
                     (--data-dir DIR or --database sqlite:PATH)"
                )
            }
            Some(url) => {
                let Some(path) = url.strip_prefix("sqlite:") else {
                    bail!("--database must be sqlite:PATH or postgres://…, not {url:?}")
                };
                let path = PathBuf::from(path.strip_prefix("//").unwrap_or(path));
                let dir = match &self.data_dir {
                    Some(d) => d.clone(),
                    None => path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map(PathBuf::from)
                        .unwrap_or_else(|| PathBuf::from(".")),
                };
                (path, dir)
            }
            None => {
                let dir = self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("tiport-data"));
                (dir.join("tiport.db"), dir)
            }
        };
        tiport_core::files::private_dir_all(&data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        // Absolute, because the store records the paths of import files: a later run from
        // another directory must find (and expire) them.
        let data_dir = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the data directory {}", data_dir.display()))?;
        self.refuse_exposed(&db, &data_dir)?;
        let store = SqliteStore::open(&db, SqliteOptions::default())
            .with_context(|| format!("cannot open the store {}", db.display()))?;
        let files = ImportFiles::new(&data_dir);
        let retention = Retention {
            records: self.import_record_retention,
            files: self.import_file_retention,
        };
        let done = tiport_core::housekeeping(&store, &files, &retention)
            .context("housekeeping of the store failed")?;
        if done.failed_imports > 0 {
            eprintln!(
                "tiport: {} interrupted import(s) marked failed",
                done.failed_imports
            );
        }
        if let Some(e) = done.delete_error {
            eprintln!("tiport: could not delete an expired import file: {e}");
        }
        Ok(Opened {
            store,
            files,
            data_dir,
            retention,
        })
    }
}
