// SPDX-License-Identifier: MIT
//! The `live` example serving its stylised stream over SRT, watched by a real client: GStreamer's
//! own `srtsrc ! tsdemux ! avdec_h264` (nothing of this project on the receiving side).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

/// The `live` example next to this test binary (cargo builds examples for `cargo test`).
fn live_example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples").join("live")
}

/// A UDP port that was free a moment ago.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_client_receives_stylised_frames_through_twenty_style_changes() {
    gst::init().unwrap();
    let port = free_port();
    let mut server = Server(
        Command::new(live_example())
            .args([
                "--source",
                "test",
                "--sink",
                &format!("srt://127.0.0.1:{port}"),
                "--width",
                "320",
                "--height",
                "180",
                "--switch-every",
                "0.3",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the live example"),
    );
    // Style changes, as the server announces them.
    let switches = Arc::new(Mutex::new(Vec::new()));
    {
        let switches = switches.clone();
        let stdout = server.0.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("style -> ") {
                    switches.lock().unwrap().push(Instant::now());
                }
            }
        });
    }

    let client = gst::parse::launch(&format!(
        "srtsrc uri=srt://127.0.0.1:{port} ! tsdemux ! queue ! h264parse ! \
         avdec_h264 ! videoconvert ! video/x-raw,format=RGB ! fakesink name=out sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // (arrival, width, height, mean level) of every decoded frame.
    let frames = Arc::new(Mutex::new(Vec::new()));
    {
        let frames = frames.clone();
        let sink = client.by_name("out").unwrap();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let (Some(buffer), Some(caps)) = (info.buffer(), pad.current_caps()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let s = caps.structure(0).unwrap();
                let (w, h) = (
                    s.get::<i32>("width").unwrap(),
                    s.get::<i32>("height").unwrap(),
                );
                let map = buffer.map_readable().unwrap();
                let mean = map.iter().map(|&b| b as f64).sum::<f64>() / map.len() as f64;
                frames.lock().unwrap().push((Instant::now(), w, h, mean));
                gst::PadProbeReturn::Ok
            });
    }
    // The server needs a moment to load the model and listen: its first style change says it
    // is streaming. The client reconnects if the connection drops.
    let deadline = Instant::now() + Duration::from_secs(90);
    while switches.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the server never started");
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let bus = client.bus().unwrap();
    client.set_state(gst::State::Playing).unwrap();
    loop {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for 20 style changes: {} frames, {} changes",
            frames.lock().unwrap().len(),
            switches.lock().unwrap().len()
        );
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server exited: {status}");
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
            match msg.view() {
                gst::MessageView::Error(_) | gst::MessageView::Eos(_) => {
                    // Not listening yet, or the connection dropped: connect again.
                    client.set_state(gst::State::Null).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                    client.set_state(gst::State::Playing).unwrap();
                }
                _ => {}
            }
        }
        let first_frame = frames.lock().unwrap().first().map(|f| f.0);
        let after_first = first_frame.map_or(0, |t| {
            switches.lock().unwrap().iter().filter(|&&s| s > t).count()
        });
        if after_first >= 21 {
            break;
        }
    }
    client.set_state(gst::State::Null).unwrap();
    drop(server);

    let frames = frames.lock().unwrap();
    let switches = switches.lock().unwrap();
    let first = frames[0].0;
    let changes: Vec<Instant> = switches.iter().copied().filter(|&s| s > first).collect();
    println!(
        "{} frames received, {} style changes while receiving",
        frames.len(),
        changes.len()
    );
    // Right size, every frame.
    assert!(frames.iter().all(|&(_, w, h, _)| (w, h) == (320, 180)));
    // Stylised: the test source (a white ball on black) has a mean level of about 10; the
    // stylised frames carry the paintings' colours.
    let mean = frames.iter().map(|f| f.3).sum::<f64>() / frames.len() as f64;
    assert!(mean > 40.0, "mean level {mean:.1}: not stylised");
    // Frames kept arriving: some in the second after each of 20 style changes.
    for (k, pair) in changes.windows(2).take(20).enumerate() {
        let arrived = frames
            .iter()
            .filter(|f| f.0 > pair[0] && f.0 <= pair[0] + Duration::from_secs(1))
            .count();
        assert!(arrived > 0, "no frame in the second after style change {k}");
    }
}
