// SPDX-License-Identifier: MIT
//! Computes style statistics off the streaming thread, so that changing the style while PLAYING
//! never stalls a frame: frames keep the previous style until the new statistics are ready.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use adainstyle::{Error, Stats, StyleBank, StyleEncode, StyleSpec};
use tch::Tensor;

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
        let thread = std::thread::Builder::new()
            .name("adainstyle-style".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Only the newest request for each slot matters: skip the ones it supersedes.
                    let mut newest: [Option<StyleRequest>; 2] = [None, None];
                    let mut taken = 0;
                    for req in std::iter::once(first).chain(rx.try_iter()) {
                        let slot = req.slot as usize;
                        newest[slot] = Some(req);
                        taken += 1;
                    }
                    for req in newest.into_iter().flatten() {
                        let coral_to = req.coral_to.as_ref();
                        match bank.stats(encoder.as_ref(), &req.spec, req.style_size, coral_to) {
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
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
