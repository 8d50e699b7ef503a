// SPDX-License-Identifier: MIT
//! Computes style statistics off the streaming thread, so that changing the style while PLAYING
//! never stalls a frame: frames keep the previous style until the new statistics are ready.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use adainstyle::{Error, Stats, StyleBank, StyleEncode, StyleSpec};
use tch::Tensor;

use super::sync::lock;

/// Style computations running now in any element's style thread, process-wide.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Set when the process exits: style threads start no new computation.
static EXITING: AtomicBool = AtomicBool::new(false);
/// The longest the process's exit waits for computations in flight.
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// Registered with `atexit` by the first style thread: runs before libtorch's own exit-time
/// destructors (registered earlier, when libtorch was loaded, so run later), and lets the
/// computations in flight finish first, so that no style thread is inside libtorch while it is
/// torn down (stopping an element does not wait for its style thread; the process's exit does,
/// up to [`EXIT_WAIT`]).
extern "C" fn finish_styles_before_exit() {
    EXITING.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + EXIT_WAIT;
    while IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Which of the element's two styles a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `style`: inside the mask, or everywhere without one.
    Inside = 0,
    /// `style-outside`: outside the mask.
    Outside = 1,
}

/// One request: the styles, the size they are encoded at and, for CORAL colour preservation, a
/// small CPU copy of a recent content frame whose colours the styles are recoloured to.
pub struct StyleRequest {
    /// The style this request replaces.
    pub slot: Slot,
    /// The styles and their weights.
    pub spec: StyleSpec,
    /// Longest edge the style images are resized to before encoding (0 = as is).
    pub style_size: i64,
    /// Content thumbnail for CORAL, (1, 3, h, w) float on the CPU.
    pub coral_to: Option<Tensor>,
}

/// Finished statistics, one place per [`Slot`].
type Ready = [Option<(StyleSpec, Stats)>; 2];

/// Called with the request and the error when a style cannot be loaded.
pub type ErrorSink = Box<dyn Fn(&StyleSpec, &Error) + Send + 'static>;

/// A thread that owns its own copy of the network's style encoder and a [`StyleBank`].
pub struct StyleWorker {
    tx: Option<mpsc::Sender<StyleRequest>>,
    thread: Option<JoinHandle<()>>,
    ready: Arc<Mutex<Ready>>,
    /// Requests sent and not yet finished (or superseded).
    pending: Arc<AtomicUsize>,
}

impl StyleWorker {
    /// Starts the worker thread.
    pub fn spawn(
        encoder: Box<dyn StyleEncode + Send>,
        mut bank: StyleBank,
        on_error: ErrorSink,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<StyleRequest>();
        let ready = Arc::new(Mutex::new([None, None]));
        let pending = Arc::new(AtomicUsize::new(0));
        let (ready_w, pending_w) = (ready.clone(), pending.clone());
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain function with no captured state; it only touches
            // atomics and sleeps.
            unsafe { libc::atexit(finish_styles_before_exit) };
        });
        let thread = std::thread::Builder::new()
            .name("adainstyle-style".into())
            .spawn(move || {
                // Styles are encoded now and then: no OpenMP workers kept for this thread.
                adainstyle::threads::run_alone();
                while let Ok(first) = rx.recv() {
                    let (newest, taken) =
                        newest_per_slot(std::iter::once(first).chain(rx.try_iter()));
                    for req in newest.into_iter().flatten() {
                        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
                        if EXITING.load(Ordering::SeqCst) {
                            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                            break;
                        }
                        let coral_to = req.coral_to.as_ref();
                        let result =
                            bank.stats(encoder.as_ref(), &req.spec, req.style_size, coral_to);
                        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                        match result {
                            Ok(stats) => {
                                lock(&ready_w)[req.slot as usize] = Some((req.spec, stats))
                            }
                            Err(err) => on_error(&req.spec, &err),
                        }
                    }
                    pending_w.fetch_sub(taken, Ordering::AcqRel);
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            ready,
            pending,
        })
    }

    /// Queues a request; a newer request replaces any that has not started yet.
    pub fn request(&self, req: StyleRequest) {
        if let Some(tx) = &self.tx {
            self.pending.fetch_add(1, Ordering::AcqRel);
            // The receiver only goes away when the thread ends, which only `drop` causes.
            let _ = tx.send(req);
        }
    }

    /// Whether a request is queued or being computed.
    pub fn is_busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// The newest finished statistics for `slot`, if any arrived since the last call.
    pub fn take_ready(&self, slot: Slot) -> Option<(StyleSpec, Stats)> {
        lock(&self.ready)[slot as usize].take()
    }
}

impl Drop for StyleWorker {
    /// Closes the queue; the thread ends once it has no request left. It is joined only when
    /// idle: a load in flight (a slow or huge style file) is let finish on its own, so that
    /// stopping the element never waits for it (the process's exit does:
    /// `finish_styles_before_exit`).
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take()
            && !self.is_busy()
        {
            let _ = thread.join();
        }
    }
}

/// Only the newest request for each slot matters: the newest of `requests` per slot, and how
/// many requests that answers.
fn newest_per_slot(
    requests: impl IntoIterator<Item = StyleRequest>,
) -> ([Option<StyleRequest>; 2], usize) {
    let mut newest: [Option<StyleRequest>; 2] = [None, None];
    let mut taken = 0;
    for req in requests {
        let slot = req.slot as usize;
        newest[slot] = Some(req);
        taken += 1;
    }
    (newest, taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::mpsc::{Receiver, Sender};
    use std::time::{Duration, Instant};

    fn request(slot: Slot, style_size: i64) -> StyleRequest {
        StyleRequest {
            slot,
            spec: StyleSpec::single(shipped_style()),
            style_size,
            coral_to: None,
        }
    }

    fn shipped_style() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../styles/cafe-terrace-at-night.jpg")
    }

    #[test]
    fn only_the_newest_request_per_slot_is_kept() {
        let sizes = |newest: &[Option<StyleRequest>; 2]| {
            newest
                .iter()
                .map(|r| r.as_ref().map(|r| r.style_size))
                .collect::<Vec<_>>()
        };
        let (newest, taken) = newest_per_slot([
            request(Slot::Inside, 1),
            request(Slot::Outside, 2),
            request(Slot::Inside, 3),
            request(Slot::Inside, 4),
        ]);
        assert_eq!(taken, 4);
        assert_eq!(sizes(&newest), [Some(4), Some(2)]);
        let (newest, taken) = newest_per_slot([request(Slot::Outside, 5)]);
        assert_eq!(taken, 1);
        assert_eq!(sizes(&newest), [None, Some(5)]);
    }

    /// Statistics whose mean is the encoded image's height; the first call says it has begun
    /// and waits for a go.
    struct Gated {
        calls: Sender<i64>,
        begun: Sender<()>,
        go: Mutex<Option<Receiver<()>>>,
    }

    impl StyleEncode for Gated {
        fn style_stats(&self, image: &Tensor) -> adainstyle::Result<Stats> {
            if let Some(go) = lock(&self.go).take() {
                self.begun.send(()).expect("the test listens");
                go.recv().expect("the test sends go");
            }
            let height = image.size()[2];
            self.calls.send(height).expect("the test listens");
            let opts = (tch::Kind::Float, tch::Device::Cpu);
            Ok(Stats {
                mean: Tensor::full([1, 1, 1, 1], height as f64, opts),
                std: Tensor::ones([1, 1, 1, 1], opts),
            })
        }
    }

    #[test]
    fn the_worker_skips_requests_superseded_while_it_was_busy() {
        let (calls_tx, calls) = mpsc::channel();
        let (begun_tx, begun) = mpsc::channel();
        let (go_tx, go) = mpsc::channel();
        let encoder = Gated {
            calls: calls_tx,
            begun: begun_tx,
            go: Mutex::new(Some(go)),
        };
        let worker = StyleWorker::spawn(
            Box::new(encoder),
            StyleBank::new(),
            Box::new(|spec, err| panic!("{spec}: {err}")),
        )
        .unwrap();
        // The first request blocks the worker (once it has begun, however long that takes on a
        // busy machine); three more for the same slot queue behind it.
        worker.request(request(Slot::Inside, 40));
        begun
            .recv_timeout(Duration::from_secs(60))
            .expect("the worker began the first request");
        for size in [41, 42, 43] {
            worker.request(request(Slot::Inside, size));
        }
        assert!(worker.is_busy());
        go_tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while worker.is_busy() {
            assert!(Instant::now() < deadline, "the worker never finished");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The painting's longest edge is its height: 40, then only the newest, 43.
        let encoded: Vec<i64> = calls.try_iter().collect();
        assert_eq!(encoded, [40, 43]);
        let (_, stats) = worker.take_ready(Slot::Inside).expect("statistics ready");
        assert_eq!(stats.mean.double_value(&[0, 0, 0, 0]), 43.0);
        assert!(worker.take_ready(Slot::Inside).is_none(), "taken once");
        assert!(worker.take_ready(Slot::Outside).is_none());
    }
}
