// SPDX-License-Identifier: MIT
//! Exporting the decoder the element loads, and measuring a decoder on held-out pairs.

use std::path::{Path, PathBuf};

use adainstyle::{
    Encoder, Model, Precision, Pretrained, Stats, StyleEncode, StylizeOptions, Stylizer, adain,
};
use anyhow::{Context, Result, bail};
use tch::{Device, Kind, Reduction, Tensor};

use crate::checkpoint;
use crate::data;
use crate::detail;
use crate::loss;
use crate::report;

/// Writes a network's trained weights to `out` (fp32; the full model's decoder with
/// pytorch-AdaIN's keys, the light network with its architecture in the header), then loads them
/// back with the library and checks every weight arrived unchanged. `source` is either a run
/// directory (its checkpoint, with the header of the plain weights beside it) or a weights file,
/// such as the copy a held-out evaluation keeps in the run's [`KEPT_DIR`] (its header says which
/// network, and how a full decoder upsamples; the copy keeps it).
/// Returns the number of tensors written. With `half` the file stores fp16 (half the size; the
/// library loads it as fp32), and the check is against the fp16-rounded weights.
///
/// With `average_with` the written weights are the mean of `source` and those files (the same
/// network with the same header, such as several copies a run kept): the decoder of one run
/// wanders between iterations, and the mean of a few of its copies wanders less than any one.
pub fn export(source: &Path, average_with: &[PathBuf], out: &Path, half: bool) -> Result<usize> {
    for input in std::iter::once(source).chain(average_with.iter().map(PathBuf::as_path)) {
        if adainstyle::files::same_file(input, out) {
            bail!(
                "{} is the input {}: refusing to write over it",
                out.display(),
                input.display()
            );
        }
    }
    let (mut tensors, header) = read_source(source)?;
    let model = Model::of_weights(&header)?;
    let metadata = header_entries(&header)?;
    if !average_with.is_empty() {
        for other in average_with {
            let (more, other_header) = read_source(other)?;
            if header_entries(&other_header)? != metadata {
                bail!(
                    "{} and {} hold different networks (their headers differ): they cannot be \
                     averaged",
                    source.display(),
                    other.display()
                );
            }
            for (key, sum) in tensors.iter_mut() {
                let add = more
                    .get(key)
                    .with_context(|| format!("{} has no `{key}` to average", other.display()))?;
                *sum = sum
                    .f_to_kind(Kind::Float)?
                    .f_add(&add.f_to_kind(Kind::Float)?)?;
            }
            if more.len() != tensors.len() {
                bail!(
                    "{} holds {} tensors, {} holds {}: they cannot be averaged",
                    other.display(),
                    more.len(),
                    source.display(),
                    tensors.len()
                );
            }
        }
        let n = (average_with.len() + 1) as f64;
        for sum in tensors.values_mut() {
            *sum = sum.f_div_scalar(n)?;
        }
    }
    let stored = if half { Kind::Half } else { Kind::Float };
    let mut weights: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.f_to_kind(stored)?)))
        .collect::<Result<_>>()?;
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    adainstyle::weights::write_atomic_with(&weights, &metadata, out)
        .with_context(|| format!("writing {}", out.display()))?;
    let back = match model {
        Model::Lite => Pretrained::lite(out, Device::Cpu, Kind::Float).map(|p| p.vs),
        _ => Pretrained::decoder(out, Device::Cpu, Kind::Float).map(|p| p.vs),
    }
    .with_context(|| format!("loading {} back", out.display()))?;
    let vars = back.variables();
    if vars.len() != weights.len() {
        bail!(
            "{} holds {} tensors but the {model} network has {}",
            out.display(),
            weights.len(),
            vars.len()
        );
    }
    for (key, w) in &weights {
        let v = vars
            .get(key)
            .with_context(|| format!("the {model} network has no variable `{key}`"))?;
        if !v.f_equal(&w.f_to_kind(Kind::Float)?)? {
            bail!("`{key}` changed on the way through {}", out.display());
        }
    }
    Ok(weights.len())
}

/// The weights of `source` (a run directory's checkpoint or a weights file) and the file whose
/// header describes them: the file itself, or the plain weights a run directory keeps beside its
/// checkpoint.
fn read_source(source: &Path) -> Result<(std::collections::HashMap<String, Tensor>, PathBuf)> {
    Ok(if source.is_dir() {
        (
            checkpoint::load(source)?.decoder,
            source.join(checkpoint::DECODER_FILE),
        )
    } else {
        let tensors = adainstyle::weights::read_tensors(source)
            .with_context(|| format!("reading weights {}", source.display()))?;
        (tensors, source.to_owned())
    })
}

/// The project's entries of a weights file's header (architecture, upsampling).
fn header_entries(path: &Path) -> Result<std::collections::HashMap<String, String>> {
    Ok(adainstyle::weights::read_metadata(path)?
        .into_iter()
        .filter(|(k, _)| k.starts_with("adainstyle."))
        .collect())
}

/// Folder of a run directory where every held-out evaluation during training keeps the decoder
/// it measured (fp16, `decoder-<iteration>.safetensors`), so that the best one can be exported
/// after training has moved on.
pub const KEPT_DIR: &str = "heldout";

/// The file [`KEPT_DIR`] holds for the decoder measured at `iteration`.
pub fn kept_decoder(run_dir: &Path, iteration: u64) -> PathBuf {
    run_dir
        .join(KEPT_DIR)
        .join(format!("decoder-{iteration:07}.safetensors"))
}

/// Longest edge of the held-out photos in [`evaluate`].
pub const CONTENT_EDGE: u32 = 384;
/// Longest edge of the held-out paintings in [`evaluate`].
pub const STYLE_EDGE: u32 = 512;

/// Settings of [`evaluate`].
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// The network measured (full or lite).
    pub model: Model,
    /// Encoder checkpoint (also the yardstick the metrics are measured with, always in fp32).
    pub encoder: PathBuf,
    /// The trained weights: the full model's decoder, or the light network.
    pub decoder: PathBuf,
    /// Held-out content photos.
    pub content_dir: PathBuf,
    /// Held-out style images.
    pub style_dir: PathBuf,
    /// Number of pairs (0 = every photo with every painting).
    pub pairs: usize,
    /// Precision the stylisation (encoder, decoder) runs in; the measurements stay fp32.
    pub precision: adainstyle::Precision,
    /// Where the networks run.
    pub device: Device,
    /// Optional grid of the first pairs (content | style | output).
    pub grid: Option<PathBuf>,
    /// Pairs shown in the grid.
    pub grid_pairs: usize,
}

/// Held-out figures of a decoder. Lower is better for both ratios; neither depends on the loss
/// weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalResult {
    /// Pairs evaluated.
    pub pairs: usize,
    /// Style ratio: the training style loss of the output against the painting, divided by that
    /// of the photo itself against the painting (mean over pairs). 1 = no style transferred.
    pub style_ratio: f64,
    /// Content keep: MSE(relu4_1(output), relu4_1(photo)) / MSE(t, relu4_1(photo)), t being the
    /// AdaIN target the decoder is asked to produce (mean over pairs). An output whose features
    /// are exactly t scores 1.
    pub content_keep: f64,
    /// Mean training content loss, MSE(relu4_1(output), t).
    pub content_loss: f64,
    /// Mean training style loss of the output.
    pub style_loss: f64,
    /// Detail: mean SSIM of the output's luma against the photo's ([`detail::luma_ssim`]);
    /// higher is better, 1 = the photo's structure intact.
    pub ssim: f64,
    /// Blockiness: [`detail::block_step_ratio`] of the output over that of the photo (mean over
    /// pairs); 1 = no 8-pixel grid beyond the photo's own, higher = a grid shows.
    pub blockiness: f64,
    /// Periodic artifacts: [`detail::lattice_score`] of the output (mean over pairs); compare
    /// with `grid_floor`.
    pub grid: f64,
    /// The photos' own [`detail::lattice_score`] (mean over the same pairs): the floor of `grid`.
    pub grid_floor: f64,
    /// Images skipped because they could not be read.
    pub skipped: usize,
    /// With a precision other than fp32: mean PSNR (dB) of the 8-bit outputs against the fp32
    /// stylisation's.
    pub psnr_vs_fp32: Option<f64>,
}

/// PSNR in dB between two images in [0, 1] once clamped and rounded to 8 bits, as the element
/// writes them.
fn psnr_8bit(a: &Tensor, b: &Tensor) -> Result<f64> {
    let q =
        |t: &Tensor| -> Result<Tensor> { Ok(t.f_clamp(0.0, 1.0)?.f_mul_scalar(255.0)?.f_round()?) };
    let mse = q(a)?
        .f_mse_loss(&q(b)?, Reduction::Mean)?
        .f_double_value(&[])?;
    Ok(10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10())
}

/// An image resized so that its longest edge is `edge` (0 = its own) and both sides are
/// multiples of 8, as a (1, 3, H, W) tensor in [0, 1].
fn load_fitted(path: &Path, edge: u32, device: Device) -> Result<Tensor> {
    let img = adainstyle::image_io::load_rgb(path)?;
    let edge = if edge == 0 {
        img.width().max(img.height())
    } else {
        edge
    };
    let (h, w) =
        adainstyle::frame::fit_longest(img.height() as i64, img.width() as i64, edge as i64);
    let round8 = |n: i64| ((n + 4) / 8 * 8).max(8);
    let t = adainstyle::image_io::to_tensor(&img, device, Kind::Float)?;
    Ok(adainstyle::frame::resize(&t, round8(h), round8(w))?)
}

/// The statistics of every tap, and relu4_1 itself, measured by the fp32 yardstick encoder.
struct Measured {
    stats: Vec<Stats>,
    relu4_1: Tensor,
}

fn measure(encoder: &Encoder, image: &Tensor) -> Result<Measured> {
    let f = encoder.features(&adainstyle::to_channels_last(image)?)?;
    Ok(Measured {
        stats: loss::tap_stats(&f)?,
        relu4_1: f.relu4_1,
    })
}

/// The training style loss between two sets of tap statistics ([`loss::style_distance`]).
fn style_distance(a: &[Stats], b: &[Stats]) -> Result<f64> {
    Ok(loss::style_distance(a, b)?.f_double_value(&[])?)
}

fn load_all(
    paths: &[PathBuf],
    edge: u32,
    device: Device,
    skipped: &mut usize,
) -> Vec<(PathBuf, Tensor)> {
    paths
        .iter()
        .filter_map(|p| match load_fitted(p, edge, device) {
            Ok(t) => Some((p.clone(), t)),
            Err(e) => {
                eprintln!("warning: skipping held-out image {e:#}");
                *skipped += 1;
                None
            }
        })
        .collect()
}

/// Figures of already stylised video frames ([`frames_eval`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramesResult {
    /// Frames measured.
    pub frames: usize,
    /// Mean style ratio, as [`evaluate`] measures pairs.
    pub style_ratio: f64,
    /// Mean [`detail::lattice_score`] of the stylised frames.
    pub grid: f64,
    /// Mean [`detail::lattice_score`] of the input frames: the floor of `grid`.
    pub grid_floor: f64,
}

/// Measures already stylised frames: every PNG of `output_dir` against the frame of the same
/// name in `content_dir`, with the painting `style` (longest edge [`STYLE_EDGE`]), measured by
/// the fp32 `encoder` exactly as [`evaluate`] measures held-out pairs.
pub fn frames_eval(
    encoder: &Path,
    content_dir: &Path,
    output_dir: &Path,
    style: &Path,
    device: Device,
) -> Result<FramesResult> {
    let yardstick = Pretrained::encoder(encoder, device, Kind::Float)
        .with_context(|| format!("loading encoder {}", encoder.display()))?;
    let _guard = tch::no_grad_guard();
    let target = measure(&yardstick.net, &load_fitted(style, STYLE_EDGE, device)?)?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(output_dir)
        .with_context(|| format!("listing {}", output_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no PNG frames in {}", output_dir.display());
    }
    let (mut ratio, mut grid, mut grid_floor) = (0.0, 0.0, 0.0);
    for out_path in &names {
        let name = out_path.file_name().expect("a file");
        // The grid figure on the frames as written (a resize would blur a lattice away), the
        // style ratio on the sizes the encoder needs.
        let raw = |path: &Path| -> Result<Tensor> {
            let img = adainstyle::image_io::load_rgb(path)?;
            Ok(adainstyle::image_io::to_tensor(&img, device, Kind::Float)?)
        };
        let content_path = content_dir.join(name);
        grid += detail::lattice_score(&raw(out_path)?)?;
        grid_floor += detail::lattice_score(&raw(&content_path)?)?;
        let content = measure(&yardstick.net, &load_fitted(&content_path, 0, device)?)?;
        let output = measure(&yardstick.net, &load_fitted(out_path, 0, device)?)?;
        ratio += style_distance(&output.stats, &target.stats)?
            / style_distance(&content.stats, &target.stats)?;
    }
    let n = names.len() as f64;
    Ok(FramesResult {
        frames: names.len(),
        style_ratio: ratio / n,
        grid: grid / n,
        grid_floor: grid_floor / n,
    })
}

/// Pair `k` of `contents` x `styles`: photo `k mod C` with painting `(k / C + k) mod S`, so the
/// first C pairs use every photo once and the C x S pairs are every combination exactly once.
pub fn pair(k: usize, contents: usize, styles: usize) -> (usize, usize) {
    (k % contents, (k / contents + k) % styles)
}

/// Stylises held-out photos (longest edge [`CONTENT_EDGE`]) with held-out paintings (longest
/// edge [`STYLE_EDGE`]) and measures the style ratio and the content keep with the fp32 encoder,
/// one pair at a time, without gradients.
pub fn evaluate(s: &EvalSettings) -> Result<EvalResult> {
    let yardstick = Pretrained::encoder(&s.encoder, s.device, Kind::Float)
        .with_context(|| format!("loading encoder {}", s.encoder.display()))?;
    // The stylisation is the library's, as the element runs it; in a precision other than fp32,
    // an fp32 stylizer beside it gives the PSNR of the difference.
    let load = |precision| {
        Stylizer::load(s.model, &s.encoder, &s.decoder, s.device, precision).with_context(|| {
            format!(
                "loading {} and {}",
                s.encoder.display(),
                s.decoder.display()
            )
        })
    };
    let stylizer = load(s.precision)?;
    let fp32 = match stylizer.precision() {
        Precision::Fp32 => None,
        _ => Some(load(Precision::Fp32)?),
    };
    let _guard = tch::no_grad_guard();
    let mut skipped = 0;
    let mut load_dir = |dir: &Path, edge| -> Result<Vec<(PathBuf, Tensor)>> {
        Ok(load_all(
            &data::list_images(dir)?,
            edge,
            s.device,
            &mut skipped,
        ))
    };
    let contents = load_dir(&s.content_dir, CONTENT_EDGE)?;
    let styles = load_dir(&s.style_dir, STYLE_EDGE)?;
    if contents.is_empty() || styles.is_empty() {
        bail!("no readable held-out photos or paintings");
    }
    let measure_all = |images: &[(PathBuf, Tensor)]| -> Result<Vec<Measured>> {
        images
            .iter()
            .map(|(_, t)| measure(&yardstick.net, t))
            .collect()
    };
    let (content_m, style_m) = (measure_all(&contents)?, measure_all(&styles)?);
    // The statistics the stylisation itself uses (in its own precision), once per painting.
    let style_targets = |st: &Stylizer| -> Result<Vec<Stats>> {
        styles
            .iter()
            .map(|(_, t)| Ok(st.network.style_stats(t)?))
            .collect()
    };
    let targets = style_targets(&stylizer)?;
    let fp32_targets = fp32.as_ref().map(style_targets).transpose()?;
    let all = contents.len() * styles.len();
    let n = if s.pairs == 0 { all } else { s.pairs.min(all) };
    let (mut sums, mut psnr) = (Figures::default(), 0.0);
    let content_lattice = contents
        .iter()
        .map(|(_, t)| detail::lattice_score(t))
        .collect::<Result<Vec<_>>>()?;
    let opts = StylizeOptions::default();
    let mut shown = Vec::new();
    for k in 0..n {
        let (ci, si) = pair(k, contents.len(), styles.len());
        let content = &contents[ci].1;
        let output = stylizer.stylize(content, &targets[si], &opts)?;
        if let (Some(st), Some(t)) = (&fp32, &fp32_targets) {
            psnr += psnr_8bit(&output, &st.stylize(content, &t[si], &opts)?)?;
        }
        let measured = (&content_m[ci], &style_m[si]);
        sums.add(&Figures::of_pair(
            &yardstick.net,
            &output,
            content,
            measured,
        )?);
        sums.grid_floor += content_lattice[ci];
        if s.grid.is_some() && shown.len() < s.grid_pairs {
            shown.push(vec![
                content.shallow_clone(),
                styles[si].1.shallow_clone(),
                output,
            ]);
        }
    }
    if let Some(grid) = s.grid.as_ref().filter(|_| !shown.is_empty()) {
        report::save_rows(&shown, GRID_ROW_HEIGHT, grid)?;
    }
    let n_f = n as f64;
    Ok(EvalResult {
        pairs: n,
        style_ratio: sums.ratio / n_f,
        content_keep: sums.keep / n_f,
        content_loss: sums.content_loss / n_f,
        style_loss: sums.style_loss / n_f,
        ssim: sums.ssim / n_f,
        blockiness: sums.blockiness / n_f,
        grid: sums.grid / n_f,
        grid_floor: sums.grid_floor / n_f,
        skipped,
        psnr_vs_fp32: fp32.is_some().then_some(psnr / n_f),
    })
}

/// The held-out figures of one pair (or their sums over pairs), as [`EvalResult`] names them.
#[derive(Debug, Default)]
struct Figures {
    ratio: f64,
    keep: f64,
    content_loss: f64,
    style_loss: f64,
    ssim: f64,
    blockiness: f64,
    grid: f64,
    grid_floor: f64,
}

impl Figures {
    /// The figures of `output`, the stylisation of `content` with a painting, measured by the
    /// fp32 `yardstick` against the photo's and the painting's own `measured` features.
    fn of_pair(
        yardstick: &Encoder,
        output: &Tensor,
        content: &Tensor,
        (photo, painting): (&Measured, &Measured),
    ) -> Result<Self> {
        let out = measure(yardstick, output)?;
        let reference = &photo.relu4_1;
        let mse = |a: &Tensor, b: &Tensor| -> Result<f64> {
            Ok(a.f_mse_loss(b, Reduction::Mean)?.f_double_value(&[])?)
        };
        // The target as the fp32 yardstick defines it, so that the ratio does not move with
        // the stylisation's precision.
        let ideal = adain(reference, &painting.stats[3])?;
        let out_style = style_distance(&out.stats, &painting.stats)?;
        Ok(Self {
            ratio: out_style / style_distance(&photo.stats, &painting.stats)?,
            keep: mse(&out.relu4_1, reference)? / mse(&ideal, reference)?,
            content_loss: mse(&out.relu4_1, &ideal)?,
            style_loss: out_style,
            ssim: detail::luma_ssim(output, content)?,
            blockiness: detail::block_step_ratio(output)? / detail::block_step_ratio(content)?,
            grid: detail::lattice_score(output)?,
            grid_floor: 0.0,
        })
    }

    fn add(&mut self, other: &Self) {
        self.ratio += other.ratio;
        self.keep += other.keep;
        self.content_loss += other.content_loss;
        self.style_loss += other.style_loss;
        self.ssim += other.ssim;
        self.blockiness += other.blockiness;
        self.grid += other.grid;
        self.grid_floor += other.grid_floor;
    }
}

/// Height of each row of the held-out grid.
const GRID_ROW_HEIGHT: i64 = 256;

#[cfg(test)]
mod tests {
    use super::{export, pair};

    #[test]
    fn export_never_writes_over_its_source() {
        let dir = std::env::temp_dir().join(format!("adain-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("kept.safetensors");
        std::fs::write(&source, b"weights").unwrap();
        let link = dir.join("link.safetensors");
        std::os::unix::fs::symlink(&source, &link).unwrap();
        for out in [&source, &link] {
            let err = export(&source, &[], out, true).unwrap_err().to_string();
            assert!(err.contains("refusing"), "{err}");
        }
        let err = export(
            &dir.join("other.safetensors"),
            std::slice::from_ref(&source),
            &source,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("refusing"), "{err}");
        assert_eq!(std::fs::read(&source).unwrap(), b"weights");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn pairs_cover_every_combination_once_and_every_photo_first() {
        for (c, st) in [(26, 7), (4, 6), (5, 5), (1, 3)] {
            let all: Vec<_> = (0..c * st).map(|k| pair(k, c, st)).collect();
            let mut unique = all.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), c * st, "{c}x{st}");
            let mut first: Vec<_> = all[..c].iter().map(|p| p.0).collect();
            first.sort();
            assert_eq!(first, (0..c).collect::<Vec<_>>());
        }
    }
}
