// SPDX-License-Identifier: MIT
//! The latency the element adds, as it answers the LATENCY query: the time one frame takes,
//! measured, and when frames take longer than the frame interval, once more: a frame then waits
//! up to one frame time for the previous one before its own starts. A first figure comes from a warm-up frame when the caps are set; afterwards a moving
//! average of the real frames keeps it current, and a figure that drifts out of its band asks
//! the pipeline to query again (a LATENCY message), so that live sinks schedule frames with
//! the time the element really needs and QoS drops the frames it cannot stylise in time.

use std::sync::atomic::{AtomicU64, Ordering};

/// The reported latency is this much above the average frame time, so that ordinary jitter
/// does not make frames late.
const MARGIN: f64 = 1.5;
/// Report again when the average frame time times this leaves [reported / RATIO, reported].
const RATIO: f64 = 1.25;
/// Weight of the newest frame in the moving average.
const EMA: f64 = 0.1;

/// Processing latency, shared between the streaming thread and queries.
#[derive(Debug, Default)]
pub struct Latency {
    reported_ns: AtomicU64,
    average_ns: AtomicU64,
    /// The stream's frame interval (0 = unknown, e.g. variable frame rate).
    interval_ns: AtomicU64,
}

impl Latency {
    /// What the element reports now.
    pub fn reported(&self) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(self.reported_ns.load(Ordering::Relaxed))
    }

    /// Starts over from one measured frame (a warm-up at the negotiated size) and the stream's
    /// frame interval (0 if unknown).
    pub fn reset(&self, frame_ns: u64, interval_ns: u64) {
        self.average_ns.store(frame_ns, Ordering::Relaxed);
        self.interval_ns.store(interval_ns, Ordering::Relaxed);
        self.reported_ns
            .store(self.target(frame_ns as f64) as u64, Ordering::Relaxed);
    }

    /// What to report for an average frame time: the frame time with a margin, plus the wait
    /// for the previous frame when frames take longer than the interval.
    fn target(&self, average_ns: f64) -> f64 {
        let interval = self.interval_ns.load(Ordering::Relaxed) as f64;
        let waiting = if interval > 0.0 && average_ns > interval {
            average_ns
        } else {
            0.0
        };
        average_ns * MARGIN + waiting
    }

    /// Records one frame's processing time; true when the reported latency changed and the
    /// pipeline should be told (`gst::message::Latency`).
    pub fn record(&self, frame_ns: u64) -> bool {
        let old = self.average_ns.load(Ordering::Relaxed) as f64;
        let average = if old == 0.0 {
            frame_ns as f64
        } else {
            old + EMA * (frame_ns as f64 - old)
        };
        self.average_ns.store(average as u64, Ordering::Relaxed);
        let reported = self.reported_ns.load(Ordering::Relaxed) as f64;
        let target = self.target(average);
        if target / RATIO > reported || target * RATIO < reported {
            self.reported_ns.store(target as u64, Ordering::Relaxed);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_frame_time_with_a_margin_and_hysteresis() {
        let l = Latency::default();
        l.reset(100_000_000, 0);
        assert_eq!(l.reported().mseconds(), 150);
        // Jitter inside the band changes nothing.
        for ms in [110, 90, 105, 95] {
            assert!(!l.record(ms * 1_000_000));
        }
        assert_eq!(l.reported().mseconds(), 150);
        // Frames getting much slower raise it, once.
        let raised = (0..40).filter(|_| l.record(300_000_000)).count();
        assert!(raised >= 1);
        assert!(l.reported().mseconds() >= 300, "{}", l.reported());
        // And much faster frames lower it again.
        let lowered = (0..80).filter(|_| l.record(50_000_000)).count();
        assert!(lowered >= 1);
        assert!(l.reported().mseconds() < 150, "{}", l.reported());
    }

    #[test]
    fn frames_slower_than_the_interval_add_a_frame_of_waiting() {
        let l = Latency::default();
        // 30 fps, 20 ms frames: no waiting.
        l.reset(20_000_000, 33_333_333);
        assert_eq!(l.reported().mseconds(), 30);
        // 30 fps, 200 ms frames: each waits for the previous one.
        l.reset(200_000_000, 33_333_333);
        assert_eq!(l.reported().mseconds(), 500);
    }
}
