// SPDX-License-Identifier: MIT
//! The batch driver (`batch/`): its Python unit tests, and `batch/tests/cluster_check.py` on a
//! real two-node Ray cluster made of the examples cargo built for this test run.
//!
//! The cluster runs in network and PID namespaces of its own (`unshare -n -p -f --mount-proc
//! --kill-child`; the test runs as root): loopback is the only interface, so all of Ray's
//! traffic stays on 127.0.0.1, and when the check ends, fails or is killed at the time limit,
//! the namespace's first process dies and the kernel ends every Ray process with it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The time the whole cluster check may take on two busy cores.
const CLUSTER_LIMIT: Duration = Duration::from_secs(480);

/// The examples next to this test binary (cargo builds examples for `cargo test`).
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples")
}

/// Runs `cmd` to completion within `limit`, killing it past that; panics with its output when
/// it fails or times out.
fn run_within(mut cmd: Command, limit: Duration, what: &str) {
    let scratch = common::Scratch::new(&format!("log-{}", what.replace(' ', "-")));
    let out_path = scratch.join("log");
    let log = std::fs::File::create(&out_path).expect("log file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    println!("{text}");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{what} failed ({s}):\n{text}"),
        None => panic!("{what} took more than {limit:?}:\n{text}"),
    }
}

fn python_in(dir: &Path) -> Command {
    let mut cmd = Command::new(common::python());
    cmd.current_dir(dir).env("PYTHONPATH", dir);
    cmd
}

#[test]
fn batch_planning_and_manifest_unit_tests_pass() {
    let batch = common::root().join("batch");
    let mut cmd = python_in(&batch);
    cmd.args(["-m", "unittest", "discover", "-s", "tests", "-v"]);
    run_within(cmd, Duration::from_secs(60), "batch unit tests");
}

#[test]
fn a_two_node_ray_cluster_stylises_survives_a_killed_worker_and_resumes() {
    let scratch = common::Scratch::new("batch-cluster");
    let work = scratch.path();
    let weights = work.join("lite.safetensors");
    common::random_lite(&weights, 7);
    let bin_dir = examples_dir();
    for name in ["stylize-file", "video-index", "join-segments"] {
        assert!(
            bin_dir.join(name).is_file(),
            "{} missing: cargo test builds the examples",
            bin_dir.join(name).display()
        );
    }
    let batch = common::root().join("batch");
    let check = batch.join("tests/cluster_check.py");
    let style = common::root().join("styles/night-cafe.jpg");
    let style_b = common::root().join("styles/langlois-bridge.jpg");
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "-p", "-f", "--mount-proc", "--kill-child", "--"])
        .arg(common::python())
        .arg(&check)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--weights")
        .arg(&weights)
        .arg("--style")
        .arg(&style)
        .arg("--style-b")
        .arg(&style_b)
        .arg("--work")
        .arg(work)
        .env("PYTHONPATH", &batch);
    run_within(cmd, CLUSTER_LIMIT, "the cluster check");
}
