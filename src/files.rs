// SPDX-License-Identifier: MIT
//! Writing a program's output without losing anything: an output is refused before any work when
//! it is, or resolves to, one of the program's inputs (the same path, a symbolic link to it, or
//! a hard link), and it is written under a temporary name in its own folder and renamed into
//! place only when complete ([`PendingOutput`]), so that a failed run leaves neither an empty
//! nor a partial file under the output's name.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether `a` and `b` name the same file: the same device and inode when both exist, else the
/// same absolute path once symbolic links in their folders are resolved.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    match (resolved(a), resolved(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `path` absolute, with symbolic links resolved as far as it exists.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

/// Checks that `path` is a regular file (or a link to one) before it is opened for reading: a
/// FIFO, a device or a folder would block or fail the reader. The error names the file.
pub fn regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(Error::Io {
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a folder, FIFO or device); refusing to read it",
            ),
        })
    }
}

/// An output being written: a temporary file beside the final one, renamed over it by
/// [`PendingOutput::commit`] and removed when dropped without it.
#[derive(Debug)]
pub struct PendingOutput {
    output: PathBuf,
    temporary: PathBuf,
    committed: bool,
}

impl PendingOutput {
    /// Prepares to write `output`: refuses it when it is one of `inputs` ([`same_file`]) or a
    /// folder, and creates the temporary file (`.<name>.part-<pid>` in the output's folder), so
    /// that a missing or unwritable folder is an error now, naming it.
    pub fn create(output: &Path, inputs: &[&Path]) -> Result<Self> {
        let refuse = |reason: String| Error::Output {
            path: output.to_owned(),
            reason,
        };
        if let Some(input) = inputs.iter().find(|i| same_file(i, output)) {
            return Err(refuse(format!(
                "it is the input {}; refusing to write over it",
                input.display()
            )));
        }
        if output.is_dir() {
            return Err(refuse("it is a folder".into()));
        }
        let name = output
            .file_name()
            .ok_or_else(|| refuse("no file name".into()))?;
        let folder = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if !folder.is_dir() {
            return Err(refuse(format!(
                "folder {} does not exist",
                folder.display()
            )));
        }
        let temporary = folder.join(format!(
            ".{}.part-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        File::create(&temporary)
            .map_err(|e| refuse(format!("cannot write in {}: {e}", folder.display())))?;
        Ok(Self {
            output: output.to_owned(),
            temporary,
            committed: false,
        })
    }

    /// Where to write (the temporary file).
    pub fn path(&self) -> &Path {
        &self.temporary
    }

    /// The final name.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Renames the finished file over the output; an empty file is an error (and removed).
    pub fn commit(mut self) -> Result<()> {
        let len = std::fs::metadata(&self.temporary)
            .map_err(|source| Error::Io {
                path: self.temporary.clone(),
                source,
            })?
            .len();
        if len == 0 {
            return Err(Error::Output {
                path: self.output.clone(),
                reason: "nothing was written".into(),
            });
        }
        std::fs::rename(&self.temporary, &self.output).map_err(|source| Error::Io {
            path: self.output.clone(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_never_an_output_and_failures_leave_nothing() {
        let dir = std::env::temp_dir().join(format!("adainstyle-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.mp4");
        std::fs::write(&input, b"precious").unwrap();
        let link = dir.join("link.mp4");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let hard = dir.join("hard.mp4");
        std::fs::hard_link(&input, &hard).unwrap();
        let relative = dir.join(".").join("in.mp4");
        for output in [&input, &link, &hard, &relative] {
            let err = PendingOutput::create(output, &[&input]).unwrap_err();
            assert!(err.to_string().contains("refusing"), "{err}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"precious");
        // A failed run (dropped without commit) leaves nothing under either name.
        let out = dir.join("out.mp4");
        let pending = PendingOutput::create(&out, &[&input]).unwrap();
        let temporary = pending.path().to_owned();
        assert!(temporary.exists());
        drop(pending);
        assert!(!temporary.exists() && !out.exists());
        // Nothing written is refused too; something written lands under the output's name.
        let pending = PendingOutput::create(&out, &[]).unwrap();
        assert!(pending.commit().is_err());
        assert!(!out.exists());
        let pending = PendingOutput::create(&out, &[]).unwrap();
        std::fs::write(pending.path(), b"result").unwrap();
        pending.commit().unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"result");
        // A missing folder is named.
        let err = PendingOutput::create(&dir.join("no/such/out.mp4"), &[]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
