// SPDX-License-Identifier: MIT
//! `adain-train` killed with SIGKILL ten times in a row, at random points: while it sets up,
//! in the middle of its iterations, and while it writes a checkpoint. After every kill the run
//! directory holds a complete checkpoint no older than one checkpoint interval before the last
//! iteration the trainer reported, the resumed run starts from it, and the weights (and Adam's
//! state, and every loss) at the end equal those of a run that was never interrupted.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use adainstyle_trainer::checkpoint;
use adainstyle_trainer::report::{self, LossRow};
use common::{Scratch, tiny_flags, write_images};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Iterations of the run: more than ten kills can let it reach (a round lets it run at most a
/// few iterations), so that every kill lands in a run that still has work.
const ITERATIONS: u64 = 32;
/// Checkpoint interval (many checkpoints, so that kills find writes to interrupt).
const SAVE_EVERY: u64 = 2;
const KILLS: usize = 10;
/// Longest any one wait of the test may take: past it the test fails.
const PATIENCE: Duration = Duration::from_secs(90);

/// A trainer process and its output, read by threads as it comes.
struct Trainer {
    child: Child,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: JoinHandle<String>,
}

impl Trainer {
    fn start(flags: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_adain-train"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting adain-train");
        let (tx, lines) = channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Self {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// The next line of stdout within `timeout`; `None` at the end of the output or past it.
    fn next_line(&mut self, timeout: Duration) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.stdout.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// SIGKILL, then every line it wrote before dying.
    fn kill(mut self) -> Vec<String> {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the killed trainer");
        self.drain()
    }

    /// Waits for the process to end by itself; its output, or a panic with it on failure or
    /// when it takes longer than [`PATIENCE`].
    fn wait(mut self) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        while self
            .next_line(deadline.saturating_duration_since(Instant::now()))
            .is_some()
        {}
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the trainer") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("adain-train timed out:\n{}", self.stdout.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr.join().unwrap_or_default();
        assert!(
            status.success(),
            "adain-train failed ({status}):\n{}\n{stderr}",
            self.stdout.join("\n")
        );
        self.stdout
    }

    fn drain(mut self) -> Vec<String> {
        while self.next_line(PATIENCE).is_some() {}
        let _ = self.stderr.join();
        self.stdout
    }
}

/// The iterations a log line says are done (`iter N/M ...`).
fn iteration_of(line: &str) -> Option<u64> {
    line.strip_prefix("iter ")?.split('/').next()?.parse().ok()
}

/// The iteration a trainer's start line says it begins at (`..., iterations C..M, ...`).
fn start_of(lines: &[String]) -> Option<u64> {
    let line = lines.iter().find(|l| l.starts_with("adain-train: "))?;
    let (_, rest) = line.split_once(", iterations ")?;
    rest.split("..").next()?.parse().ok()
}

fn tmp_files(run: &Path) -> [PathBuf; 2] {
    [
        run.join("checkpoint.safetensors.tmp"),
        run.join("decoder.safetensors.tmp"),
    ]
}

/// How a round picks its moment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum When {
    /// As soon as a checkpoint's temporary file appears: while it is being written.
    CheckpointWrite,
    /// A random delay after the start, cut short by the first iteration: during setup.
    Setup,
    /// A random delay after a random number of logged iterations.
    Iterations,
}

fn losses_of(run: &Path) -> Vec<(u64, f64, f64, f64, f64)> {
    report::read_losses(&run.join(report::LOSSES_FILE))
        .unwrap()
        .iter()
        .map(|r: &LossRow| (r.iteration, r.lr, r.terms.content, r.terms.style, r.total))
        .collect()
}

#[test]
fn sigkill_ten_times_then_resume_equals_an_uninterrupted_run() {
    let dir = Scratch::new("kill");
    write_images(&dir.join("content"), 5, 21);
    write_images(&dir.join("style"), 3, 22);
    let mut flags = tiny_flags(&dir.join("content"), &dir.join("style"), ITERATIONS);
    let save_every = SAVE_EVERY.to_string();
    for pair in [
        ["--save-every", save_every.as_str()],
        ["--log-every", "1"],
        ["--workers", "1"],
    ] {
        flags.extend(pair.map(String::from));
    }
    let with_dir = |run: &Path| {
        let mut f = flags.clone();
        f.extend(["--run-dir".into(), run.display().to_string()]);
        f
    };
    // The uninterrupted run, alongside the interrupted one.
    let whole = dir.join("whole");
    let reference = Trainer::start(&with_dir(&whole));

    let run = dir.join("killed");
    let resume_flags = vec![
        "--resume".to_owned(),
        run.display().to_string(),
        "--threads".into(),
        "1".into(),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut report = Vec::new();
    let mut mid_write = 0;
    let mut expected_start = 0;
    for round in 0..KILLS {
        let when = [When::CheckpointWrite, When::Setup, When::Iterations][round % 3];
        // A temporary file left by the previous kill would look like a write in progress.
        for tmp in tmp_files(&run) {
            let _ = std::fs::remove_file(tmp);
        }
        let resumable = checkpoint::checkpoint_path(&run).exists();
        let mut trainer = Trainer::start(&if resumable {
            resume_flags.clone()
        } else {
            // Killed before its first checkpoint, a run starts afresh.
            expected_start = 0;
            with_dir(&run)
        });
        let started = Instant::now();
        let mut wrote = false;
        match when {
            When::CheckpointWrite => loop {
                assert!(
                    started.elapsed() < PATIENCE,
                    "round {round}: no checkpoint write"
                );
                if tmp_files(&run)[0].exists() {
                    break;
                }
                while trainer.next_line(Duration::ZERO).is_some() {}
                std::thread::sleep(Duration::from_micros(200));
            },
            When::Setup => {
                // A random moment of the setup: the delay, or the first iteration if sooner.
                let deadline = started + Duration::from_millis(rng.gen_range(0..2500));
                while let Some(line) =
                    trainer.next_line(deadline.saturating_duration_since(Instant::now()))
                {
                    if iteration_of(&line).is_some() {
                        break;
                    }
                }
            }
            When::Iterations => {
                let mut logged = rng.gen_range(1..=3);
                while logged > 0 {
                    let line = trainer
                        .next_line(PATIENCE.saturating_sub(started.elapsed()))
                        .unwrap_or_else(|| panic!("round {round}: the trainer went quiet"));
                    if iteration_of(&line).is_some() {
                        logged -= 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(rng.gen_range(0..100)));
            }
        }
        let lines = trainer.kill();
        if tmp_files(&run)[0].exists() {
            wrote = true;
            mid_write += 1;
        }
        // The last iteration it reported done; before any, the one it started (or would have
        // started) at.
        let start = start_of(&lines);
        if let Some(start) = start {
            assert_eq!(
                start, expected_start,
                "round {round}: did not resume from the last complete checkpoint"
            );
        }
        let reported = lines
            .iter()
            .filter_map(|l| iteration_of(l))
            .max()
            .or(start)
            .unwrap_or(expected_start);
        let saved = if checkpoint::checkpoint_path(&run).exists() {
            let loaded = checkpoint::load(&run).unwrap_or_else(|e| {
                panic!("round {round} ({when:?}): the checkpoint does not load: {e:#}")
            });
            loaded.state.iteration
        } else {
            0
        };
        assert!(
            reported < ITERATIONS,
            "round {round}: the run ended before the kill"
        );
        assert!(
            saved <= reported && reported - saved <= SAVE_EVERY,
            "round {round} ({when:?}): reported iteration {reported}, checkpoint at {saved}"
        );
        report.push(format!(
            "round {round}: {when:?}, started at {start:?}, reported {reported}, checkpoint {saved}{}",
            if wrote { ", killed mid-write" } else { "" }
        ));
        expected_start = saved;
    }
    println!("{}", report.join("\n"));
    assert!(
        mid_write >= 1,
        "no kill landed inside a checkpoint write:\n{}",
        report.join("\n")
    );

    // The last resume runs to the end.
    let lines = Trainer::start(&resume_flags).wait();
    assert_eq!(start_of(&lines), Some(expected_start), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("stopped (Finished) after iteration {ITERATIONS}"))),
        "{lines:?}"
    );
    reference.wait();

    assert_eq!(losses_of(&whole).len(), ITERATIONS as usize);
    assert_eq!(
        losses_of(&run),
        losses_of(&whole),
        "losses differ from the uninterrupted run's"
    );
    let weights = |run: &Path| std::fs::read(run.join(checkpoint::DECODER_FILE)).unwrap();
    assert!(
        weights(&run) == weights(&whole),
        "final decoder weights differ from the uninterrupted run's"
    );
    let (a, b) = (
        checkpoint::load(&run).unwrap(),
        checkpoint::load(&whole).unwrap(),
    );
    assert_eq!(a.state.iteration, ITERATIONS);
    assert_eq!(a.state.adam_steps, b.state.adam_steps);
    assert_eq!(a.adam.len(), b.adam.len());
    for (key, t) in &b.adam {
        assert!(a.adam[key].equal(t), "Adam state `{key}` differs");
    }
}
