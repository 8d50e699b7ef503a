// SPDX-License-Identifier: MIT
//! The latency the element adds, as it answers the LATENCY query: the time one frame takes,
//! measured. A first figure comes from a warm-up frame when the caps are set; afterwards a moving
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
}

impl Latency {
    /// What the element reports now.
    pub fn reported(&self) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(self.reported_ns.load(Ordering::Relaxed))
    }

    /// Starts over from one measured frame (a warm-up at the negotiated size).
    pub fn reset(&self, frame_ns: u64) {
        self.average_ns.store(frame_ns, Ordering::Relaxed);
        self.reported_ns
            .store((frame_ns as f64 * MARGIN) as u64, Ordering::Relaxed);
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
        let too_low = average * RATIO > reported;
        let too_high = average * MARGIN * RATIO < reported;
        if too_low || too_high {
            self.reported_ns
                .store((average * MARGIN) as u64, Ordering::Relaxed);
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
        l.reset(100_000_000);
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
}
