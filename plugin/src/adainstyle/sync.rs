// SPDX-License-Identifier: MIT
//! Locking shared by the element's modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`; a panic in another holder does not make the element unusable (every value behind
/// the element's locks stays consistent between statements).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
