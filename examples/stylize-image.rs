// SPDX-License-Identifier: MIT
//! Stylises one still image with one or more style images and writes a PNG.
//!
//! ```text
//! cargo run --release --example stylize-image -- photo.jpg --style styles/night-cafe.jpg -o out.png
//! # only where mask.png is white, another style elsewhere:
//! cargo run --release --example stylize-image -- photo.jpg --mask mask.png \
//!     --style styles/night-cafe.jpg --style-outside styles/langlois-bridge.jpg -o out.png
//! ```

mod common;

use std::path::PathBuf;

use adainstyle::{
    PreserveColor, Region, StyleBank, StyleSpec, StylizeOptions, data, image_io, mask,
};
use anyhow::{Context, Result};
use clap::Parser;
use tch::Kind;

/// Stylise a still image with AdaIN.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Content image (PNG, JPEG, WebP or BMP).
    content: PathBuf,
    /// Style image, or several blended as PATH:WEIGHT,PATH:WEIGHT. Default: the shipped style.
    #[arg(long)]
    style: Option<String>,
    /// Output image (format from the extension).
    #[arg(short, long, default_value = "stylized.png")]
    output: PathBuf,
    /// Style strength: 1 = full style, 0 = the content reconstructed.
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Keep the content's colours.
    #[arg(long, default_value = "none")]
    preserve_color: PreserveColor,
    /// Longest edge the network runs at (0 = the content's own size).
    #[arg(long, default_value_t = 0)]
    processing_size: i64,
    /// Longest edge the style images are resized to before encoding (0 = as is).
    #[arg(long, default_value_t = 512)]
    style_size: i64,
    #[command(flatten)]
    network: common::NetworkArgs,
    /// Grey mask image: the style goes where it is white (resized to the content).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Swap the mask's inside and outside.
    #[arg(long, requires = "mask")]
    mask_invert: bool,
    /// Style outside the mask (same syntax as --style); without it the content is kept there.
    #[arg(long, requires = "mask")]
    style_outside: Option<String>,
    /// Half-width in pixels of the soft edge between styled and kept pixels (0 = hard edge).
    #[arg(long, default_value_t = 8)]
    mask_feather: i64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let stylizer = args.network.load()?;
    let device = stylizer.device();
    let style_text = args.style.unwrap_or_else(|| {
        data::find(data::DEFAULT_STYLE)
            .to_string_lossy()
            .into_owned()
    });
    let spec: StyleSpec = style_text.parse()?;
    let content = image_io::to_tensor(&image_io::load_rgb(&args.content)?, device, Kind::Float)?;
    let preserve = args.preserve_color;
    let coral_to = (preserve == PreserveColor::Coral).then_some(&content);
    let mut bank = StyleBank::new();
    let style = bank.stats(&stylizer.network, &spec, args.style_size, coral_to)?;
    let outside = match &args.style_outside {
        Some(text) => {
            let spec: StyleSpec = text.parse()?;
            Some(bank.stats(&stylizer.network, &spec, args.style_size, coral_to)?)
        }
        None => None,
    };
    let mask = match &args.mask {
        Some(path) => {
            let size = content.size();
            let (fitted, stretched) = mask::fit_inverted(
                &mask::load(path)?,
                size[2],
                size[3],
                args.mask_invert,
                device,
            )?;
            if stretched {
                eprintln!(
                    "warning: {} has another aspect ratio than the content; stretched",
                    path.display()
                );
            }
            fitted
        }
        None => None,
    };
    let region = mask.as_ref().map(|mask| Region {
        mask,
        outside: outside.as_ref(),
        feather: args.mask_feather,
    });
    let started = std::time::Instant::now();
    let out = stylizer.stylize_region(
        &content,
        &style,
        region.as_ref(),
        &StylizeOptions {
            alpha: args.alpha,
            processing_size: args.processing_size,
            preserve_color: preserve,
        },
    )?;
    image_io::save(&out, &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{} -> {} ({} network on {:?}, {} ms, style {spec})",
        args.content.display(),
        args.output.display(),
        stylizer.model(),
        device,
        started.elapsed().as_millis()
    );
    Ok(())
}
