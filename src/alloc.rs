// SPDX-License-Identifier: MIT
//! Memory reuse on the CPU. libtorch allocates every intermediate tensor afresh with the C
//! allocator; with glibc's defaults, blocks of a few megabytes (a frame's activations) are
//! either mapped and unmapped on every use or trimmed from the heap after each frame, and every
//! page of them is faulted in and zeroed again by the kernel on the next frame: at 640×360 that
//! was about 11,000 page faults a frame with the light network, up to 40 % of its time
//! (BENCHMARKS.md). [`reuse_freed_memory`] tells glibc to keep such blocks for reuse instead.
//!
//! It is process-wide (the host's own allocations are served the same way: freed memory stays
//! in the process for its next use rather than going back to the system) and done once, the
//! first time a network is loaded for the CPU. Setting `ADAINSTYLE_MALLOC_TUNING=0` in the
//! environment leaves the allocator as the process configured it.

use std::sync::OnceLock;

/// Blocks up to this size come from the heap, not from a mapping of their own (glibc's
/// largest allowed value on 64-bit systems).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of a heap that glibc keeps rather than returning to the system.
pub const TRIM_THRESHOLD: usize = 512 << 20;
/// Extra memory glibc takes whenever a heap grows; as large as a thread's heap (64 MB), it also
/// keeps glibc from unmapping a thread's heap as soon as it is empty, which is what the
/// element's streaming thread (not the application's main thread) ran into on every frame.
pub const TOP_PAD: usize = 64 << 20;
/// Environment variable that turns the tuning off (`0`).
pub const ENV: &str = "ADAINSTYLE_MALLOC_TUNING";

/// Asks the C allocator to keep freed blocks of up to [`MMAP_THRESHOLD`] for reuse (see the
/// module's documentation); once per process, unless [`ENV`] is `0`. Returns whether the
/// allocator took the settings (false on other C libraries, or when turned off).
pub fn reuse_freed_memory() -> bool {
    static APPLIED: OnceLock<bool> = OnceLock::new();
    *APPLIED.get_or_init(|| !std::env::var(ENV).is_ok_and(|v| v.trim() == "0") && tune())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune() -> bool {
    // SAFETY: mallopt only changes the allocator's parameters; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TOP_PAD, TOP_PAD as libc::c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune() -> bool {
    false
}
