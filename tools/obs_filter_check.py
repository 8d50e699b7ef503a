#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive a running OBS Studio (obs-websocket 5) and check the "Style transfer (adainstyle)"
filter of the adainstyle-obs module: scripts/obs-filter-check.sh starts OBS headless with the
module in a private plugin folder and runs this.

    obs_filter_check.py --port P --photo PHOTO.png --reference STYLED.png --other-style S.jpg \\
        --clip CLIP.mpg --log-dir DIR [--window-shot docs/obs-filter.png] [--stats-photo P720.png]

Checks, each a failure when it does not hold within --timeout seconds:
1. OBS knows the filter kind `adainstyle_filter`;
2. on an image source (PHOTO) the filter's output is stylised: far from the photo and close to
   REFERENCE (the library's output for the same picture and settings, from stylize-image);
3. alpha 0 gives the photo back (the network's reconstruction: close to it);
4. another style changes the picture;
5. a missing style file leaves the frames unchanged and OBS's log names the file;
6. on a media source playing CLIP (paused), the filter's output differs from the unfiltered one;
7. disabling and enabling the filter, removing the filters, and deleting the media source
   with its filter running leave OBS answering.
Then, with --quit, closes OBS's main window as a user would (WM_DELETE_WINDOW, through X) so
that the caller can check OBS ends cleanly.
With --window-shot, opens the filters dialog and saves a picture of OBS's window (Xvfb display
$DISPLAY). With --stats-photo (a 1280x720 picture), prints OBS's render time and skipped frames
without and with the filter, per network. Prints JSON figures; exits 1 on the first failure.
"""

import argparse
import asyncio
import base64
import io
import json
import os
import sys
import time
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from obs_check import Obs  # noqa: E402

SCENE = "adainstyle-filter"
KIND = "adainstyle_filter"


def mean_diff(a, b):
    b = b.resize(a.size, Image.BILINEAR)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


class Check:
    def __init__(self, obs, args):
        self.obs, self.args, self.figures = obs, args, {}

    async def ok(self, kind, data=None):
        status, response = await self.obs.request(kind, data)
        if not status["result"]:
            raise SystemExit(f"{kind} failed: {status}")
        return response

    async def shot(self, source, width=512):
        while True:
            status, shot = await self.obs.request("GetSourceScreenshot", {
                "sourceName": source, "imageFormat": "png", "imageWidth": width})
            if status["result"]:
                data = shot["imageData"].split(",", 1)[1]
                return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
            await asyncio.sleep(0.5)

    async def until(self, what, source, test, timeout=None):
        """Screenshots of `source` until `test(image)` is true; the image."""
        deadline = time.monotonic() + (timeout or self.args.timeout)
        last = None
        while time.monotonic() < deadline:
            image = await self.shot(source)
            ok, last = test(image)
            if ok:
                print(f"ok: {what} ({last})", file=sys.stderr)
                return image
            await asyncio.sleep(1)
        if os.environ.get("OBS_CHECK_DEBUG"):
            image.save(os.path.join(os.environ["OBS_CHECK_DEBUG"], "last.png"))
        raise SystemExit(f"FAILED: {what} (last: {last})")

    async def run(self):
        a = self.args
        await self.ok("CreateScene", {"sceneName": SCENE})
        await self.ok("SetCurrentProgramScene", {"sceneName": SCENE})
        photo = Image.open(a.photo).convert("RGB")
        reference = Image.open(a.reference).convert("RGB")
        await self.ok("CreateInput", {"sceneName": SCENE, "inputName": "Photo",
                                      "inputKind": "image_source",
                                      "inputSettings": {"file": str(Path(a.photo).resolve())}})
        plain = await self.until("the photo shows", "Photo",
                                 lambda im: (mean_diff(im, photo) < 3, mean_diff(im, photo)))
        settings = {"model": "lite", "temporal-smoothing": 0.0}
        # Fails unless OBS knows the filter kind (obs-websocket 5.1 cannot list them).
        await self.ok("CreateSourceFilter", {"sourceName": "Photo", "filterName": "Style",
                                             "filterKind": KIND, "filterSettings": settings})
        print("ok: the filter kind is registered", file=sys.stderr)

        def stylised(im):
            far, near = mean_diff(im, plain), mean_diff(im, reference)
            return far > 20 and near < far / 3, {"from_photo": round(far, 1),
                                                 "from_library": round(near, 1)}
        styled = await self.until("stylised like the library's output", "Photo", stylised)
        self.figures["stylised"] = stylised(styled)[1]

        await self.ok("SetSourceFilterSettings", {"sourceName": "Photo", "filterName": "Style",
                                                  "filterSettings": {"alpha": 0.0}})
        # The network's reconstruction of the photo: close to it, far closer than the style.
        limit = min(15.0, self.figures["stylised"]["from_photo"] / 2)
        back = await self.until("alpha 0 gives the photo back", "Photo",
                                lambda im: (mean_diff(im, plain) < limit,
                                            round(mean_diff(im, plain), 1)))
        self.figures["alpha0_from_photo"] = round(mean_diff(back, plain), 1)

        await self.ok("SetSourceFilterSettings", {"sourceName": "Photo", "filterName": "Style",
                                                  "filterSettings": {"alpha": 1.0,
                                                                     "style": a.other_style}})
        other = await self.until("another style changes the picture", "Photo",
                                 lambda im: (mean_diff(im, styled) > 10 and
                                             mean_diff(im, plain) > 20,
                                             round(mean_diff(im, styled), 1)))
        self.figures["other_style_from_first"] = round(mean_diff(other, styled), 1)

        missing = "/nonexistent-adainstyle/missing-style.jpg"
        await self.ok("CreateInput", {"sceneName": SCENE, "inputName": "Photo 2",
                                      "inputKind": "image_source",
                                      "inputSettings": {"file": str(Path(a.photo).resolve())}})
        await self.ok("CreateSourceFilter", {"sourceName": "Photo 2", "filterName": "Style",
                                             "filterKind": KIND,
                                             "filterSettings": {"style": missing,
                                                                "model": "lite"}})
        await asyncio.sleep(5)
        unchanged = await self.shot("Photo 2")
        if mean_diff(unchanged, plain) > 3:
            raise SystemExit(f"FAILED: with a missing style the frames changed "
                             f"({mean_diff(unchanged, plain):.1f})")
        logs = "".join(p.read_text(errors="replace") for p in Path(a.log_dir).glob("*.txt"))
        lines = [l for l in logs.splitlines() if "missing-style.jpg" in l and "adainstyle" in l]
        if not lines:
            raise SystemExit("FAILED: OBS's log does not name the missing style")
        print(f"ok: a missing style passes frames through and is logged: {lines[0]}",
              file=sys.stderr)
        self.figures["missing_style_log"] = lines[0].strip()

        if a.window_shot:
            await self.window_shot(a.window_shot)

        await self.ok("CreateInput", {"sceneName": SCENE, "inputName": "Clip",
                                      "inputKind": "ffmpeg_source",
                                      "inputSettings": {"local_file": str(Path(a.clip).resolve()),
                                                        "is_local_file": True, "looping": True}})
        await asyncio.sleep(3)
        await self.ok("TriggerMediaInputAction", {
            "inputName": "Clip", "mediaAction": "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_PAUSE"})
        await asyncio.sleep(1)
        still = await self.until("the clip shows", "Clip",
                                 lambda im: (ImageStat.Stat(im).stddev[0] > 10, "picture"))
        await self.ok("CreateSourceFilter", {"sourceName": "Clip", "filterName": "Style",
                                             "filterKind": KIND, "filterSettings": settings})
        clip = await self.until("the media source is stylised", "Clip",
                                lambda im: (mean_diff(im, still) > 20,
                                            round(mean_diff(im, still), 1)))
        self.figures["clip_from_unfiltered"] = round(mean_diff(clip, still), 1)

        await self.ok("SetSourceFilterEnabled", {"sourceName": "Photo", "filterName": "Style",
                                                 "filterEnabled": False})
        await self.until("disabled, the filter passes the photo", "Photo",
                         lambda im: (mean_diff(im, plain) < 3, round(mean_diff(im, plain), 1)))
        await self.ok("SetSourceFilterEnabled", {"sourceName": "Photo", "filterName": "Style",
                                                 "filterEnabled": True})
        await self.until("enabled again, it stylises", "Photo",
                         lambda im: (mean_diff(im, plain) > 20, round(mean_diff(im, plain), 1)))
        await self.ok("RemoveSourceFilter", {"sourceName": "Photo", "filterName": "Style"})
        await self.ok("RemoveSourceFilter", {"sourceName": "Photo 2", "filterName": "Style"})
        await self.ok("TriggerMediaInputAction", {
            "inputName": "Clip", "mediaAction": "OBS_WEBSOCKET_MEDIA_INPUT_ACTION_PLAY"})
        await self.ok("RemoveInput", {"inputName": "Clip"})
        await asyncio.sleep(2)
        await self.until("after removals the photo shows plain again", "Photo",
                         lambda im: (mean_diff(im, plain) < 3, round(mean_diff(im, plain), 1)))
        await self.ok("GetVersion")
        print("ok: filters removed and a source deleted with its filter running; OBS answers",
              file=sys.stderr)

        if a.stats_photo:
            await self.stats(a.stats_photo)
        print(json.dumps({"ok": True, **self.figures}))
        if a.quit:
            # OBS quits with the network running on a filter.
            await self.ok("CreateSourceFilter", {"sourceName": "Photo", "filterName": "Style",
                                                 "filterKind": KIND, "filterSettings": settings})
            await self.until("stylised before quitting", "Photo",
                             lambda im: (mean_diff(im, plain) > 20,
                                         round(mean_diff(im, plain), 1)))
            quit_obs()

    async def window_shot(self, out):
        from PIL import ImageGrab
        await self.ok("OpenInputFiltersDialog", {"inputName": "Photo"})
        await asyncio.sleep(4)
        image = ImageGrab.grab(xdisplay=os.environ["DISPLAY"])
        image.crop(image.convert("L").point(lambda v: 255 if v else 0).getbbox()).save(out)
        print(f"ok: OBS's window with the filters dialog: {out}", file=sys.stderr)

    async def stats(self, picture):
        """OBS's own figures over 20 s for a 1280x720 picture, without and with the filter."""
        await self.ok("CreateInput", {"sceneName": SCENE, "inputName": "HD",
                                      "inputKind": "image_source",
                                      "inputSettings": {"file": str(Path(picture).resolve())}})
        results = {}
        passing = {"model": "lite", "style": "/nonexistent-adainstyle/missing-style.jpg"}
        for label, settings in (("none", None), ("passing through", passing),
                                ("lite", {"model": "lite"}), ("full", {"model": "full"})):
            model = settings
            if settings:
                await self.ok("CreateSourceFilter", {
                    "sourceName": "HD", "filterName": "Style", "filterKind": KIND,
                    "filterSettings": settings})
                await asyncio.sleep(40 if label == "full" else 20)  # the network starts
            before = await self.ok("GetStats")
            await asyncio.sleep(20)
            after = await self.ok("GetStats")
            frames = after["renderTotalFrames"] - before["renderTotalFrames"]
            skipped = after["renderSkippedFrames"] - before["renderSkippedFrames"]
            results[label] = {"render_ms": round(after["averageFrameRenderTime"], 2),
                              "frames": frames, "render_skipped": skipped,
                              "output_skipped": after["outputSkippedFrames"]
                              - before["outputSkippedFrames"]}
            print(f"stats {label}: {results[label]}", file=sys.stderr)
            if model:
                await self.ok("RemoveSourceFilter", {"sourceName": "HD", "filterName": "Style"})
                await asyncio.sleep(3)
        self.figures["stats_1280x720"] = results


def quit_obs():
    """Asks OBS's main window to close (WM_DELETE_WINDOW), as the window manager does when a
    user closes it."""
    from Xlib import X, display, protocol

    d = display.Display(os.environ["DISPLAY"])
    delete = d.intern_atom("WM_DELETE_WINDOW")
    protocols = d.intern_atom("WM_PROTOCOLS")

    def windows(w):
        yield w
        for child in w.query_tree().children:
            yield from windows(child)
    for w in windows(d.screen().root):
        name = w.get_wm_name() or ""
        if name.startswith("OBS ") and delete in (w.get_wm_protocols() or []):
            event = protocol.event.ClientMessage(window=w, client_type=protocols,
                                                 data=(32, [delete, X.CurrentTime, 0, 0, 0]))
            w.send_event(event, event_mask=X.NoEventMask)
            d.flush()
            print(f"asked OBS's window \"{name}\" to close", file=sys.stderr)
            return
    raise SystemExit("FAILED: OBS's main window not found")


async def main(args):
    obs = await Obs.connect(args.port, time.monotonic() + args.timeout)
    try:
        await Check(obs, args).run()
    finally:
        await obs.ws.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--other-style", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--log-dir", required=True)
    ap.add_argument("--window-shot")
    ap.add_argument("--stats-photo")
    ap.add_argument("--quit", action="store_true", help="close OBS's main window at the end")
    ap.add_argument("--timeout", type=float, default=90)
    asyncio.run(main(ap.parse_args()))
