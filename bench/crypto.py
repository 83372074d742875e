"""What the encrypted-field registry and the bytes API cost (issue 11 §6), side by side.

    .venv/bin/python bench/crypto.py [--rows 100000] [--repeat 5]

No database: the work measured is the CPU's.

1. Records: sealing the identity fields of N people as the importer does before its first
   batch. "inline" is the importer's loop before issue 11 (its own list of fields, each
   field encrypted in place), "encrypt_record" the importer's loop now (the registry,
   crypto.encrypt_record on each row's fields, row.update). Twice: a first import (nothing
   stored) and a re-import of the same rows (each stored token is decrypted and kept).
2. Bytes: Keyring.encrypt_bytes / decrypt_bytes against AES-GCM called directly with the
   same key, nonce size and associated data (no header, no checks) on 1 KiB, 1 MiB and
   20 MiB: what the blob format and its checks add.

Each variant runs --repeat times, alternating; medians. Ratios are new / baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from graphsvc import crypto  # noqa: E402

PERSON = ("legal_name", "phone", "address")


def people(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"p-{i:06d}",
            "code_name": f"들국화-{i}",
            "household_id": f"h-{i // 3:06d}",
            "legal_name": f"김영희 {i}",
            "phone": f"010-{i % 10000:04d}-{i % 7919:04d}",
            "address": f"서울특별시 노원구 상계로 {i % 500}길 {i % 97}, {i % 13}동 {i % 1200}호",
            "_line": i + 2,
        }
        for i in range(n)
    ]


def inline(keyring: crypto.Keyring, rows: list[dict[str, Any]], stored: dict[str, dict[str, Any]]) -> None:
    """The importer's _encrypt_rows body before issue 11, for people."""
    label = "Person"
    for row in rows:
        old = stored.get(row["id"], {})
        for name in PERSON:
            value = row.get(name)
            token = old.get(name)
            if (
                value is not None
                and token
                and not keyring.needs_rotation(token)
                and keyring.decrypt(token, label, row["id"], name) == value
            ):
                row[name] = token
            else:
                row[name] = keyring.encrypt(value, label, row["id"], name)


def registry(keyring: crypto.Keyring, rows: list[dict[str, Any]], stored: dict[str, dict[str, Any]]) -> None:
    """The importer's _encrypt_rows body now, for people."""
    fields = crypto.fields_of("Person")
    for row in rows:
        row.update(
            crypto.encrypt_record(
                keyring, "Person", row["id"], {name: row.get(name) for name in fields}, stored=stored.get(row["id"])
            )
        )


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def records(n: int, repeat: int) -> list[tuple[str, float, float]]:
    keyring = crypto.Keyring.generate("kbench")
    source = people(n)
    sealed = [dict(r) for r in source]
    inline(keyring, sealed, {})
    stored = {r["id"]: {f: r[f] for f in PERSON} for r in sealed}
    out = []
    for case, store in (("first import (nothing stored)", {}), ("re-import (tokens kept)", stored)):
        times: dict[str, list[float]] = {"inline": [], "encrypt_record": []}
        for _ in range(repeat):
            for name, fn in (("inline", inline), ("encrypt_record", registry)):
                rows = [dict(r) for r in source]
                times[name].append(timed(lambda: fn(keyring, rows, store)))
                if store:
                    assert all(rows[i][f] == sealed[i][f] for i in range(0, n, 997) for f in PERSON)
        out.append((case, statistics.median(times["inline"]), statistics.median(times["encrypt_record"])))
    return out


def blobs(repeat: int) -> list[tuple[str, float, float, float, float]]:
    key = os.urandom(32)
    keyring = crypto.Keyring({"kbench": key}, "kbench")
    aead = AESGCM(key)
    place = ("Photo", "ph-000001", "original")
    aad = b"Photo:ph-000001:original"
    out = []
    for label, size, rounds in (("1 KiB", 1024, 2000), ("1 MiB", 1 << 20, 100), ("20 MiB", 20 << 20, 6)):
        data = os.urandom(size)
        nonce = os.urandom(12)
        raw = aead.encrypt(nonce, data, aad)
        blob = keyring.encrypt_bytes(data, *place)
        times: dict[str, list[float]] = {k: [] for k in ("raw_enc", "enc", "raw_dec", "dec")}
        for _ in range(max(repeat, 3)):
            times["raw_enc"].append(timed(lambda: [aead.encrypt(os.urandom(12), data, aad) for _ in range(rounds)]))
            times["enc"].append(timed(lambda: [keyring.encrypt_bytes(data, *place) for _ in range(rounds)]))
            times["raw_dec"].append(timed(lambda: [aead.decrypt(nonce, raw, aad) for _ in range(rounds)]))
            times["dec"].append(timed(lambda: [keyring.decrypt_bytes(blob, *place) for _ in range(rounds)]))
        ms = {k: statistics.median(v) / rounds * 1000 for k, v in times.items()}
        out.append((label, ms["raw_enc"], ms["enc"], ms["raw_dec"], ms["dec"]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(
        f"# bench/crypto.py --rows {args.rows} --repeat {args.repeat}: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"\n1. sealing {args.rows:,} people's identity fields (3 each), medians of {args.repeat}")
    print("| case | inline (before) s | encrypt_record (now) s | ratio |")
    print("|---|---|---|---|")
    for case, before, now in records(args.rows, args.repeat):
        print(f"| {case} | {before:.2f} | {now:.2f} | {now / before:.2f} |")
    print("\n2. bytes: ms per call, AES-GCM alone vs the blob API")
    print(
        "| size | AESGCM.encrypt | encrypt_bytes | ratio | AESGCM.decrypt | decrypt_bytes | ratio | MB/s (enc / dec) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, raw_enc, enc, raw_dec, dec in blobs(args.repeat):
        size_mb = {"1 KiB": 1 / 1024, "1 MiB": 1.0, "20 MiB": 20.0}[label] * 1.048576
        print(
            f"| {label} | {raw_enc:.4f} | {enc:.4f} | {enc / raw_enc:.2f} | {raw_dec:.4f} | {dec:.4f} | "
            f"{dec / raw_dec:.2f} | {size_mb / enc * 1000:,.0f} / {size_mb / dec * 1000:,.0f} |"
        )


if __name__ == "__main__":
    main()
