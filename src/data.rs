// SPDX-License-Identifier: MIT
//! Locating the shipped models and styles, from the build tree or after `meson install`.

use std::path::PathBuf;

/// Environment variable that overrides where shipped data is looked up first.
pub const DATADIR_ENV: &str = "ADAINSTYLE_DATADIR";

/// Shipped encoder weights, relative to the data directory.
pub const ENCODER: &str = "models/vgg19-normalised.safetensors";
/// Shipped decoder weights, relative to the data directory.
pub const DECODER: &str = "models/decoder.safetensors";
/// Shipped light-network weights (`model=lite`), relative to the data directory.
pub const LITE: &str = "models/lite.safetensors";
/// Shipped person-segmenter weights (`mask=person`), relative to the data directory.
pub const SEGMENTER: &str = "models/segmenter.safetensors";
/// The default style image, relative to the data directory.
pub const DEFAULT_STYLE: &str = "styles/cafe-terrace-at-night.jpg";

/// The directories searched, in order: `$ADAINSTYLE_DATADIR`, then the install data directory
/// that meson passed at build time (`ADAINSTYLE_INSTALL_DATADIR`) in an installed build, or the
/// source tree in a development build. An installed plugin never looks into the build tree.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(DATADIR_ENV) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from(
        option_env!("ADAINSTYLE_INSTALL_DATADIR").unwrap_or(env!("CARGO_MANIFEST_DIR")),
    ));
    dirs
}

/// The first existing `dir/relative` over [`search_dirs`]; if none exists, the path in the last
/// of them (so that the error the caller reports names a real, expected location).
pub fn find(relative: &str) -> PathBuf {
    let dirs = search_dirs();
    dirs.iter()
        .map(|d| d.join(relative))
        .find(|p| p.exists())
        .unwrap_or_else(|| dirs[dirs.len() - 1].join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_shipped_files_in_the_source_tree() {
        assert!(find(ENCODER).is_file(), "{}", find(ENCODER).display());
        assert!(find(DEFAULT_STYLE).is_file());
        let missing = find("models/no-such-file");
        assert!(missing.ends_with("models/no-such-file"));
    }
}
