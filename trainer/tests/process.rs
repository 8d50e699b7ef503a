// SPDX-License-Identifier: MIT
//! What a training session changes in its host process: libtorch's thread count while it is
//! open, and nothing once it ends, whether it succeeded or failed. (A test binary of its own:
//! the thread count is one per process, and other tests' sessions would change it meanwhile.)

mod common;

use std::sync::atomic::AtomicBool;

use adainstyle_trainer::train::{self, Session};
use common::{Scratch, tiny_config, write_images};

#[test]
fn a_session_restores_the_thread_count_it_found() {
    let dir = Scratch::new("threads");
    write_images(&dir.join("content"), 3, 13);
    write_images(&dir.join("style"), 3, 14);
    let before = tch::get_num_threads();
    let mut config = tiny_config(&dir.join("content"), &dir.join("style"), 1);
    config.threads = (before as usize % 3) + 2;
    assert_ne!(config.threads as i32, before);

    let session = Session::open(&config, &dir.join("run"), false).unwrap();
    assert_eq!(tch::get_num_threads(), config.threads as i32);
    drop(session);
    assert_eq!(tch::get_num_threads(), before);

    train::run(&config, &dir.join("run2"), false, &AtomicBool::new(false)).unwrap();
    assert_eq!(tch::get_num_threads(), before);

    // An error after the count was set (no images in the style folder) restores it too.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let mut broken = config.clone();
    broken.style_dir = dir.join("empty");
    let err = Session::open(&broken, &dir.join("run3"), false).unwrap_err();
    assert!(err.to_string().contains("no images"), "{err}");
    assert_eq!(tch::get_num_threads(), before);
}
