// SPDX-License-Identifier: MIT
//! Link settings shared by every crate that produces an executable or a plugin linking libtorch.
//!
//! Included from each package's `build.rs` with `#[path]`, so the logic lives in one place.

/// Embeds an rpath to libtorch (so nothing needs `LD_LIBRARY_PATH`) and keeps `libtorch_cuda.so`
/// linked even though no symbol of it is referenced directly: without it libtorch never registers
/// its CUDA backend and `tch::Cuda::is_available()` is false on a GPU machine.
///
/// Also checks that libtorch is the release tch 0.24.0 is written for: torch-sys only checks the
/// `build-version` file of a libtorch archive, which PyPI's torch wheel does not have, so a wheel
/// of another version would otherwise build and then fail at run time.
pub fn libtorch_link_args() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is not set: no rpath to libtorch embedded");
        return;
    };
    if let Err(message) = check_version(std::path::Path::new(&lib)) {
        panic!("{message}");
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // Installing CUDA's libraries into the venv later changes this folder: link again then.
    println!("cargo:rerun-if-changed={lib}/../../nvidia");
    // A CPU install (scripts/setup.sh without an NVIDIA driver) has libtorch_cuda.so but not
    // the CUDA libraries it needs: linking it there would make every binary fail to load.
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() && has_cuda_libraries(&lib) {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// Whether cuBLAS, which `libtorch_cuda.so` needs, is next to libtorch (a libtorch archive) or in
/// the wheel's `nvidia/` folder (PyPI's torch with its CUDA dependencies).
fn has_cuda_libraries(lib: &str) -> bool {
    let lib = std::path::Path::new(lib);
    let nvidia = lib.join("../../nvidia");
    [
        lib.to_owned(),
        nvidia.join("cu13/lib"),
        nvidia.join("cublas/lib"),
    ]
    .iter()
    .any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("libcublas"))
        })
    })
}

/// The libtorch release tch 0.24.0 is built against.
const TORCH_VERSION: &str = "2.11.0";

/// Reads the version of the libtorch whose `lib` folder is `lib`: `version.py` of a PyPI wheel or
/// `build-version` of a libtorch archive, next to `lib`.
fn check_version(lib: &std::path::Path) -> Result<(), String> {
    let root = lib.parent().ok_or("libtorch lib folder has no parent")?;
    let read = |name: &str| {
        let path = root.join(name);
        let text = std::fs::read_to_string(&path).ok()?;
        println!("cargo:rerun-if-changed={}", path.display());
        Some(text)
    };
    let found = match read("version.py") {
        Some(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("__version__ = "))
            .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_owned()),
        None => read("build-version").map(|v| v.trim().to_owned()),
    };
    match found {
        Some(v) if v.split('+').next() == Some(TORCH_VERSION) => Ok(()),
        Some(v) => Err(format!(
            "libtorch at {} is {v}, but tch 0.24.0 needs torch {TORCH_VERSION}: run scripts/setup.sh",
            root.display()
        )),
        None => Err(format!(
            "cannot tell the libtorch version at {} (no version.py or build-version)",
            root.display()
        )),
    }
}
