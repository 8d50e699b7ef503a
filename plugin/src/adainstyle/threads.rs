// SPDX-License-Identifier: MIT
//! The `threads` property: libtorch's CPU thread count for as long as the element runs.
//!
//! libtorch has one thread pool per process, so the count cannot be the element's alone: it is
//! set when the element starts and the count found then is put back when it stops (the
//! property's blurb says so).

/// A thread count set by [`ThreadCount::set`]; dropping it restores the count found before.
#[derive(Debug)]
pub struct ThreadCount {
    previous: i32,
}

impl ThreadCount {
    /// Sets libtorch's CPU thread count to `threads`; 0 leaves it alone (and returns `None`).
    pub fn set(threads: u32) -> Option<Self> {
        let threads = i32::try_from(threads).ok().filter(|&n| n > 0)?;
        let previous = tch::get_num_threads();
        tch::set_num_threads(threads);
        Some(Self { previous })
    }

    /// The count that dropping this restores.
    pub fn previous(&self) -> i32 {
        self.previous
    }
}

impl Drop for ThreadCount {
    fn drop(&mut self) {
        tch::set_num_threads(self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_the_count_it_found() {
        let before = tch::get_num_threads();
        let other = if before == 1 { 2 } else { 1 };
        assert!(ThreadCount::set(0).is_none());
        assert_eq!(tch::get_num_threads(), before);
        let scoped = ThreadCount::set(other as u32).unwrap();
        assert_eq!(scoped.previous(), before);
        assert_eq!(tch::get_num_threads(), other);
        drop(scoped);
        assert_eq!(tch::get_num_threads(), before);
    }
}
