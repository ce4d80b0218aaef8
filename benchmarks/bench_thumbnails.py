"""Thumbnails of huge images stay cheap: time and peak memory of one thumbnail at the pixel cap.

Writes an 8000 x 8000 PNG and JPEG (noise over a gradient, so neither compresses to nothing)
into a temporary folder, then makes one 112 px thumbnail of each in a fresh subprocess and reports
the wall and CPU time and the peak RSS above the process's baseline (``VmHWM`` of
``/proc/self/status``), median of ``--repeats`` subprocesses (CPU time is the steadier figure on a
shared machine). Run it once with this checkout's library and once with
another on ``PYTHONPATH`` to compare two versions side by side::

    .venv/bin/python benchmarks/bench_thumbnails.py
    PYTHONPATH=/path/to/other/lib .venv/bin/python benchmarks/bench_thumbnails.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
from labelnext import thumbnails
import PIL.PngImagePlugin, PIL.JpegImagePlugin  # imported before the baseline is read
base = hwm()
started, cpu = time.perf_counter(), time.process_time()
out = thumbnails.thumbnail(Path(sys.argv[1]), size=int(sys.argv[2]), home=sys.argv[3])
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "peak_mb": (hwm() - base) / 2**20,
                  "lib": thumbnails.__file__, "out": str(out)}))
"""


def make_images(folder: Path, side: int) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, side, dtype=np.float32)
    pixels = np.empty((side, side, 3), dtype=np.uint8)
    for start in range(0, side, 1000):  # in strips: the whole float image would be 770 MB
        stop = min(side, start + 1000)
        noise = rng.integers(0, 55, size=(stop - start, side, 3), dtype=np.uint8)
        pixels[start:stop] = (ramp[None, :, None] + noise).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    paths = {"png": folder / "huge.png", "jpeg": folder / "huge.jpg"}
    image.save(paths["png"], compress_level=1)
    image.save(paths["jpeg"], quality=85)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--size", type=int, default=112, help="thumbnail side")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_images(folder, args.side)
        print(
            f"| {args.side}x{args.side} | wall ms (median) | CPU ms (median) | peak extra RSS MB |"
        )
        print("|---|---:|---:|---:|")
        lib = ""
        for kind, path in paths.items():
            runs = []
            for i in range(args.repeats):
                home = folder / f"home-{kind}-{i}"  # a fresh cache: every run makes the file
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), str(args.size), str(home)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=os.environ.copy(),
                )
                runs.append(json.loads(out.stdout))
            lib = runs[0]["lib"]
            ms = statistics.median(r["ms"] for r in runs)
            cpu = statistics.median(r["cpu_ms"] for r in runs)
            mb = statistics.median(r["peak_mb"] for r in runs)
            print(f"| {kind} | {ms:,.0f} | {cpu:,.0f} | {mb:,.0f} |")
        print(f"\nlibrary: {lib}")


if __name__ == "__main__":
    main()
