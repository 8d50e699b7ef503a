// SPDX-License-Identifier: MIT
//! Helpers the integration tests of every crate in the workspace share (each crate's
//! `tests/common` adds its own on top): the repository root, scratch folders that clean up after
//! themselves, and the project venv's Python.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support lies two levels below the root")
        .to_owned()
}

/// A scratch folder, removed when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh, empty folder under the system temp dir, unique to this process and call (two
    /// tests may pick the same name).
    pub fn new(name: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "adainstyle-test-{name}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating scratch dir");
        Self(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path inside the folder.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Python interpreter of the project venv: `$ADAINSTYLE_PYTHON` (the env file of
/// scripts/setup.sh sets it; `make test` sources it), else the venv setup.sh makes under
/// `$ADAINSTYLE_HOME` (default `~/.cache/adainstyle`), or `None` when neither exists.
pub fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ADAINSTYLE_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("ADAINSTYLE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/adainstyle")))?;
    Some(home.join("venv/bin/python")).filter(|p| p.is_file())
}

pub mod people;
