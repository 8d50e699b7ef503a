// SPDX-License-Identifier: MIT
//! `mask=person` in the element: the room styled and the person kept (or, inverted, the
//! reverse) on a photo with hand-drawn ground truth, and the segmenter's weights' errors.

mod common;

use std::time::Duration;

use adainstyle::Model;
use adainstyle_test_support::people::GroundTruth;

use common::*;

/// The astronaut photo through `adainstyle` (the light network's test weights) with `props`:
/// its input and output RGB bytes.
fn through_element(truth: &GroundTruth, props: &str) -> (Vec<u8>, Vec<u8>) {
    let pipeline = launch(&format!(
        "filesrc location={} ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! \
         imagefreeze num-buffers=2 ! identity name=in ! adainstyle name=s device=cpu \
         model=lite decoder={} style-size=128 {props} ! fakesink",
        truth.path.display(),
        weights_path(Model::Lite).display()
    ));
    let inputs = capture_output(&pipeline, "in");
    let outputs = capture_output(&pipeline, "s");
    let (error, _) = run(&pipeline, Duration::from_secs(120));
    assert!(error.is_none(), "{error:?}");
    let (inputs, outputs) = (inputs.lock().unwrap(), outputs.lock().unwrap());
    assert_eq!(outputs.len(), 2);
    (inputs[1].clone(), outputs[1].clone())
}

/// The shares of `region`'s pixels that come out within 3 levels of the input on every channel.
fn kept_share(input: &[u8], output: &[u8], region: &[bool]) -> f64 {
    let (mut kept, mut all) = (0usize, 0usize);
    for ((a, b), inside) in input.chunks(3).zip(output.chunks(3)).zip(region) {
        if *inside {
            all += 1;
            kept += usize::from(a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 3));
        }
    }
    assert!(all > 10_000, "{all} pixels");
    kept as f64 / all as f64
}

#[test]
fn person_mask_styles_the_room_and_keeps_the_person() {
    let truth = GroundTruth::load("astronaut.jpg", 512, 512);
    let band = 16;
    let (person, room) = (truth.person_core(band), truth.background_core(band));

    let (input, output) = through_element(&truth, "mask=person");
    let person_kept = kept_share(&input, &output, &person);
    let room_kept = kept_share(&input, &output, &room);
    eprintln!("mask=person: person kept {person_kept:.4}, room kept {room_kept:.4}");
    assert!(person_kept > 0.95, "{person_kept}");
    assert!(room_kept < 0.05, "{room_kept}");

    let (input, output) = through_element(&truth, "mask=person mask-invert=true");
    let person_kept = kept_share(&input, &output, &person);
    let room_kept = kept_share(&input, &output, &room);
    eprintln!("inverted: person kept {person_kept:.4}, room kept {room_kept:.4}");
    assert!(person_kept < 0.05, "{person_kept}");
    assert!(room_kept > 0.9, "{room_kept}");
}

#[test]
fn missing_or_foreign_segmenter_weights_are_errors_naming_the_file() {
    let scratch = Scratch::new("element-segmenter");
    let missing = scratch.join("no-such-segmenter.safetensors");
    let lite = weights_path(Model::Lite);
    for (file, cause) in [(&missing, "No such file"), (&lite, "segmenter")] {
        let pipeline = test_pipeline_of(
            Model::Lite,
            &format!("mask=person segmenter={}", file.display()),
        );
        let (error, _) = run(&pipeline, Duration::from_secs(60));
        let error = error.expect("weights the segmenter cannot load must fail");
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(error.contains(name) && error.contains(cause), "{error}");
    }
    // Without mask=person the segmenter is never read.
    let pipeline = test_pipeline_of(Model::Lite, &format!("segmenter={}", missing.display()));
    let (error, _) = run(&pipeline, Duration::from_secs(60));
    assert!(error.is_none(), "{error:?}");
}
