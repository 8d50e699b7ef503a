// SPDX-License-Identifier: MIT
//! libtorch's CPU threads. libtorch parallelises its CPU operators with OpenMP, and OpenMP keeps
//! a team of worker threads for every thread that has run a parallel operator. When a process
//! holds more such workers than it has cores (a GStreamer element stylises on its streaming
//! thread, encodes styles on a thread of its own and was loaded from the application's thread),
//! GNU OpenMP stops spinning between parallel regions and puts its workers to sleep after each,
//! and every operator then pays a wake-up: the light network ran about 15 % slower in the element
//! than alone (BENCHMARKS.md). Threads that only do occasional work (loading weights, encoding a
//! style) call [`run_alone`] so that they add no workers.

use std::ffi::c_int;
use std::sync::OnceLock;

/// From now on, libtorch runs the calling thread's CPU operators on `threads` threads (its
/// OpenMP team: the thread itself and `threads - 1` workers), leaving every other thread's
/// count and libtorch's process-wide default as they are. Returns whether it could (the
/// process's OpenMP runtime has `omp_set_num_threads`, and `threads` is at least 1).
pub fn set_here(threads: usize) -> bool {
    type SetNumThreads = unsafe extern "C" fn(c_int);
    static SET: OnceLock<Option<SetNumThreads>> = OnceLock::new();
    let Ok(n) = c_int::try_from(threads) else {
        return false;
    };
    if n < 1 {
        return false;
    }
    let set = SET.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT looks a symbol up among the loaded libraries (libtorch
        // loads its OpenMP runtime); the symbol, when present, has this C signature.
        let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"omp_set_num_threads".as_ptr()) };
        (!symbol.is_null())
            .then(|| unsafe { std::mem::transmute::<*mut libc::c_void, SetNumThreads>(symbol) })
    });
    let Some(set) = set else { return false };
    // libtorch sets each thread's OpenMP count from its process-wide one on the thread's first
    // query; make that happen now so that it does not undo the setting below later.
    let _ = tch::get_num_threads();
    // SAFETY: omp_set_num_threads only sets the calling thread's count.
    unsafe { set(n) };
    tch::get_num_threads() == n
}

/// From now on, libtorch runs this thread's CPU operators on this thread alone (an OpenMP team
/// of one): [`set_here`] with 1.
pub fn run_alone() -> bool {
    set_here(1)
}

/// The CPU cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// libtorch's process-wide thread count (what threads that have not run an operator yet start
/// with) set for as long as this lives, for a process that does one job (the trainer); dropping
/// it puts back the count it found.
#[derive(Debug)]
pub struct ProcessThreads {
    previous: i32,
}

impl ProcessThreads {
    /// Sets the count to `threads`; 0 leaves it alone (`None`). A count libtorch cannot take is
    /// an error.
    pub fn set(threads: usize) -> crate::Result<Option<Self>> {
        if threads == 0 {
            return Ok(None);
        }
        let n = i32::try_from(threads)
            .map_err(|_| crate::Error::Torch(format!("{threads} threads is too many")))?;
        let previous = tch::get_num_threads();
        tch::set_num_threads(n);
        Ok(Some(Self { previous }))
    }
}

impl Drop for ProcessThreads {
    fn drop(&mut self) {
        tch::set_num_threads(self.previous);
    }
}

/// Runs `work` on a new thread that runs libtorch alone ([`run_alone`]) and returns its result:
/// for one-off work (loading a network, encoding a style) from a thread that should not keep
/// OpenMP workers of its own, such as an application's main thread.
pub fn on_a_lone_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                run_alone();
                work()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_count_is_the_threads_own() {
        let here = tch::get_num_threads();
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                assert!(set_here(3));
                tch::get_num_threads()
            });
            let b = scope.spawn(|| {
                assert!(set_here(2));
                tch::get_num_threads()
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!((a, b), (3, 2));
        assert_eq!(tch::get_num_threads(), here);
        assert!(!set_here(0));
    }

    #[test]
    fn a_lone_thread_runs_alone_and_leaves_others_alone() {
        let here = tch::get_num_threads();
        let there = on_a_lone_thread(|| {
            let t = tch::Tensor::ones([64, 64], (tch::Kind::Float, tch::Device::Cpu));
            let _ = t.matmul(&t);
            tch::get_num_threads()
        });
        assert_eq!(there, 1);
        assert_eq!(tch::get_num_threads(), here);
    }
}
