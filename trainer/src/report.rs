// SPDX-License-Identifier: MIT
//! What a run leaves to watch: `losses.csv`, sample grids (content | style | output) and a loss
//! plot.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tch::{Kind, Tensor};

use crate::loss::{TERM_NAMES, Terms, Weights};

/// File name of the loss log in a run directory.
pub const LOSSES_FILE: &str = "losses.csv";
/// Header of the loss log.
pub fn losses_header() -> String {
    format!("iteration,lr,{},total,seconds", TERM_NAMES.join(","))
}

/// One row of `losses.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossRow {
    /// 0-based iteration.
    pub iteration: u64,
    /// Learning rate used for this iteration's update.
    pub lr: f64,
    /// Each term's value (unweighted; 0 for a term not computed).
    pub terms: Terms<f64>,
    /// The weighted sum of every term.
    pub total: f64,
    /// Training seconds since the run began (all invocations together).
    pub seconds: f64,
}

impl LossRow {
    fn to_csv(self) -> String {
        let terms: Vec<String> = self.terms.into_array().iter().map(f64::to_string).collect();
        format!(
            "{},{:e},{},{},{:.3}",
            self.iteration,
            self.lr,
            terms.join(","),
            self.total,
            self.seconds
        )
    }

    /// A row of the log; rows of logs written before the identity, shallow and TV columns
    /// (six fields), before the temporal column (nine) or before the lattice column (ten) read
    /// with those terms at 0.
    fn parse(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.trim().split(',').collect();
        let num = |i: usize| f[i].parse::<f64>().ok();
        // iteration, lr, the terms, total, seconds: 2 terms (content, style), 5 (up to the
        // TV), 6 (up to the temporal term) or all of them.
        let count = f.len().checked_sub(4)?;
        if ![2, 5, 6, TERM_NAMES.len()].contains(&count) {
            return None;
        }
        let mut terms = [0.0; TERM_NAMES.len()];
        for (i, term) in terms.iter_mut().enumerate().take(count) {
            *term = num(2 + i)?;
        }
        Some(Self {
            iteration: f[0].parse().ok()?,
            lr: num(1)?,
            terms: Terms::from_array(terms),
            total: num(2 + count)?,
            seconds: num(3 + count)?,
        })
    }
}

/// Reads every well-formed row of a loss log.
pub fn read_losses(path: &Path) -> Result<Vec<LossRow>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Some(row) = LossRow::parse(&line?) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Appends rows to `losses.csv`, buffered; flushed at every checkpoint.
#[derive(Debug)]
pub struct LossLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl LossLog {
    /// Opens the log of `run_dir` for a run that has completed `done` iterations: rows of later
    /// iterations (written after the last checkpoint of an interrupted run) are dropped, so the
    /// log stays one row per iteration.
    pub fn open(run_dir: &Path, done: u64) -> Result<Self> {
        let path = run_dir.join(LOSSES_FILE);
        let kept = if path.exists() {
            read_losses(&path)?
                .into_iter()
                .filter(|r| r.iteration < done)
                .collect()
        } else {
            Vec::new()
        };
        let mut text = format!("{}\n", losses_header());
        for row in kept {
            text.push_str(&row.to_csv());
            text.push('\n');
        }
        crate::config::write_atomic(&path, text.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path,
            out: BufWriter::new(file),
        })
    }

    /// Appends one row.
    pub fn push(&mut self, row: LossRow) -> Result<()> {
        writeln!(self.out, "{}", row.to_csv())
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Writes buffered rows to disk.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Writes rows of (content | style | output) images, each (N, 3, H, W) of the same size, as one
/// PNG. The output is clamped to [0, 1].
pub fn save_grid(content: &Tensor, style: &Tensor, output: &Tensor, path: &Path) -> Result<()> {
    let to_cpu = |t: &Tensor| -> Result<Tensor> {
        Ok(t.f_detach()?
            .f_to_kind(Kind::Float)?
            .f_to(tch::Device::Cpu)?
            .f_clamp(0.0, 1.0)?)
    };
    let row = Tensor::f_cat(&[to_cpu(content)?, to_cpu(style)?, to_cpu(output)?], 3)?;
    let n = row.size()[0];
    let rows = (0..n)
        .map(|i| row.f_narrow(0, i, 1))
        .collect::<Result<Vec<_>, _>>()?;
    let grid = Tensor::f_cat(&rows, 2)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    adainstyle::image_io::save(&grid, path)?;
    Ok(())
}

/// File name of the held-out figures in a run directory.
pub const HELDOUT_FILE: &str = "heldout.csv";

/// Appends one line of held-out figures to `heldout.csv` (header first if the file is new).
pub fn append_heldout(
    run_dir: &Path,
    iteration: u64,
    train_seconds: f64,
    r: &crate::eval::EvalResult,
) -> Result<()> {
    let path = run_dir.join(HELDOUT_FILE);
    let new = !path.exists();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if new {
        writeln!(
            f,
            "iteration,train_hours,style_ratio,content_keep,content_loss,style_loss,pairs,ssim,blockiness,grid,grid_floor"
        )?;
    }
    writeln!(
        f,
        "{iteration},{:.4},{:.5},{:.5},{:.5},{:.5},{},{:.5},{:.5},{:.3},{:.3}",
        train_seconds / 3600.0,
        r.style_ratio,
        r.content_keep,
        r.content_loss,
        r.style_loss,
        r.pairs,
        r.ssim,
        r.blockiness,
        r.grid,
        r.grid_floor
    )?;
    Ok(())
}

/// Writes rows of (1, 3, H, W) images side by side, each scaled to `height` (aspect kept), rows
/// stacked and padded with white to the widest, as one PNG.
pub fn save_rows(rows: &[Vec<Tensor>], height: i64, path: &Path) -> Result<()> {
    let mut built = Vec::new();
    for row in rows {
        let cells = row
            .iter()
            .map(|t| {
                let size = t.size();
                let width = (size[3] as f64 * height as f64 / size[2] as f64).round() as i64;
                let t = t
                    .f_detach()?
                    .f_to_kind(Kind::Float)?
                    .f_to(tch::Device::Cpu)?;
                Ok(adainstyle::frame::resize(&t, height, width.max(1))?.f_clamp(0.0, 1.0)?)
            })
            .collect::<Result<Vec<_>>>()?;
        built.push(Tensor::f_cat(&cells, 3)?);
    }
    let widest = built.iter().map(|r| r.size()[3]).max().unwrap_or(1);
    let grid = Tensor::f_ones(
        [1, 3, height * built.len() as i64, widest],
        (Kind::Float, tch::Device::Cpu),
    )?;
    for (i, row) in built.iter().enumerate() {
        grid.f_narrow(2, i as i64 * height, height)?
            .f_narrow(3, 0, row.size()[3])?
            .f_copy_(row)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    adainstyle::image_io::save(&grid, path)?;
    Ok(())
}

/// Fonts tried, in order, for the plot's labels (Debian's `fonts-dejavu-core` first).
const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a system font with plotters once; false if none is installed (the plot is then
/// drawn without text).
fn register_font() -> bool {
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FONT.get_or_init(|| {
        FONT_CANDIDATES.iter().any(|p| {
            std::fs::read(p).is_ok_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font(
                    "sans-serif",
                    plotters::style::FontStyle::Normal,
                    bytes,
                )
                .is_ok()
            })
        })
    })
}

/// Moving average over `window` points (shorter at the start).
fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut sum = 0.0;
    for (i, v) in values.iter().enumerate() {
        sum += v;
        if i >= window {
            sum -= values[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}

/// Plots every weighted term with a weight above 0 and the total loss (log scale, smoothed)
/// against the iteration as a PNG. Labels need a system font; without one the curves are drawn
/// alone (content blue, style red, identity green, shallow content magenta, TV cyan, temporal
/// orange, total black).
pub fn plot_losses(rows: &[LossRow], weights: &Weights, path: &Path) -> Result<()> {
    use plotters::prelude::*;

    const W: u32 = 900;
    const H: u32 = 500;
    if rows.is_empty() {
        return Ok(());
    }
    let window = (rows.len() / 50).clamp(1, 200);
    let x: Vec<f64> = rows.iter().map(|r| r.iteration as f64).collect();
    let weighted = |i: usize, weight: f64| {
        smooth(
            &rows
                .iter()
                .map(|r| r.terms.into_array()[i] * weight)
                .collect::<Vec<_>>(),
            window,
        )
    };
    let looks = Terms {
        content: ("content x weight", BLUE),
        style: ("style x weight", RED),
        identity: ("identity x weight", GREEN),
        shallow: ("shallow content x weight", MAGENTA),
        tv: ("TV x weight", CYAN),
        temporal: ("temporal x weight", RGBColor(230, 140, 0)),
        lattice: ("lattice x weight", RGBColor(120, 80, 40)),
    };
    let mut series: Vec<_> = looks
        .into_array()
        .into_iter()
        .zip(weights.into_array())
        .enumerate()
        .filter(|(_, (_, weight))| *weight > 0.0)
        .map(|(i, ((name, color), weight))| (name, color, weighted(i, weight)))
        .collect();
    let total: Vec<f64> = rows.iter().map(|r| r.total).collect();
    series.push(("total", BLACK, smooth(&total, window)));
    let positive = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo * 0.9, hi * 1.1)
    } else {
        (1e-3, 1e3)
    };

    let with_text = register_font();
    let mut buf = vec![0u8; (W * H * 3) as usize];
    draw_chart(&mut buf, (W, H), &x, &series, (lo, hi), with_text)?;
    let img = image::RgbImage::from_raw(W, H, buf).context("plot buffer size")?;
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// One weighted loss term to plot: its legend, its colour and its smoothed values.
type Series = (&'static str, plotters::style::RGBColor, Vec<f64>);

/// Draws the loss `series` against the iterations `x` on a log scale from `lo` to `hi` into the
/// RGB buffer `buf` of `size`; with `with_text`, a caption, axis labels and a legend.
fn draw_chart(
    buf: &mut [u8],
    size: (u32, u32),
    x: &[f64],
    series: &[Series],
    (lo, hi): (f64, f64),
    with_text: bool,
) -> Result<()> {
    use plotters::prelude::*;
    let root = BitMapBackend::with_buffer(buf, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if with_text {
        builder
            .caption("AdaIN decoder training losses", ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(70);
    }
    let mut chart = builder
        .build_cartesian_2d(
            0f64..x.last().copied().unwrap_or(1.0).max(1.0),
            (lo..hi).log_scale(),
        )
        .map_err(plot_err)?;
    let mut mesh = chart.configure_mesh();
    if with_text {
        mesh.x_desc("iteration").y_desc("loss (smoothed)");
    } else {
        mesh.disable_x_mesh()
            .disable_y_mesh()
            .x_labels(0)
            .y_labels(0);
    }
    mesh.draw().map_err(plot_err)?;
    for (name, color, ys) in series {
        let points = x
            .iter()
            .zip(ys)
            .filter(|(_, y)| y.is_finite() && **y > 0.0)
            .map(|(x, y)| (*x, *y));
        let drawn = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_err)?;
        if with_text {
            drawn
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], *color));
        }
    }
    if with_text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the loss plot: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_a_trailing_mean() {
        assert_eq!(smooth(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn rows_round_trip_through_csv() {
        let row = LossRow {
            iteration: 7,
            lr: 9.5e-5,
            terms: Terms::from_array([1.25, 0.1 + 0.2, 0.0625, 2.5, 0.0, 0.125, 3.5]),
            total: 4.0,
            seconds: 12.5,
        };
        assert_eq!(LossRow::parse(&row.to_csv()), Some(row));
        assert_eq!(LossRow::parse(&losses_header()), None);
        assert_eq!(
            losses_header(),
            "iteration,lr,content,style,identity,shallow,tv,temporal,lattice,total,seconds"
        );
        // A row of a log from before the identity, shallow and TV columns.
        let old = LossRow::parse("3,1e-4,2.0,0.5,2.75,1.5").unwrap();
        assert_eq!(
            (old.total, old.seconds, old.terms.identity),
            (2.75, 1.5, 0.0)
        );
        // And from before the temporal column.
        let nine = LossRow::parse("3,1e-4,2.0,0.5,0.25,0.5,0.0,2.75,1.5").unwrap();
        assert_eq!(
            (nine.terms.identity, nine.terms.temporal, nine.total),
            (0.25, 0.0, 2.75)
        );
        // And from before the lattice column.
        let ten = LossRow::parse("3,1e-4,2.0,0.5,0.25,0.5,0.0,0.125,2.75,1.5").unwrap();
        assert_eq!(
            (ten.terms.temporal, ten.terms.lattice, ten.total),
            (0.125, 0.0, 2.75)
        );
    }
}
