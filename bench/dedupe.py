"""Duplicate scoring of one pending household (graphsvc/dedupe.py) against a district of
100,000 households, side by side with a district of 1,000 and with the naive way (read and
decrypt every identity of the district, compare in Python).

Not a test. Runs against a Neo4j instance of its own (``benchdedupe``, bolt 7741; started
here and stopped at the end only if this script started it), holding
``demo.generate(101000, seed=1, as_of=2026-11-01)`` (loaded when the household count is
wrong) whose households are then put into two districts: the first 1,000 (by id) into
``벤치 소구``, the other 100,000 into ``벤치 대구``.

In each district the run makes ``--pending`` pending households (as a visit brings them
back: one person, introduced by a person of the district) whose people copy what real
duplicates share: a third the phone of a person of the district (written +82 …), a third
the name (with a space, or its parts swapped), a third nothing (a new family). Each is
scored ``--rounds`` times (after one warm-up round); p50/p95/p99 over all. The naive scan
runs ``--naive`` times per district. Everything the run made is deleted at the end (its
audit events stay: the log is append-only).

    .venv/bin/python bench/dedupe.py [--pending 20] [--rounds 10] [--naive 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

from common import connected, ensure_demo, instance_settings, pct, say  # noqa: E402  (bench/common.py)

from graphsvc import access, blindindex, dedupe, households  # noqa: E402
from graphsvc.crypto import Keyring, load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402

AS_OF = dt.date(2026, 11, 1)
SMALL, BIG = 1_000, 100_000
SMALL_DISTRICT, BIG_DISTRICT = "벤치 소구", "벤치 대구"
TARGET_P95_MS = 100.0
ADMIN = access.Subject("bench", "admin")
ACTOR = Actor("bench", "admin", "127.0.0.1", "bench")


def prepare(db: Database) -> str:
    """The demo, in a 1,000- and a 100,000-household district."""
    note = ensure_demo(db, SMALL + BIG, AS_OF)
    sizes = {r["district"]: r["households"] for r in db.read("bench_dedupe_district_sizes")}
    if sizes.get(BIG_DISTRICT) != BIG or sizes.get(SMALL_DISTRICT) != SMALL:
        t0 = time.perf_counter()
        db.write("bench_dedupe_set_districts", small=SMALL, small_district=SMALL_DISTRICT, big_district=BIG_DISTRICT)
        note += f"; districts set in {time.perf_counter() - t0:.0f} s"
    return note


def make_pending(db: Database, keyring: Keyring, district: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` pending households in ``district`` (see the module's docstring): their ids
    and their person's plaintext identity."""
    sample = db.read("bench_dedupe_sample", district=district, n=2 * n)
    made = []
    for i in range(n):
        model, introducer = sample[i], sample[n + i]
        name = keyring.decrypt(model["legal_name"], "Person", model["id"], "legal_name") or ""
        phone = keyring.decrypt(model["phone"], "Person", model["id"], "phone")
        person: dict[str, Any] = {"code_name": f"벤치{i}"}
        if i % 3 == 0 and phone:  # the same phone, written the international way
            person["phone"] = "+82 " + phone.lstrip("0")
            person["legal_name"] = "홍길동"
        elif i % 3 == 1:  # the same name, with a space or its parts swapped
            person["legal_name"] = f"{name[:1]} {name[1:]}" if i % 2 else f"{name[1:]} {name[:1]}"
        else:  # a new family
            person["legal_name"] = f"새가족{i}"
            person["phone"] = f"010-{9000 + i:04d}-{1000 + i:04d}"
        hid = households.create_household(
            db, ADMIN, ACTOR, {"code": f"N-B{i:04d}{district[-2:]}", "district": district, "status": "pending"}
        )
        pid = households.add_person(db, keyring, ADMIN, ACTOR, {"household_id": hid, **person})
        households.set_introducer(db, ADMIN, ACTOR, pid, introducer["id"], AS_OF.isoformat(), "friend")
        made.append((hid, person))
    return made


def time_scoring(db: Database, pending: list[str], rounds: int) -> tuple[list[float], list[int]]:
    for hid in pending:  # warm-up
        dedupe.candidates(db, hid)
    times, found = [], []
    for _ in range(rounds):
        for hid in pending:
            t0 = time.perf_counter()
            result = dedupe.candidates(db, hid)
            times.append(time.perf_counter() - t0)
            found.append(len(result))
    return times, found


def naive(
    db: Database, keyring: Keyring, district: str, household_id: str, person: dict[str, Any]
) -> tuple[float, int]:
    """Decrypt every identity of the district and compare normalised forms in Python (what
    matching would cost without blind indexes): (seconds, matches)."""
    t0 = time.perf_counter()
    forms_me = {k: blindindex.normalise(k, person.get(blindindex.FIELDS[k])) for k in blindindex.FIELDS}
    matches = 0
    for row in db.read("bench_dedupe_naive_read", district=district, household_id=household_id):
        for kind, field in blindindex.FIELDS.items():
            value = keyring.decrypt(row[field], "Person", row["id"], field)
            form = blindindex.normalise(kind, value)
            if form is not None and form == forms_me[kind]:
                matches += 1
    return time.perf_counter() - t0, matches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--naive", type=int, default=3)
    args = parser.parse_args()
    settings = instance_settings("benchdedupe", 7741)
    keyring = load_keyring()
    with connected(settings) as (db, started):
        note = prepare(db)
        say(note)
        made: list[str] = []
        rows = []
        try:
            for district, size in ((SMALL_DISTRICT, SMALL), (BIG_DISTRICT, BIG)):
                pending = make_pending(db, keyring, district, args.pending)
                made += [hid for hid, _ in pending]
                times, found = time_scoring(db, [hid for hid, _ in pending], args.rounds)
                naive_times = []
                for i in range(args.naive):
                    hid, person = pending[i % len(pending)]
                    spent, _ = naive(db, keyring, district, hid, person)
                    naive_times.append(spent)
                rows.append((district, size, times, found, naive_times))
                say(f"{district}: scored {len(times)} times")
        finally:
            if made:
                db.write("bench_dedupe_cleanup", ids=made)
        load = os.getloadavg()
    print(
        f"bench/dedupe.py on {os.uname().nodename} ({os.cpu_count()} cores, Python {sys.version.split()[0]}), "
        f"{time.strftime('%Y-%m-%d %H:%M')}; instance benchdedupe (bolt 7741, heap 1g, page cache 512m, "
        f"{'started by this run' if started else 'already running'}); {note}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    print()
    head = f"{'scoring one pending household':<44} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8}"
    print(head)
    print("-" * len(head))
    for _district, size, times, _found, _ in rows:
        label = f"blind index, district of {size:,} households"
        print(
            f"{label:<44} {len(times):>5} {pct(times, 50):>8.1f} {pct(times, 95):>8.1f} {pct(times, 99):>8.1f} "
            f"{1000 * statistics.mean(times):>8.1f}"
        )
    for _district, size, _, _, naive_times in rows:
        label = f"naive scan (decrypt all), {size:,}"
        print(
            f"{label:<44} {len(naive_times):>5} {pct(naive_times, 50):>8.1f} {pct(naive_times, 95):>8.1f} "
            f"{pct(naive_times, 99):>8.1f} {1000 * statistics.mean(naive_times):>8.1f}"
        )
    print()
    (_, _, small_t, small_found, small_naive), (_, _, big_t, big_found, big_naive) = rows
    big_p95 = pct(big_t, 95)
    print(
        f"candidates found per pending household: 1k {statistics.mean(small_found):.1f}, "
        f"100k {statistics.mean(big_found):.1f} (mean)"
    )
    print(f"p95 100k district / p95 1k district = {big_p95 / pct(small_t, 95):.2f}")
    print(f"naive scan / blind index, 100k district (p50) = {pct(big_naive, 50) / pct(big_t, 50):.0f}x")
    print(f"naive scan / blind index, 1k district (p50) = {pct(small_naive, 50) / pct(small_t, 50):.0f}x")
    verdict = "PASS" if big_p95 < TARGET_P95_MS else "FAIL"
    print(f"p95 in the 100k district = {big_p95:.1f} ms   target < {TARGET_P95_MS:.0f} ms   {verdict}")


if __name__ == "__main__":
    main()
