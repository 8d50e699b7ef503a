// SPDX-License-Identifier: MIT
//! Training data: image folders, deterministic random crops, and worker threads that assemble
//! batches ahead of the device.
//!
//! Batch `t` depends only on the seed and `t` (a ChaCha stream per iteration), never on what was
//! drawn before, so a resumed run sees exactly the batches an uninterrupted one would have seen,
//! whatever the number of workers.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use anyhow::{Context, Result, bail};
use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// File extensions (case-insensitive) taken as images.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "bmp"];

/// Every image file under `dir`, recursively, sorted (so runs are reproducible).
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("reading folder {}", d.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("reading folder {}", d.display()))?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() || (file_type.is_symlink() && path.is_dir()) {
                stack.push(path);
            } else if has_image_extension(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        bail!(
            "no images ({}) found under {}",
            IMAGE_EXTENSIONS.join(", "),
            dir.display()
        );
    }
    Ok(out)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Resizes so that the short side is `short` (aspect ratio kept; upscales small images).
pub fn resize_short_side(img: &RgbImage, short: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    if w.min(h) == short {
        return img.clone();
    }
    let scale = short as f64 / w.min(h) as f64;
    let nw = ((w as f64 * scale).round() as u32).max(short);
    let nh = ((h as f64 * scale).round() as u32).max(short);
    imageops::resize(img, nw, nh, FilterType::Triangle)
}

/// The top-left corner of a random `side` x `side` window of a `width` x `height` image (or
/// feature map), every position equally likely: the one crop of training, of the packed data
/// ([`crate::pack::prepare`]) and of cached features ([`crate::cache`]).
pub fn random_window(rng: &mut ChaCha8Rng, width: u32, height: u32, side: u32) -> (u32, u32) {
    (
        rng.gen_range(0..=width - side),
        rng.gen_range(0..=height - side),
    )
}

/// The centre `size` x `size` square of an image resized to short side `size`.
pub fn center_square(img: &RgbImage, size: u32) -> RgbImage {
    let r = resize_short_side(img, size);
    let (w, h) = r.dimensions();
    imageops::crop_imm(&r, (w - size) / 2, (h - size) / 2, size, size).to_image()
}

/// One folder of images, decoded on demand, resized to a short side, and cached in memory.
///
/// Files that cannot be decoded are remembered, skipped, and reported once.
#[derive(Debug)]
pub struct ImageFolder {
    root: PathBuf,
    paths: Vec<PathBuf>,
    short_side: u32,
    cache: Mutex<HashMap<usize, Arc<RgbImage>>>,
    cache_left: AtomicUsize,
    unreadable: Mutex<BTreeSet<usize>>,
}

impl ImageFolder {
    /// Lists `dir`; images are resized to `short_side` on first use and up to `cache_bytes` of
    /// them are kept.
    pub fn open(dir: &Path, short_side: u32, cache_bytes: usize) -> Result<Self> {
        Ok(Self {
            root: dir.to_owned(),
            paths: list_images(dir)?,
            short_side,
            cache: Mutex::new(HashMap::new()),
            cache_left: AtomicUsize::new(cache_bytes),
            unreadable: Mutex::new(BTreeSet::new()),
        })
    }

    /// Number of image files found.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether the folder holds no images (never true for an opened folder).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The image files, sorted.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Image `index`, decoded and resized; `Ok(None)` if the file is unreadable (a warning is
    /// pushed the first time).
    pub fn get(&self, index: usize, warnings: &mut Vec<String>) -> Option<Arc<RgbImage>> {
        if let Some(img) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&index)
        {
            return Some(img.clone());
        }
        if self
            .unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&index)
        {
            return None;
        }
        match adainstyle::image_io::load_rgb(&self.paths[index]) {
            Ok(img) if img.width() > 0 && img.height() > 0 => {
                let img = Arc::new(resize_short_side(&img, self.short_side));
                let bytes = img.as_raw().len();
                let reserved = self
                    .cache_left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(bytes)
                    })
                    .is_ok();
                if reserved {
                    self.cache
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(index, img.clone());
                }
                Some(img)
            }
            result => {
                let reason = match result {
                    Err(e) => e.to_string(),
                    Ok(_) => format!("{}: empty image", self.paths[index].display()),
                };
                let new = self
                    .unreadable
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(index);
                if new {
                    warnings.push(format!("skipping unreadable image {reason}"));
                }
                None
            }
        }
    }

    /// Draws a readable image with `rng` (redrawing past unreadable ones) and appends a random
    /// `crop` x `crop` square of it to `out` as packed RGB bytes.
    pub fn sample_crop(
        &self,
        rng: &mut ChaCha8Rng,
        crop: u32,
        out: &mut Vec<u8>,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let img = loop {
            let bad = self
                .unreadable
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            if bad == self.paths.len() {
                bail!(
                    "none of the {} images under {} can be read",
                    self.paths.len(),
                    self.root.display()
                );
            }
            let index = rng.gen_range(0..self.paths.len());
            if let Some(img) = self.get(index, warnings) {
                break img;
            }
        };
        let (w, h) = img.dimensions();
        let (x, y) = random_window(rng, w, h, crop);
        let row = (w * 3) as usize;
        let raw = img.as_raw();
        for yy in y..y + crop {
            let start = yy as usize * row + x as usize * 3;
            out.extend_from_slice(&raw[start..start + crop as usize * 3]);
        }
        Ok(())
    }
}

/// One batch in host memory: `batch` content crops and as many style crops, packed RGB (NHWC).
#[derive(Debug)]
pub struct HostBatch {
    /// The iteration this batch belongs to.
    pub iteration: u64,
    /// Content crops, `batch * crop * crop * 3` bytes.
    pub content: Vec<u8>,
    /// Style crops, same layout.
    pub style: Vec<u8>,
    /// Images per half.
    pub batch: usize,
    /// Crop side.
    pub crop: u32,
    /// Files newly found unreadable while building this batch.
    pub warnings: Vec<String>,
}

impl HostBatch {
    /// Converts one half to a float (N, 3, crop, crop) tensor in [0, 1] on `device`, moving the
    /// 8-bit pixels (not floats) across.
    pub fn to_device(bytes: &[u8], batch: usize, crop: u32, device: Device) -> Result<Tensor> {
        let c = crop as i64;
        let pixels = Tensor::f_from_slice(bytes)?
            .f_view([batch as i64, c, c, 3])?
            .f_to_device(device)?;
        Ok(adainstyle::frame::rgb_bytes_to_unit(&pixels, Kind::Float)?)
    }
}

/// The content and style folders of a run plus the sampling parameters.
#[derive(Debug)]
pub struct Dataset {
    /// Content photos.
    pub content: ImageFolder,
    /// Style images.
    pub style: ImageFolder,
    /// Images per batch.
    pub batch: usize,
    /// Crop side.
    pub crop: u32,
    /// Base seed.
    pub seed: u64,
}

impl Dataset {
    /// The random stream of iteration `t`: independent of every other iteration.
    pub fn rng_for(seed: u64, iteration: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(iteration);
        rng
    }

    /// Builds the batch of `iteration` (deterministic given the seed and the files).
    pub fn batch(&self, iteration: u64) -> Result<HostBatch> {
        let mut rng = Self::rng_for(self.seed, iteration);
        let bytes = self.batch * (self.crop * self.crop * 3) as usize;
        let mut content = Vec::with_capacity(bytes);
        let mut style = Vec::with_capacity(bytes);
        let mut warnings = Vec::new();
        for _ in 0..self.batch {
            self.content
                .sample_crop(&mut rng, self.crop, &mut content, &mut warnings)?;
            self.style
                .sample_crop(&mut rng, self.crop, &mut style, &mut warnings)?;
        }
        Ok(HostBatch {
            iteration,
            content,
            style,
            batch: self.batch,
            crop: self.crop,
            warnings,
        })
    }
}

/// Worker threads that build batches `first..end` in order, a few iterations ahead.
///
/// Worker `k` of `n` builds the iterations `first + k, first + k + n, ...` into its own bounded
/// channel, and [`BatchLoader::next`] reads the channels round-robin, so batches arrive in order
/// without a reordering buffer.
#[derive(Debug)]
pub struct BatchLoader {
    receivers: Vec<Receiver<Result<HostBatch>>>,
    handles: Vec<JoinHandle<()>>,
    next: u64,
    first: u64,
    end: u64,
}

impl BatchLoader {
    /// Starts `workers` threads (at least one), each keeping up to `ahead` batches ready.
    pub fn start(
        dataset: Arc<Dataset>,
        first: u64,
        end: u64,
        workers: usize,
        ahead: usize,
    ) -> Result<Self> {
        let workers = workers.max(1);
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for k in 0..workers {
            let (tx, rx): (SyncSender<Result<HostBatch>>, _) = sync_channel(ahead.max(1));
            let dataset = dataset.clone();
            let handle = std::thread::Builder::new()
                .name(format!("adain-data-{k}"))
                .spawn(move || {
                    let mut t = first + k as u64;
                    while t < end {
                        let batch = dataset.batch(t);
                        let failed = batch.is_err();
                        if tx.send(batch).is_err() || failed {
                            return;
                        }
                        t += workers as u64;
                    }
                })
                .context("starting a data worker thread")?;
            receivers.push(rx);
            handles.push(handle);
        }
        Ok(Self {
            receivers,
            handles,
            next: first,
            first,
            end,
        })
    }

    /// The next batch, in iteration order.
    pub fn next_batch(&mut self) -> Result<HostBatch> {
        if self.next >= self.end {
            bail!("no batch after iteration {}", self.end);
        }
        let k = ((self.next - self.first) % self.receivers.len() as u64) as usize;
        let batch = self.receivers[k]
            .recv()
            .context("a data worker stopped unexpectedly")??;
        self.next += 1;
        Ok(batch)
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Dropping the receivers makes every blocked `send` fail, so the workers exit.
        self.receivers.clear();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}
