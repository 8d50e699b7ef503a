#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive a running OBS Studio through its built-in websocket API (obs-websocket 5)
and check that a Media Source playing the stylised stream shows stylised frames.

    obs_check.py --url srt://127.0.0.1:8888 --out docs/obs-media-source.png

Creates the scene `adainstyle` with a Media Source (`ffmpeg_source`, not a local
file, input format mpegts) playing --url, then asks OBS for screenshots of that
source (GetSourceScreenshot) until one shows a picture (a source that plays
nothing gives an empty or black one) and, with --reference (the unstylised
input), one that differs from it by more than --min-diff 8-bit levels on
average: stylised, not passed through. Saves that screenshot, prints its figures
as JSON and exits 0; exits 1 when none shows within --timeout seconds.

Needs websockets and Pillow (scripts/obs-check.sh installs them into the venv).
"""

import argparse
import asyncio
import base64
import io
import json
import sys
import time

import websockets
from PIL import Image, ImageChops, ImageStat

SOURCE = "Stylised stream"
SCENE = "adainstyle"


class Obs:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    @classmethod
    async def connect(cls, port, deadline):
        while True:
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{port}", max_size=64 << 20)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("OBS's websocket server never answered")
                await asyncio.sleep(1)
        hello = json.loads(await ws.recv())
        if hello["op"] != 0 or "authentication" in hello["d"]:
            raise SystemExit(f"unexpected Hello (authentication on?): {hello}")
        await ws.send(json.dumps({"op": 1, "d": {"rpcVersion": 1, "eventSubscriptions": 0}}))
        identified = json.loads(await ws.recv())
        if identified["op"] != 2:
            raise SystemExit(f"not identified: {identified}")
        return cls(ws)

    async def request(self, kind, data=None):
        self.next_id += 1
        rid = str(self.next_id)
        await self.ws.send(json.dumps(
            {"op": 6, "d": {"requestType": kind, "requestId": rid, "requestData": data or {}}}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["op"] == 7 and msg["d"]["requestId"] == rid:
                return msg["d"]["requestStatus"], msg["d"].get("responseData", {})


async def run(args):
    deadline = time.monotonic() + args.timeout
    obs = await Obs.connect(args.port, deadline)
    status, version = await obs.request("GetVersion")
    print(f"OBS {version.get('obsVersion')}, obs-websocket {version.get('obsWebSocketVersion')}",
          file=sys.stderr)
    await obs.request("CreateScene", {"sceneName": SCENE})
    await obs.request("SetCurrentProgramScene", {"sceneName": SCENE})
    status, _ = await obs.request("CreateInput", {
        "sceneName": SCENE,
        "inputName": SOURCE,
        "inputKind": "ffmpeg_source",
        "inputSettings": {
            "is_local_file": False,
            "input": args.url,
            "input_format": "mpegts",
            "restart_on_activate": True,
            "reconnect_delay_sec": 1,
            "buffering_mb": 1,
        },
        "sceneItemEnabled": True,
    })
    if not status["result"] and status.get("code") != 601:  # 601: already exists
        raise SystemExit(f"CreateInput failed: {status}")
    reference = Image.open(args.reference).convert("RGB") if args.reference else None
    last = None
    while time.monotonic() < deadline:
        status, shot = await obs.request("GetSourceScreenshot", {
            "sourceName": SOURCE, "imageFormat": "png", "imageWidth": args.width})
        if status["result"]:
            data = shot["imageData"].split(",", 1)[1]
            image = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
            stat = ImageStat.Stat(image)
            mean = sum(stat.mean) / 3
            spread = sum(stat.stddev) / 3
            diff = None
            if reference is not None:
                ref = reference.resize(image.size, Image.BILINEAR)
                diff = sum(ImageStat.Stat(ImageChops.difference(image, ref)).mean) / 3
            last = {"width": image.width, "height": image.height, "mean": round(mean, 1),
                    "stddev": round(spread, 1),
                    "diff_from_input": None if diff is None else round(diff, 1)}
            if mean > 20 and spread > 10 and (diff is None or diff > args.min_diff):
                image.save(args.out)
                print(json.dumps({"ok": True, **last, "saved": args.out}))
                await obs.ws.close()
                return 0
        await asyncio.sleep(1)
    print(json.dumps({"ok": False, "last": last}))
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, default=4455)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--reference", help="the unstylised input picture")
    ap.add_argument("--min-diff", type=float, default=20)
    sys.exit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
