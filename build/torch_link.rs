//! Link settings shared by every crate that produces an executable or a plugin linking libtorch.
//!
//! Included from each package's `build.rs` with `#[path]`, so the logic lives in one place.

/// Embeds an rpath to libtorch (so nothing needs `LD_LIBRARY_PATH`) and keeps `libtorch_cuda.so`
/// linked even though no symbol of it is referenced directly: without it libtorch never registers
/// its CUDA backend and `tch::Cuda::is_available()` is false on a GPU machine.
pub fn libtorch_link_args() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is not set: no rpath to libtorch embedded");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
