// SPDX-License-Identifier: MIT
//! The error type of the model library.

use std::path::PathBuf;

/// Everything that can go wrong while loading weights, styles or running the network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read at all.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// An output cannot be written (or would overwrite an input).
    #[error("output {}: {reason}", path.display())]
    Output {
        /// The output file.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A checkpoint is not a readable safetensors file.
    #[error("{}: not a readable safetensors checkpoint: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A checkpoint lacks a tensor the model needs.
    #[error("{}: missing key `{key}` (expected shape {expected:?})", path.display())]
    MissingKey {
        /// The checkpoint file.
        path: PathBuf,
        /// The missing key.
        key: String,
        /// The shape the model expects for it.
        expected: Vec<i64>,
    },
    /// A checkpoint holds a tensor of the wrong shape.
    #[error("{}: key `{key}` has shape {found:?}, expected {expected:?}", path.display())]
    ShapeMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// The shape the model expects.
        expected: Vec<i64>,
        /// The shape in the file.
        found: Vec<i64>,
    },
    /// An image could not be decoded.
    #[error("{}: cannot decode image: {source}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// An image file ends before its data does.
    #[error("{}: truncated image (no end marker): the file is incomplete", .0.display())]
    Truncated(PathBuf),
    /// An image is too small for the networks.
    #[error(
        "{}: {width}x{height} pixels is too small for a style: at least {min} on each side",
        path.display()
    )]
    TooSmall {
        /// The image file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The least side the networks take.
        min: u32,
    },
    /// A device string could not be parsed.
    #[error("invalid device `{0}`: expected auto, cpu, cuda or cuda:N")]
    InvalidDevice(String),
    /// A colour-preservation mode could not be parsed.
    #[error("invalid colour preservation `{0}`: expected none, coral or luminance")]
    InvalidPreserveColor(String),
    /// A model string could not be parsed.
    #[error("invalid model `{0}`: expected auto, full or lite")]
    InvalidModel(String),
    /// An upsampling mode could not be parsed.
    #[error("invalid upsampling `{0}`: expected nearest or bilinear")]
    InvalidUpsample(String),
    /// A weights file belongs to another architecture than the one asked for.
    #[error("{}: holds the weights of {found}, not of {expected}; set `model` to match, or pick \
             weights of {expected}", path.display())]
    WrongArchitecture {
        /// The weights file.
        path: PathBuf,
        /// The architecture its header names.
        found: String,
        /// The architecture asked for.
        expected: String,
    },
    /// A precision string could not be parsed.
    #[error("invalid precision `{0}`: expected auto, fp32, fp16 or bf16")]
    InvalidPrecision(String),
    /// The device cannot run the precision asked for.
    #[error("precision {precision} is not available on {device}")]
    UnsupportedPrecision {
        /// The precision asked for.
        precision: String,
        /// The device, in words.
        device: String,
    },
    /// CUDA was asked for but is not usable.
    #[error("CUDA device {requested} requested, but {available} CUDA device(s) are available")]
    CudaUnavailable {
        /// The index asked for.
        requested: usize,
        /// How many devices libtorch sees.
        available: usize,
    },
    /// A mask setting or mask tensor is unusable.
    #[error("invalid mask: {0}")]
    InvalidMask(String),
    /// A frame description does not match the buffer or the supported formats.
    #[error("invalid frame: {0}")]
    Frame(String),
    /// Style weights are empty, negative or sum to zero.
    #[error("invalid style weights: {0}")]
    StyleWeights(String),
    /// libtorch reported an error (shape mismatch, out of memory, ...). The message is libtorch's
    /// first line, without its C++ backtrace.
    #[error("libtorch: {0}")]
    Torch(String),
}

impl From<tch::TchError> for Error {
    fn from(err: tch::TchError) -> Self {
        let text = match err {
            tch::TchError::Torch(msg) => msg,
            other => other.to_string(),
        };
        let first = text
            .split("\nException raised from")
            .next()
            .unwrap_or_default();
        Error::Torch(first.lines().next().unwrap_or_default().to_owned())
    }
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
