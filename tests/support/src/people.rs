// SPDX-License-Identifier: MIT
//! The hand-drawn ground truth of the person mask's test photos (tests/data/people/
//! ground-truth.json): polygons of the people and of what they hold, rasterised.

use std::path::PathBuf;

/// One photo's ground truth, one flag per pixel in row-major order.
#[derive(Debug)]
pub struct GroundTruth {
    /// The photo.
    pub path: PathBuf,
    /// Its width and height.
    pub size: (usize, usize),
    /// Whether each pixel is a person's.
    pub person: Vec<bool>,
    /// Whether each pixel is left out (what the person holds).
    pub ignore: Vec<bool>,
}

impl GroundTruth {
    /// The ground truth of `name` (a file of tests/data/people) at `width` x `height`, the
    /// photo's own size.
    pub fn load(name: &str, width: usize, height: usize) -> Self {
        let dir = crate::root().join("tests/data/people");
        let text = std::fs::read_to_string(dir.join("ground-truth.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let drawn = &json[name];
        assert!(drawn.is_object(), "no ground truth for {name}");
        let raster = |key: &str| {
            let polygons: Vec<Vec<(f64, f64)>> = drawn[key]
                .as_array()
                .map(|ps| ps.iter().map(polygon).collect())
                .unwrap_or_default();
            (0..width * height)
                .map(|i| {
                    let (x, y) = ((i % width) as f64 + 0.5, (i / width) as f64 + 0.5);
                    polygons.iter().any(|p| inside(p, x, y))
                })
                .collect()
        };
        Self {
            path: dir.join(name),
            size: (width, height),
            person: raster("person"),
            ignore: raster("ignore"),
        }
    }

    /// The pixels of the people at least `band` pixels from the boundary (not left out).
    pub fn person_core(&self, band: usize) -> Vec<bool> {
        let core = erode(&self.person, self.size, band);
        let ignore = dilate(&self.ignore, self.size, band);
        core.iter().zip(&ignore).map(|(c, i)| *c && !i).collect()
    }

    /// The pixels of the background at least `band` pixels from the people and from what they
    /// hold.
    pub fn background_core(&self, band: usize) -> Vec<bool> {
        let outside: Vec<bool> = self.person.iter().map(|p| !p).collect();
        let core = erode(&outside, self.size, band);
        let ignore = dilate(&self.ignore, self.size, band);
        core.iter().zip(&ignore).map(|(c, i)| *c && !i).collect()
    }
}

fn polygon(v: &serde_json::Value) -> Vec<(f64, f64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// Even-odd rule.
fn inside(polygon: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut hit = false;
    for (i, &(x1, y1)) in polygon.iter().enumerate() {
        let (x0, y0) = polygon[(i + polygon.len() - 1) % polygon.len()];
        if (y0 > y) != (y1 > y) && x < x0 + (y - y0) * (x1 - x0) / (y1 - y0) {
            hit = !hit;
        }
    }
    hit
}

/// The pixels whose whole (2·`band`+1)² square (clipped to the picture) is set.
fn erode(mask: &[bool], (w, h): (usize, usize), band: usize) -> Vec<bool> {
    // An integral image of the set pixels.
    let mut sum = vec![0usize; (w + 1) * (h + 1)];
    for y in 0..h {
        for x in 0..w {
            sum[(y + 1) * (w + 1) + x + 1] = usize::from(mask[y * w + x])
                + sum[y * (w + 1) + x + 1]
                + sum[(y + 1) * (w + 1) + x]
                - sum[y * (w + 1) + x];
        }
    }
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let (x0, x1) = (x.saturating_sub(band), (x + band + 1).min(w));
            let (y0, y1) = (y.saturating_sub(band), (y + band + 1).min(h));
            let set = sum[y1 * (w + 1) + x1] + sum[y0 * (w + 1) + x0]
                - sum[y0 * (w + 1) + x1]
                - sum[y1 * (w + 1) + x0];
            set == (x1 - x0) * (y1 - y0)
        })
        .collect()
}

fn dilate(mask: &[bool], size: (usize, usize), band: usize) -> Vec<bool> {
    let outside: Vec<bool> = mask.iter().map(|m| !m).collect();
    erode(&outside, size, band).iter().map(|o| !o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygons_rasterise_and_bands_shrink_them() {
        let truth = GroundTruth::load("astronaut.jpg", 512, 512);
        let count = |m: &[bool]| m.iter().filter(|b| **b).count();
        let person = count(&truth.person);
        // The astronaut fills about 40 % of the picture; her core is smaller, and the background
        // core is neither person nor near it.
        assert!(person > 80_000 && person < 140_000, "{person}");
        assert!(count(&truth.person_core(16)) < count(&truth.person_core(8)));
        assert!(count(&truth.person_core(8)) < person);
        let core = truth.background_core(8);
        assert!(core.iter().zip(&truth.person).all(|(c, p)| !(*c && *p)));
        assert!(count(&core) > 80_000);
    }
}
