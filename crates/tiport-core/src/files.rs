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

    /// Where an upload over HTTP is streamed before it becomes an import: inside the import
    /// area, so that the copy that follows stays on one file system, and under a name
    /// retention never matches (it is deleted as soon as the import is queued or refused).
    pub fn incoming(&self) -> io::Result<PathBuf> {
        let dir = self.root.join("incoming");
        private_dir_all(&dir)?;
        Ok(dir.join(uuid::Uuid::new_v4().to_string()))
    }

    /// A new file in [`ImportFiles::incoming`], created empty and private and opened for
    /// writing: where a file posted to the service is received before it becomes an import.
    pub fn receive(&self) -> io::Result<(Incoming, fs::File)> {
        let path = self.incoming()?;
        let file = create_private(&path)?;
        Ok((Incoming { path }, file))
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
        private(&dest)?;
        Ok(dest)
    }

    fn kept_path(&self, id: ImportId, name: &str) -> io::Result<PathBuf> {
        let dir = self.dir(id);
        private_dir_all(&dir)?;
        Ok(dir.join(format!("file-{}", safe_name(name))))
    }

    /// Deletes expired files with the rest of their import's directory (the kept file and the
    /// error file expire together, and an import that died may have left an error file the
    /// store never heard of). Missing files are fine. Returns the first other error, after
    /// trying every path.
    pub fn delete(&self, paths: &[PathBuf]) -> io::Result<()> {
        let mut first_err = None;
        for p in paths {
            // Only `imports/<uuid>/<file>` inside our own area: a damaged record must not
            // delete anything else.
            let Some(dir) = self.import_dir_of(p) else {
                continue;
            };
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// `root/<import id>` if `p` is a plain file name directly inside such a directory.
    fn import_dir_of(&self, p: &Path) -> Option<PathBuf> {
        use std::path::Component;
        let rest = p.strip_prefix(&self.root).ok()?;
        let parts: Vec<Component<'_>> = rest.components().collect();
        let [Component::Normal(id), Component::Normal(_file)] = parts.as_slice() else {
            return None;
        };
        ImportId::parse(id.to_str()?).ok()?;
        Some(self.root.join(id))
    }
}

/// Imported intelligence may be TLP:RED: the files are the owner's alone.
fn private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// A file being received for an import ([`ImportFiles::receive`]), deleted when dropped: an
/// import that is queued has its own copy by then, and one that is refused leaves nothing.
#[derive(Debug)]
pub struct Incoming {
    path: PathBuf,
}

impl Incoming {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates `dir` and its missing parents readable by the owner only.
pub fn private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates (or truncates) a file readable by the owner only.
pub fn create_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// The last path component of `name`, with anything but letters, digits, `.`, `-` and `_`
/// replaced, so that a file name from a browser can never climb out of the directory.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    // At most 150 bytes: with the `file-` prefix, well inside the 255-byte name limit of
    // common file systems, whatever the script of the name.
    let mut len = 0;
    let s: String = base
        .chars()
        .take_while(|c| {
            len += c.len_utf8();
            len <= 150
        })
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
        for (name, safe) in [
            ("../../etc/passwd", "passwd"),
            ("C:\\x\\evil.csv", "evil.csv"),
            ("..", "upload"),
            ("a b;c.json", "a_b_c.json"),
            ("", "upload"),
        ] {
            assert_eq!(safe_name(name), safe, "{name:?}");
        }
        assert!(safe_name(&"é".repeat(300)).len() <= 150);
    }

    #[test]
    fn delete_removes_only_import_directories_inside_the_area() {
        let tmp = std::env::temp_dir().join(format!("tiport-files-{}", std::process::id()));
        let files = ImportFiles::new(&tmp);
        let id = ImportId::random();
        let kept = files
            .keep_copy(id, Path::new("/etc/hostname"), "a.csv")
            .unwrap();
        std::fs::write(files.error_path(id, ImportFormat::Csv), "x").unwrap();
        let outside = tmp.join("keep-me");
        std::fs::write(&outside, "x").unwrap();
        let sneaky = tmp
            .join("imports")
            .join(id.to_string())
            .join("..")
            .join("..")
            .join("keep-me");
        files
            .delete(&[sneaky, outside.clone(), kept.clone()])
            .unwrap();
        assert!(!files.dir(id).exists(), "the whole import directory goes");
        assert!(outside.exists(), "nothing outside imports/<id>/ is touched");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
