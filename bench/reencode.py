"""What making an upload harmless costs (issue 16 §4): re-encoding a 12-megapixel photo,
side by side with a plain decode of the same file and with a 2-megapixel photo.

    .venv/bin/python bench/reencode.py [--runs 25]

No database: the work measured is the CPU's. The photos are made here: 4000 x 3000 and
1632 x 1224 pixels of photo-like content (gradients, shapes and sensor-like noise, so that
they compress like a phone's photo), JPEG quality 92, with a phone camera's EXIF (GPS, make,
model, dates), an XMP packet, an IPTC block and a comment (tests/helpers.py); the 12 MP one
once more with EXIF orientation 6 (taken sideways: the pipeline turns it).

For each photo, alternating within every run:
- "decode": ``Image.open`` + ``load()`` (Pillow, the same file): the floor any check by
  decoding pays;
- "walk": the structure walk alone (uploads._structure: markers, polyglot checks);
- "accept": ``uploads.accept`` (walk, full decode, orientation, sRGB, copy of the pixels,
  JPEG encode, the output's check);
- "accept+store": accept, then the file encrypted and written (filestore.staging into a
  temporary state folder, fsync included).
Wall-clock times (p50/p95), and the CPU time of the process (p50) beside them: on a shared
machine the CPU time is the steadier figure.
Then a 3-page PDF receipt rendered (150 dpi) and re-encoded (``accept(allow_pdf=True)``).

p50/p95 over --runs runs (nearest rank), ms; ratios: accept / decode, and 12 MP / 2 MP.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402

from graphsvc import crypto, filestore, uploads  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from tests.helpers import IPTC_MARK, XMP_MARK, camera_exif, jpeg_with_exif, pdf_bytes  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def photo(width: int, height: int, orientation: int | None = None) -> bytes:
    """A photo-like JPEG with a camera's metadata (the EXIF, XMP, IPTC and comment of
    tests/helpers.jpeg_with_exif, spliced onto pixels that compress like a photo's)."""
    base = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base.rotate(90)))
    draw = ImageDraw.Draw(image)
    for n in range(40):
        x, y = (n * 7919) % width, (n * 104729) % height
        draw.ellipse((x, y, x + width // 8, y + height // 8), fill=((n * 50) % 256, (n * 90) % 256, (n * 30) % 256))
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 40) for _ in range(3)])
    image = Image.blend(image, noise, 0.3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=camera_exif(orientation).tobytes())
    pixels = out.getvalue()
    # the metadata segments of the helpers' photo (XMP, IPTC, comment) between SOI and the EXIF
    small = jpeg_with_exif(8, 8)
    end = small.index(b"\xff\xe1", small.index(IPTC_MARK))  # the EXIF segment Pillow wrote
    extra = small[2:end]
    assert XMP_MARK in extra and IPTC_MARK in extra
    return pixels[:2] + extra + pixels[2:]


def decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.load()


def walk(data: bytes) -> None:
    uploads._structure(data, "jpeg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    ring = crypto.Keyring.generate()
    photos = {
        "12 MP": photo(4000, 3000),
        "12 MP, orientation 6": photo(4000, 3000, orientation=6),
        "2 MP": photo(1632, 1224),
    }
    receipt = pdf_bytes(3, 595, 842)  # A4 pages
    with tempfile.TemporaryDirectory() as state:
        settings = load_settings({"GRAPHSVC_STATE_DIR": state})

        def store(data: bytes) -> None:
            cleans = uploads.accept(data)
            with filestore.staging(settings, ring) as stage:
                for clean in cleans:
                    stage.put(clean.data, kind="Photo", record_id="ph-bench")

        cases: list[tuple[str, str, Callable[[bytes], object], bytes]] = []
        for name, data in photos.items():
            cases += [
                (name, "decode", decode, data),
                (name, "walk", walk, data),
                (name, "accept", uploads.accept, data),
                (name, "accept+store", store, data),
            ]
        cases.append(("PDF, 3 A4 pages", "accept", lambda d: uploads.accept(d, allow_pdf=True), receipt))
        times: dict[tuple[str, str], list[float]] = {(n, k): [] for n, k, _, _ in cases}
        cpu: dict[tuple[str, str], list[float]] = {(n, k): [] for n, k, _, _ in cases}
        for case in cases:  # once each before timing: imports, caches
            case[2](case[3])
        for _ in range(args.runs):
            for name, kind, work, data in cases:
                started, started_cpu = time.perf_counter(), time.process_time()
                work(data)
                times[(name, kind)].append(time.perf_counter() - started)
                cpu[(name, kind)].append(time.process_time() - started_cpu)
    out_sizes = {name: len(uploads.accept(data)[0].data) for name, data in photos.items()}
    print(
        f"# bench/reencode.py: {args.runs} runs, alternating; Python {platform.python_version()}, "
        f"Pillow {Image.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| photo | file MB | out MB | decode p50 / p95 | walk p50 / p95 | accept p50 / p95 | "
        "accept+store p50 / p95 | accept / decode (p50, p95) | CPU p50: decode / accept (ratio) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, data in photos.items():
        row = [name, f"{len(data) / 1e6:.2f}", f"{out_sizes[name] / 1e6:.2f}"]
        for kind in ("decode", "walk", "accept", "accept+store"):
            values = times[(name, kind)]
            row.append(f"{pct(values, 50):.1f} / {pct(values, 95):.1f}")
        dec, acc = times[(name, "decode")], times[(name, "accept")]
        row.append(f"{pct(acc, 50) / pct(dec, 50):.2f} / {pct(acc, 95) / pct(dec, 95):.2f}")
        cdec, cacc = pct(cpu[(name, "decode")], 50), pct(cpu[(name, "accept")], 50)
        row.append(f"{cdec:.1f} / {cacc:.1f} ({cacc / cdec:.2f})")
        print("| " + " | ".join(row) + " |")
    big, small = times[("12 MP", "accept")], times[("2 MP", "accept")]
    print(
        f"\n12 MP / 2 MP accept: p50 {pct(big, 50) / pct(small, 50):.2f}, p95 {pct(big, 95) / pct(small, 95):.2f} "
        f"(pixels: {4000 * 3000 / (1632 * 1224):.2f})"
    )
    pdf = times[("PDF, 3 A4 pages", "accept")]
    print(
        f"PDF receipt, 3 A4 pages rendered at 150 dpi and re-encoded: p50 {pct(pdf, 50):.1f} ms, "
        f"p95 {pct(pdf, 95):.1f} ms ({len(receipt) / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
