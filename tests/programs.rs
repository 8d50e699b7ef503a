// SPDX-License-Identifier: MIT
//! What `stylize-file` and `stylize-image` promise about their inputs and outputs, case by case:
//! no input is ever written over, a failed run leaves no file under the output's name, and every
//! error is one line naming its cause, with exit status 2 for bad usage (before any work) and 1
//! for a stylisation that failed, without GStreamer's critical warnings.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Scratch;

/// The examples next to this test binary (cargo builds examples for `cargo test`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples").join(name)
}

/// A 10-frame 64x48 H.264 MP4 made with GStreamer.
fn small_clip(scratch: &Scratch) -> PathBuf {
    let path = scratch.join("clip.mp4");
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=10", "!"])
        .args(["video/x-raw,width=64,height=48,framerate=10/1", "!"])
        .args(["x264enc", "!", "mp4mux", "!", "filesink"])
        .arg(format!("location={}", path.display()))
        .status()
        .expect("gst-launch-1.0");
    assert!(status.success());
    path
}

/// Light weights for the runs that get as far as loading a network (seeded, not trained: these
/// tests are about files and messages).
fn weights(scratch: &Scratch) -> PathBuf {
    let path = scratch.join("lite.safetensors");
    if !path.exists() {
        common::random_lite(&path, 3);
    }
    path
}

/// One argument of a program.
type Arg<'a> = &'a dyn AsRef<std::ffi::OsStr>;

/// A case: its name, the arguments, the exit status and what the error line must name.
type Case<'a> = (&'a str, Vec<Arg<'a>>, i32, Vec<&'a str>);

/// What one run did.
struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn run(program: &str, args: &[Arg]) -> Outcome {
    let out = Command::new(example(program))
        .args(args.iter().map(|a| a.as_ref()))
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the example");
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Checks a failed run: its exit status, one error line containing every one of `needles`, no
/// critical warnings, and no file left in `folder` but `keep`.
fn assert_failed(
    case: &str,
    o: &Outcome,
    code: i32,
    needles: &[&str],
    folder: &Path,
    keep: &[&Path],
) {
    assert_eq!(
        o.code,
        Some(code),
        "{case}: exit status; stderr:\n{}",
        o.stderr
    );
    let errors: Vec<&str> = o.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{case}: one error line:\n{}", o.stderr);
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "{case}: `{needle}` not in: {}",
            errors[0]
        );
    }
    assert!(
        !o.stderr.contains("CRITICAL"),
        "{case}: critical warnings:\n{}",
        o.stderr
    );
    let left: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.contains(&p.as_path()))
        .collect();
    assert!(left.is_empty(), "{case}: files left behind: {left:?}");
}

#[test]
fn stylize_file_loses_nothing_and_names_every_cause() {
    let scratch = Scratch::new("programs-stylize-file");
    let inputs = Scratch::new("programs-stylize-file-inputs");
    let clip = small_clip(&inputs);
    let weights = weights(&inputs);
    let original = std::fs::read(&clip).unwrap();
    let out = scratch.join("out.mp4");
    let link = scratch.join("link.mp4");
    std::os::unix::fs::symlink(&clip, &link).unwrap();
    let not_video = inputs.join("notes.txt");
    std::fs::write(&not_video, "not a video").unwrap();
    let style = common::root().join("styles/night-cafe.jpg");
    let lite: [Arg; 4] = [&"--model", &"lite", &"--decoder", &weights];
    let keep = [link.as_path()];
    // (case, arguments, exit status, what the line names)
    let cases: Vec<Case> = vec![
        (
            "output is the input",
            vec![&clip, &clip],
            2,
            vec!["refusing"],
        ),
        (
            "output is a link to the input",
            vec![&clip, &link],
            2,
            vec!["refusing"],
        ),
        (
            "missing style",
            vec![&clip, &out, &"--style", &"nosuch.jpg"],
            2,
            vec!["nosuch.jpg"],
        ),
        (
            "bad colour mode",
            vec![&clip, &out, &"--preserve-color", &"nonsense"],
            2,
            vec!["nonsense"],
        ),
        (
            "unknown model",
            vec![&clip, &out, &"--model", &"huge"],
            2,
            vec!["huge"],
        ),
        (
            "bad blend weight",
            vec![&clip, &out, &"--style", &"a.jpg:abc"],
            2,
            vec!["bad weight"],
        ),
        (
            "missing output folder",
            vec![&clip, &"/no/such/folder/out.mp4"],
            2,
            vec!["does not exist"],
        ),
        (
            "input that is not a video",
            vec![&not_video, &out],
            1,
            vec!["notes.txt"],
        ),
        (
            "start past the end",
            vec![&clip, &out, &"--start", &"100", &"--end", &"101"],
            1,
            vec![],
        ),
        (
            "CUDA on a machine without",
            vec![&clip, &out, &"--device", &"cuda"],
            1,
            vec!["cuda"],
        ),
    ];
    for (case, mut args, code, needles) in cases {
        if code == 1 {
            args.extend(lite.iter().copied());
            args.extend([&"--style" as Arg, &style]);
        }
        if case.starts_with("CUDA") && tch::Cuda::is_available() {
            continue;
        }
        let o = run("stylize-file", &args);
        assert_failed(case, &o, code, &needles, scratch.path(), &keep);
        assert_eq!(
            std::fs::read(&clip).unwrap(),
            original,
            "{case}: the input changed"
        );
    }
}

#[test]
fn stylize_image_never_writes_over_its_input() {
    let scratch = Scratch::new("programs-stylize-image");
    let photo = scratch.join("photo.png");
    image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 128]))
        .save(&photo)
        .unwrap();
    let original = std::fs::read(&photo).unwrap();
    let o = run("stylize-image", &[&photo, &"-o", &photo]);
    assert_failed(
        "output is the photo",
        &o,
        1,
        &["refusing"],
        scratch.path(),
        &[&photo],
    );
    let o = run("stylize-image", &[&photo, &"--preserve-color", &"nonsense"]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert_eq!(std::fs::read(&photo).unwrap(), original);
}
