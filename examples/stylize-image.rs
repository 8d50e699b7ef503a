// SPDX-License-Identifier: MIT
//! Stylises one still image with one or more style images and writes a PNG.
//!
//! ```text
//! cargo run --release --example stylize-image -- photo.jpg --style styles/night-cafe.jpg -o out.png
//! # only where mask.png is white, another style elsewhere:
//! cargo run --release --example stylize-image -- photo.jpg --mask mask.png \
//!     --style styles/night-cafe.jpg --style-outside styles/langlois-bridge.jpg -o out.png
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use adainstyle::files::PendingOutput;
use adainstyle::{
    MaskSource, PreserveColor, Region, StyleBank, StyleSpec, StylizeOptions, data, image_io, mask,
};
use adainstyle_cli::options::{self, ElementOptions};
use anyhow::{Context, Result, bail};
use clap::Parser;
use tch::Kind;

/// Stylise a still image with AdaIN, taking the element's options.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Content image (PNG, JPEG, WebP or BMP).
    content: PathBuf,
    /// Output image (format from the extension; written under a temporary name, renamed when
    /// complete; never one of the inputs).
    #[arg(short, long, default_value = "stylized.png")]
    output: PathBuf,
    #[command(flatten)]
    element: ElementOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stylize-image: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    options::init()?;
    let opts = &args.element;
    opts.check_files()?;
    for name in ["temporal-smoothing", "threads"] {
        if opts.is_given(name) {
            eprintln!("warning: --{name} does nothing to a still image");
        }
    }
    let mut inputs = opts.files();
    inputs.push(args.content.clone());
    let inputs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    let output = PendingOutput::create(&args.output, &inputs)?;
    let stylizer = opts.load_network()?;
    let device = stylizer.device();
    let spec: StyleSpec = match opts.given_text("style") {
        Some(text) => text.parse()?,
        None => StyleSpec::single(data::find(data::DEFAULT_STYLE)),
    };
    let content = image_io::to_tensor(&image_io::load_rgb(&args.content)?, device, Kind::Float)?;
    let preserve: PreserveColor = opts.get("preserve-color")?;
    let coral_to = (preserve == PreserveColor::Coral).then_some(&content);
    let style_size: i64 = opts.get("style-size")?;
    let mut bank = StyleBank::new();
    let style = bank.stats(&stylizer.network, &spec, style_size, coral_to)?;
    let outside = match opts.given_text("style-outside") {
        Some(text) => {
            let spec: StyleSpec = text.parse()?;
            Some(bank.stats(&stylizer.network, &spec, style_size, coral_to)?)
        }
        None => None,
    };
    let mut feather: i64 = opts.get("mask-feather")?;
    let mask = match opts
        .given_text("mask")
        .map(|t| t.parse::<MaskSource>())
        .transpose()?
    {
        Some(MaskSource::File(path)) => {
            let size = content.size();
            let (fitted, stretched) = mask::fit_inverted(
                &mask::load(&path)?,
                size[2],
                size[3],
                opts.get("mask-invert")?,
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
        Some(MaskSource::Person) => {
            let size = content.size();
            let mut person = opts.load_person_mask(&stylizer)?;
            let invert = opts.get("mask-invert")?;
            let styled = person.for_frame(&content, 0.0, feather, (size[2], size[3]), invert)?;
            feather = 0; // the person mask comes feathered
            Some(styled)
        }
        Some(other) => bail!("--mask {other} needs a video's frames; give an image file"),
        None => None,
    };
    let region = mask.as_ref().map(|mask| -> Result<Region> {
        Ok(Region {
            mask,
            outside: outside.as_ref(),
            feather,
            feathered: None,
        })
    });
    let region = region.transpose()?;
    let started = std::time::Instant::now();
    let out = stylizer.stylize_region(
        &content,
        &style,
        region.as_ref(),
        &StylizeOptions {
            alpha: opts.get("alpha")?,
            processing_size: opts.get("processing-size")?,
            preserve_color: preserve,
        },
    )?;
    image_io::save_as(&out, output.path(), &args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    output.commit()?;
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
