// SPDX-License-Identifier: MIT
//! Helpers shared by the workspace integration tests.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::Command;

use adainstyle::Model;

pub use adainstyle_test_support::{Scratch, root};

/// The Python interpreter of the project venv (set up by scripts/setup.sh).
pub fn python() -> PathBuf {
    adainstyle_test_support::python()
        .expect("no project venv: run scripts/setup.sh (make test does), or set ADAINSTYLE_PYTHON")
}

/// Runs a project Python tool and panics with its output if it fails.
pub fn run_python(args: &[&Path]) {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {:?} failed:\n{}\n{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a seeded, randomly initialised decoder (same keys and shapes as a trained one); the
/// seed, not libtorch's global generator, decides its values.
pub fn random_decoder(path: &Path, seed: u64) {
    Model::Full
        .write_seeded_weights(seed, path)
        .expect("save random decoder");
}

/// The held-out data folder made by scripts/fetch-data.sh.
pub fn heldout_dir() -> PathBuf {
    let home = std::env::var_os("ADAINSTYLE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/adainstyle")
        });
    home.join("data/heldout")
}

/// Writes seeded, randomly initialised weights of the light network, with the header the
/// shipped light weights carry.
pub fn random_lite(path: &Path, seed: u64) {
    Model::Lite
        .write_seeded_weights(seed, path)
        .expect("save random light weights");
}

/// The share of pixels on which two probability maps fall on the same side of 0.5.
pub fn same_side(a: &tch::Tensor, b: &tch::Tensor) -> f64 {
    a.gt(0.5)
        .eq_tensor(&b.gt(0.5))
        .to_kind(tch::Kind::Float)
        .mean(tch::Kind::Float)
        .double_value(&[])
}
