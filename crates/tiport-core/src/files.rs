//! The files of imports under the data directory: each import's kept file and error file live
//! in `imports/<id>/`, and go when the retention sweep says so.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use store::{ImportFormat, ImportId};

/// The data directory's import area.
#[derive(Debug, Clone)]
pub struct ImportFiles {
    root: PathBuf,
}

impl ImportFiles {
    pub fn new(data_dir: &Path) -> Self {
        ImportFiles {
            root: data_dir.join("imports"),
        }
    }

    /// The directory of one import.
    pub fn dir(&self, id: ImportId) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// Where an import's error file goes: CSV for CSV imports (rows that open in a
    /// spreadsheet), JSON otherwise.
    pub fn error_path(&self, id: ImportId, format: ImportFormat) -> PathBuf {
        self.dir(id).join(match format {
            ImportFormat::Csv => "errors.csv",
            ImportFormat::Json => "errors.json",
        })
    }

    /// Copies `src` into the import's directory under `name` (reduced to a safe file name) and
    /// returns the copy's path. The copy is what the import reads, so the user may change or
    /// delete the original at once.
    pub fn keep_copy(&self, id: ImportId, src: &Path, name: &str) -> io::Result<PathBuf> {
        let dest = self.kept_path(id, name)?;
        fs::copy(src, &dest)?;
        Ok(dest)
    }

    /// Moves `src` (a file already on the same file system, such as an upload streamed to a
    /// temporary file) into the import's directory.
    pub fn keep_moved(&self, id: ImportId, src: &Path, name: &str) -> io::Result<PathBuf> {
        let dest = self.kept_path(id, name)?;
        fs::rename(src, &dest)?;
        Ok(dest)
    }

    fn kept_path(&self, id: ImportId, name: &str) -> io::Result<PathBuf> {
        let dir = self.dir(id);
        fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("file-{}", safe_name(name))))
    }

    /// Deletes expired files (missing ones are fine) and then their import directories if
    /// empty. Returns the first error other than "not found", after trying every file.
    pub fn delete(&self, paths: &[PathBuf]) -> io::Result<()> {
        let mut first_err = None;
        for p in paths {
            // Only files inside our own area: a damaged record must not delete anything else.
            if !p.starts_with(&self.root) {
                continue;
            }
            match fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            if let Some(dir) = p.parent() {
                let _ = fs::remove_dir(dir); // fails while not empty, as intended
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// The last path component of `name`, with anything but letters, digits, `.`, `-` and `_`
/// replaced, so that a file name from a browser can never climb out of the directory.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let s: String = base
        .chars()
        .take(100)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "upload".into()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\x\\evil.csv"), "evil.csv");
        assert_eq!(safe_name(".."), "upload");
        assert_eq!(safe_name("a b;c.json"), "a_b_c.json");
        assert_eq!(safe_name(""), "upload");
    }
}
