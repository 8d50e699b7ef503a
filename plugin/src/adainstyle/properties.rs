// SPDX-License-Identifier: MIT
//! The element's properties: names, ranges, defaults and blurbs.

use gst::glib;
use gst::prelude::*;

use super::settings::*;

/// Every property of the element, the settings' and the read-only figures, in the order
/// `gst-inspect-1.0` lists them.
pub fn specs() -> Vec<glib::ParamSpec> {
    [styles(), mask(), look(), network(), figures()].concat()
}

/// The styles: `style`, `style-outside` and the size they are encoded at.
fn styles() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("style")
            .nick("Style")
            .blurb(
                "Style image path, or several blended as PATH:WEIGHT,PATH:WEIGHT; empty: \
                 the shipped style. Changing it while PLAYING swaps styles without stalling \
                 frames",
            )
            .default_value(Some(""))
            .mutable_playing()
            .build(),
        glib::ParamSpecString::builder("style-outside")
            .nick("Style outside the mask")
            .blurb(
                "Style for the region outside the mask (same syntax as style); empty \
                 keeps the original content there",
            )
            .default_value(Some(""))
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("style-size")
            .nick("Style size")
            .blurb("Longest edge the style image is resized to before encoding (0 = as is)")
            .maximum(8192)
            .default_value(DEFAULT_STYLE_SIZE)
            .mutable_playing()
            .build(),
    ]
}

/// Spatial control: the mask, its inversion and its soft edge.
fn mask() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("mask")
            .nick("Mask")
            .blurb(
                "Where the style goes: a grey image (white = styled, black = kept or \
                 style-outside; resized to the frame), `alpha` for the input's alpha \
                 channel (opaque = styled; needs RGBA or BGRA caps), `person` to style \
                 the room and keep the people (found by a segmenter on every frame; \
                 mask-invert styles the people instead), or empty for everywhere",
            )
            .default_value(Some(""))
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("mask-invert")
            .nick("Invert mask")
            .blurb("Swap the mask's inside and outside")
            .default_value(false)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("mask-feather")
            .nick("Mask feather")
            .blurb(
                "Half-width in pixels of the soft edge where styled output meets kept \
                 content (0 = hard edge)",
            )
            .maximum(1024)
            .default_value(DEFAULT_MASK_FEATHER)
            .mutable_playing()
            .build(),
    ]
}

/// Per-frame knobs of the picture: strength, smoothing, colour, processing size.
fn look() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecDouble::builder("alpha")
            .nick("Alpha")
            .blurb("Strength of the style: 1 = full style, 0 = the content reconstructed")
            .minimum(0.0)
            .maximum(1.0)
            .default_value(DEFAULT_ALPHA)
            .mutable_playing()
            .controllable()
            .build(),
        glib::ParamSpecDouble::builder("temporal-smoothing")
            .nick("Temporal smoothing")
            .blurb(
                "Steadiness over time, 0 = every frame on its own: averages the content \
                 statistics over frames and blends the previous output in where the \
                 input did not change; a scene cut starts afresh",
            )
            .minimum(0.0)
            .maximum(0.99)
            .default_value(DEFAULT_TEMPORAL_SMOOTHING)
            .mutable_playing()
            .controllable()
            .build(),
        glib::ParamSpecEnum::builder_with_default("preserve-color", DEFAULT_PRESERVE_COLOR)
            .nick("Preserve colour")
            .blurb("Keep the content's colours: none, coral (recolour the style) or luminance")
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt::builder("processing-size")
            .nick("Processing size")
            .blurb(
                "Longest edge the network runs at (0 = the input's own size); the output \
                 always has the input's size",
            )
            .maximum(8192)
            .default_value(DEFAULT_PROCESSING_SIZE)
            .mutable_playing()
            .build(),
    ]
}

/// What runs where, read when the element starts: device, precision, network, weights, threads.
fn network() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("device")
            .nick("Device")
            .blurb("Where the network runs: auto (CUDA if present, else CPU), cpu, cuda or cuda:N")
            .default_value(Some(DEFAULT_DEVICE))
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("precision", DEFAULT_PRECISION)
            .nick("Precision")
            .blurb(
                "Precision of the network: auto (fp16 on CUDA, bf16 on a CPU with \
                 AVX-512 BF16, else fp32), fp32, fp16 or bf16; a precision the device \
                 cannot run is an error. Statistics and AdaIN stay fp32",
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder_with_default("model", DEFAULT_MODEL)
            .nick("Model")
            .blurb(
                "Network that stylises: auto (the full model on CUDA, the light one on a \
                 CPU; with decoder set, the network that file holds; logged, and shown by \
                 active-model), full (VGG-19, AdaIN and its decoder) or lite (the light \
                 network for real time on a CPU)",
            )
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("encoder")
            .nick("Encoder weights")
            .blurb(
                "Normalised VGG-19 safetensors (pytorch-AdaIN keys) of the full model; \
                 empty: the shipped one",
            )
            .default_value(Some(""))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("decoder")
            .nick("Trained weights")
            .blurb(
                "Trained weights (safetensors): the full model's decoder (pytorch-AdaIN \
                 keys), or with model=lite the light network's; empty: the shipped \
                 weights of the model in use. Weights of the other model are an error",
            )
            .default_value(Some(""))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("segmenter")
            .nick("Person segmenter weights")
            .blurb(
                "The person segmenter's weights (safetensors) for mask=person; empty: the \
                 shipped one (MediaPipe's selfie segmentation, converted)",
            )
            .default_value(Some(""))
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("threads")
            .nick("CPU threads")
            .blurb(
                "Threads libtorch runs this element's frames with on the CPU (0 = libtorch's \
                 default, one per core): the count of the element's streaming thread, whatever \
                 other elements or the application ask for",
            )
            .maximum(1024)
            .default_value(DEFAULT_THREADS)
            .mutable_ready()
            .build(),
    ]
}

/// Read-only: where and which network runs, and how long frames take.
fn figures() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecString::builder("active-device")
            .nick("Active device")
            .blurb("The device the network runs on once started")
            .read_only()
            .build(),
        glib::ParamSpecString::builder("active-model")
            .nick("Active model")
            .blurb("The network running once started: full or lite (what model=auto picked)")
            .read_only()
            .build(),
        glib::ParamSpecDouble::builder("last-inference-ms")
            .nick("Last inference time")
            .blurb("Milliseconds the last frame took, upload to download")
            .minimum(0.0)
            .read_only()
            .build(),
        glib::ParamSpecDouble::builder("mean-inference-ms")
            .nick("Mean inference time")
            .blurb("Mean milliseconds per frame since the element started")
            .minimum(0.0)
            .read_only()
            .build(),
        glib::ParamSpecUInt64::builder("frames-processed")
            .nick("Frames processed")
            .blurb("Frames stylised since the element started")
            .read_only()
            .build(),
    ]
}
