// SPDX-License-Identifier: MIT
//! # adainstyle
//!
//! Arbitrary style transfer in real time with adaptive instance normalisation (Huang & Belongie,
//! ICCV 2017) on libtorch. The library holds everything the GStreamer element, the examples and
//! the trainer share: the normalised VGG-19 [`Encoder`] up to relu4_1, the [`Decoder`], the light
//! network for CPUs ([`Lite`]; the [`Model`] setting picks one, [`Network`] runs it), [`adain`]
//! and the channel statistics it uses, style loading and caching ([`StyleBank`]), colour
//! preservation, spatial control ([`mask`]), temporal smoothing for video ([`temporal`]),
//! conversion between packed video frames and device tensors ([`frame`]), device selection
//! ([`DeviceSpec`]) and checkpoint I/O ([`weights`]) whose keys match pytorch-AdaIN's.

pub mod adain;
pub mod alloc;
pub mod arch;
pub mod color;
pub mod data;
pub mod decoder;
pub mod device;
pub mod encoder;
pub mod error;
pub mod files;
pub mod frame;
pub mod image_io;
mod layers;
pub mod lite;
pub mod mask;
pub mod network;
pub mod person;
pub mod polyphase;
pub mod precision;
pub mod profile;
pub mod segmenter;
pub mod style;
pub mod stylizer;
pub mod temporal;
pub mod threads;
pub mod weights;

pub use adain::{Stats, adain, adain_mix, mean_std};
pub use color::PreserveColor;
pub use decoder::Decoder;
pub use device::DeviceSpec;
pub use encoder::{Encoder, Features};
pub use error::{Error, Result};
pub use frame::{DeviceFrame, FrameLayout, PixelLayout};
pub use layers::{to_channels_last, weights_to_channels_last};
pub use lite::Lite;
pub use mask::{MaskSource, Region};
pub use network::Pretrained;
pub use network::{Model, Network, StyleEncode};
pub use person::PersonMask;
pub use precision::Precision;
pub use style::{StyleBank, StyleSpec};
pub use stylizer::{StylizeOptions, Stylizer};
pub use temporal::Temporal;
