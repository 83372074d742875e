"""The photo upload endpoint (``POST /api/v1/visits/<id>/photos``) against a real server:
its p50/p95 for single uploads one after the other, and under 4 concurrent uploads, side
by side (the ratio is the result; absolute times are noisy on this machine).

Each upload is a 12-megapixel JPEG (4000x3000, with GPS and camera EXIF, ~4 MB) sent as
multipart by a visitor who reported the visit: the server decodes it, applies its
orientation, re-encodes it without metadata (graphsvc/uploads.py), encrypts and stores it
(graphsvc/filestore.py) and writes the Photo node and its audit event in one transaction.

The server is ``graphsvc serve`` (gunicorn, ``--workers 2 --threads 2``, as ``make run`` on
this machine) on a local Neo4j instance of the benchmark's own (``benchphotos``, port 7724;
GRAPHSVC_NEO4J_INSTANCE / GRAPHSVC_NEO4J_PORT choose another), wiped and loaded with the
small network of tests/fixtures/small.

    .venv/bin/python bench/photo_upload.py [--single 20] [--concurrent 4] [--per-thread 6]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_ENV = {
    "GRAPHSVC_DATA_KEY": "kbench:" + "B" * 43,
    "GRAPHSVC_SECRET_KEY": "bench-secret-key",
    "GRAPHSVC_AUDIT_JOURNAL_KEY": "J" * 43,
    "GRAPHSVC_AUDIT_CHECKPOINT_KEY": "C" * 43,
    "GRAPHSVC_NEO4J_INSTANCE": "benchphotos",
    "GRAPHSVC_NEO4J_PORT": "7724",
    "GRAPHSVC_NEO4J_HEAP": "512m",
    "GRAPHSVC_NEO4J_PAGECACHE": "128m",
    "GRAPHSVC_RETENTION_AT_START": "0",
    "GRAPHSVC_ALERT_CHECK_SECONDS": "0",
}
for key, value in BENCH_ENV.items():
    os.environ.setdefault(key, value)

from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)

from graphsvc import accounts, importer, neo4j_local, visits  # noqa: E402
from graphsvc.access import Subject  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402

OUT = ROOT / "bench" / "out"
ACTOR = Actor("bench", "admin", "127.0.0.1", "bench")
VISITS = 8  # the visits the uploads go to (at most graphsvc/photos.py MAX_PER_VISIT each)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def photo_12mp() -> bytes:
    """A 4000x3000 JPEG (quality 90) of smooth colours with some grain, with EXIF that the
    server must drop: GPS, camera, date."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(12)
    y, x = np.mgrid[0:3000, 0:4000]
    base = np.stack(((x * 255 // 4000), (y * 255 // 3000), ((x + y) * 255 // 7000)), axis=-1)
    grain = rng.integers(-12, 13, size=base.shape)
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "PhotoCam", "PhotoCam X100", "2026:11:20 10:11:12"
    exif.get_ifd(0x8825).update({1: "N", 2: (37.0, 39.0, 0.0), 3: "E", 4: (127.0, 3.6, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def prepare(settings) -> tuple[str, list[str]]:
    """The small network, minji's token and ``VISITS`` visits she reported today."""
    with Database.connect(settings) as db:
        db.apply_schema()
        db.run_autocommit("wipe_all")
        keyring = load_keyring()
        assert importer.import_folder(db, ROOT / "tests" / "fixtures" / "small", keyring, ACTOR).ok
        accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], "bench password 12345", adopt=True)
        token = accounts.create_token(db, ACTOR, "minji", 1)
        minji = Subject("minji", "visitor", ("서울 노원구",))
        body = {"household_id": "h-001", "visited_on": dt.date.today().isoformat(), "outcome": "met"}
        ids = [visits.report(db, keyring, minji, ACTOR, body).visit_id for _ in range(VISITS)]
        return token, ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server() -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    OUT.mkdir(parents=True, exist_ok=True)
    log = (OUT / "photo_upload-server.log").open("wb")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "graphsvc"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", "2", "--threads", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: see {log.name}")
            time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def upload(port: int, token: str, visit_id: str, photo: bytes) -> float:
    """One upload (multipart, a fresh Idempotency-Key); its seconds. Fails on anything but 201."""
    boundary = secrets.token_hex(16)
    body = b"".join(
        (
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="file"; filename="IMG_0001.jpg"\r\n',
            b"Content-Type: image/jpeg\r\n\r\n",
            photo,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Idempotency-Key": secrets.token_hex(12),
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        started = time.perf_counter()
        conn.request("POST", f"/api/v1/visits/{visit_id}/photos", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != 201:
        raise RuntimeError(f"upload answered {response.status}: {data[:300]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=20, help="uploads one after the other (after 2 to warm up)")
    parser.add_argument("--concurrent", type=int, default=4, help="clients uploading at once")
    parser.add_argument("--per-thread", type=int, default=6, help="uploads by each concurrent client")
    args = parser.parse_args()
    total = 2 + args.single + args.concurrent * args.per_thread
    if total > VISITS * 20:
        parser.error(f"at most {VISITS * 20} uploads in all")

    from dataclasses import replace

    settings = replace(load_settings(), cypher_extra=CYPHER_EXTRA)
    local = settings.local
    started_neo4j = neo4j_local.running_pid(local) is None
    if started_neo4j:
        neo4j_local.install(local, say=lambda m: None)
        neo4j_local.start(local, say=lambda m: None)
    try:
        photo = photo_12mp()
        say(f"photo: 4000x3000 JPEG, {len(photo) / 1e6:.1f} MB")
        token, visit_ids = prepare(settings)
        turn = iter(range(10_000))

        def next_visit() -> str:
            return visit_ids[next(turn) % len(visit_ids)]

        with server() as port:
            for _ in range(2):
                upload(port, token, next_visit(), photo)
            single = [upload(port, token, next_visit(), photo) for _ in range(args.single)]
            together: list[float] = []
            lock = threading.Lock()

            def client() -> None:
                for _ in range(args.per_thread):
                    with lock:
                        vid = next_visit()
                    took = upload(port, token, vid, photo)
                    with lock:
                        together.append(took)

            threads = [threading.Thread(target=client) for _ in range(args.concurrent)]
            wall = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - wall
    finally:
        if started_neo4j:
            neo4j_local.stop(local, say=lambda m: None)

    result = {
        "photo_bytes": len(photo),
        "single": {"n": len(single), "p50_ms": pct(single, 50), "p95_ms": pct(single, 95)},
        "concurrent": {
            "clients": args.concurrent,
            "n": len(together),
            "p50_ms": pct(together, 50),
            "p95_ms": pct(together, 95),
            "uploads_per_s": len(together) / wall,
        },
        "single_uploads_per_s": 1 / statistics.mean(single),
    }
    result["ratio_p50"] = result["concurrent"]["p50_ms"] / result["single"]["p50_ms"]
    result["ratio_p95"] = result["concurrent"]["p95_ms"] / result["single"]["p95_ms"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "photo_upload.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'12 MP JPEG upload':<28}{'n':>4}{'p50 ms':>10}{'p95 ms':>10}{'uploads/s':>11}")
    s, c = result["single"], result["concurrent"]
    rate = result["single_uploads_per_s"]
    print(f"{'one at a time':<28}{s['n']:>4}{s['p50_ms']:>10.0f}{s['p95_ms']:>10.0f}{rate:>11.2f}")
    label = f"{args.concurrent} at once"
    print(f"{label:<28}{c['n']:>4}{c['p50_ms']:>10.0f}{c['p95_ms']:>10.0f}{c['uploads_per_s']:>11.2f}")
    print(f"{'ratio (at once / alone)':<28}{'':>4}{result['ratio_p50']:>10.2f}{result['ratio_p95']:>10.2f}")


if __name__ == "__main__":
    main()
