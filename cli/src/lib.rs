// SPDX-License-Identifier: MIT
//! What the examples (`stylize-file`, `stylize-image`, `live`, `video-index`, `join-segments`)
//! and the benchmark share on the command line: the element's options as flags ([`options`],
//! made from the element's own properties), the time range of a segment ([`segment`]) and small
//! pipeline helpers ([`playback`]).

pub mod options;
pub mod playback;
pub mod segment;
