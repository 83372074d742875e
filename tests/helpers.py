"""What many tests need: signing in through the pages, API clients with tokens, reading the
audit log, the small network with accounts. Fixtures built on these live in conftest.py;
test modules import helpers from here, never from one another."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp

from graphsvc import accounts, audit, crypto, csvio, exporter, importer, suggest
from graphsvc.config import DEFAULT_PORTS
from graphsvc.model import Actor

PASSWORD = "correct horse battery"
TOTP_SECRET = pyotp.random_base32()
ACTOR = Actor("tester", "admin", "127.0.0.1", "pytest")


FIXTURES = Path(__file__).parent / "fixtures"
# Another instance name and port let two test runs go on at once without wiping each other.
TEST_INSTANCE = os.environ.get("GRAPHSVC_TEST_INSTANCE", "test")
TEST_PORT = int(os.environ.get("GRAPHSVC_TEST_NEO4J_PORT") or DEFAULT_PORTS["test"])


# The statements of the tests (tests/cypher: wipe_all, snapshot, test_*) and of the
# benchmarks (bench/cypher: the audit fixtures), loaded besides the application's own
# (graphsvc/cypher) by every Database the tests connect through `settings`.
CYPHER_EXTRA = (Path(__file__).parent / "cypher", Path(__file__).parent.parent / "bench" / "cypher")


def test_env() -> dict[str, str]:
    """The environment that makes graphsvc (library, CLI, web app) use the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_") and not k.startswith("GRAPHSVC_NEO4J")}
    if os.environ.get("GRAPHSVC_TEST_NEO4J_URI"):
        env["NEO4J_URI"] = os.environ["GRAPHSVC_TEST_NEO4J_URI"]
        env["NEO4J_USER"] = os.environ.get("GRAPHSVC_TEST_NEO4J_USER", "neo4j")
        env["NEO4J_PASSWORD"] = os.environ.get("GRAPHSVC_TEST_NEO4J_PASSWORD", "")
    else:
        env["GRAPHSVC_NEO4J_INSTANCE"] = TEST_INSTANCE
        env["GRAPHSVC_NEO4J_PORT"] = str(TEST_PORT)
        env["GRAPHSVC_NEO4J_HEAP"] = os.environ.get("GRAPHSVC_TEST_NEO4J_HEAP", "384m")
        env["GRAPHSVC_NEO4J_PAGECACHE"] = os.environ.get("GRAPHSVC_TEST_NEO4J_PAGECACHE", "128m")
    # no background evaluation of the alert rules (web/alerts.py): a thread of one test's app
    # must not raise alerts in the next test's database (tests/test_alerts_web.py turns it on)
    env.setdefault("GRAPHSVC_ALERT_CHECK_SECONDS", "0")
    return env


# A second local instance of the tests' own, for tests that kill, wipe or restore a server
# (conftest.py `spare_settings`): never the suite's own database.
SPARE_INSTANCE = TEST_INSTANCE + "-spare"
SPARE_PORT = TEST_PORT + 100


def spare_env() -> dict[str, str]:
    """The environment of a CLI or web process on the spare instance."""
    env = test_env()
    env.pop("NEO4J_URI", None)
    env["GRAPHSVC_NEO4J_INSTANCE"] = SPARE_INSTANCE
    env["GRAPHSVC_NEO4J_PORT"] = str(SPARE_PORT)
    env.setdefault("GRAPHSVC_NEO4J_HEAP", "384m")
    env.setdefault("GRAPHSVC_NEO4J_PAGECACHE", "128m")
    return env


def kill_neo4j(local) -> None:
    """``kill -9`` a local instance's server (a crash, not a shutdown) and wait until it is gone."""
    import signal
    import time

    from graphsvc import neo4j_local

    pid = neo4j_local.running_pid(local)
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while neo4j_local.running_pid(local) is not None and time.monotonic() < deadline:
        neo4j_local._reap(pid)
        time.sleep(0.1)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(env: dict[str, str], log_path: Path, *args: str) -> Iterator[str]:
    """`graphsvc serve` (gunicorn, one worker unless ``args`` say otherwise) with ``env``, on
    a free loopback port, its output in ``log_path``; yields the URL once /readyz answers 200,
    and stops it (its whole process group) at the end."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    import pytest

    port = free_port()
    graphsvc = Path(sys.executable).with_name("graphsvc")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(graphsvc), "serve", "--host", "127.0.0.1", "--port", str(port), *(args or ("--workers", "1"))],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not serve:\n" + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def empty(db) -> None:
    """Wipe the database and its audit journal. Events an earlier test left in the journal
    are shipped first (or dropped when that test broke the chain), so that no shipper
    thread of an earlier test's app can deliver them into this test's log."""
    try:
        audit.flush(db)
    except audit.AuditError:
        pass
    with db.journal.shipping():
        db.run_autocommit("wipe_all")
        if db.journal.path.exists():
            os.truncate(db.journal.path, 0)


def keyring() -> crypto.Keyring:
    """The tests' fixed keys (tests/conftest.py sets GRAPHSVC_DATA_KEY before anything runs)."""
    return crypto.load_keyring()


def import_folder(db, folder, **kw):
    """The importer with the tests' keys and actor."""
    return importer.import_folder(db, folder, keyring(), ACTOR, **kw)


def export_folder(db, folder, **kw):
    """The exporter with the tests' keys and actor."""
    return exporter.export_folder(db, folder, keyring(), ACTOR, **kw)


def rewrite(folder: Path, name: str, edit) -> None:
    """Apply ``edit(rows)`` to the rows (lists of strings, header first) of one file, keeping BOM or not."""
    path = folder / f"{name}.csv"
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    edit(rows)
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def append(folder: Path, name: str, *rows: list[str]) -> None:
    rewrite(folder, name, lambda existing: existing.extend(rows))


def snapshot(db, decrypt: bool = False) -> dict:
    """Everything the graph holds (the audit log aside), by stable ids: for 'nothing changed'
    comparisons. With ``decrypt``, encrypted fields are compared by their plaintext (an
    export → import round trip re-encrypts them with new nonces)."""
    state = db.read("snapshot")[0]
    if decrypt:
        ring = keyring()
        for labels, props in state["nodes"]:
            key = props.get("id") or props.get("username")
            for name, value in props.items():
                if crypto.is_encrypted(value):
                    props[name] = ring.decrypt(value, labels[0], key, name)
    return state


def import_small(db, folder, keyring) -> None:
    """The small network (tests/fixtures/small) with an account per role: admin, coord
    (노원구), yeon (양천구), minji (a visitor of 노원구); admins and coordinators have TOTP."""
    assert importer.import_folder(db, folder, keyring, ACTOR).ok
    # the fixture's users.csv has admin, coord and minji without passwords: adopt them
    accounts.add_user(db, ACTOR, "admin", "admin", [], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "coord", "coordinator", ["서울 노원구"], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "minji", "visitor", ["서울 노원구"], PASSWORD, adopt=True)
    accounts.add_user(db, ACTOR, "yeon", "coordinator", ["서울 양천구"], PASSWORD)
    for name in ("admin", "coord", "yeon"):
        accounts.set_totp(db, ACTOR, name, keyring.encrypt(TOTP_SECRET, "User", name, "totp_secret"), True)


def csrf(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


def sign_in(client, username: str, password: str = PASSWORD, totp: bool = True):
    for _ in range(3):  # a starved machine may answer 503 past the request deadline (graphsvc/waits.py)
        response = _sign_in(client, username, password, totp)
        if response.status_code != 503:
            break
        time.sleep(1)
    return response


def _sign_in(client, username: str, password: str, totp: bool):
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(client)})
    if response.status_code == 302 and "/login/totp" in response.headers["Location"] and totp:
        token = csrf(client, "/login/totp")
        response = client.post("/login/totp", data={"code": pyotp.TOTP(TOTP_SECRET).now(), "csrf_token": token})
    return response


def app_db(app):
    from web.neo import get_db

    with app.app_context():
        return get_db()


def api(app, username: str, days: int = 1) -> Callable[..., Any]:
    """A client of the JSON API with a fresh token of ``username``:
    ``call(path)`` GETs, ``call(path, method="POST", json=…)`` sends."""
    token = accounts.create_token(app_db(app), ACTOR, username, days)
    client = app.test_client()

    def call(path: str, method: str = "GET", **kw):
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return client.open(path, method=method, headers=headers, **kw)

    return call


def events(db, **filters) -> list[dict]:
    return audit.query(db, **filters)


# --- networks built by hand (tests/test_suggest.py and others) ------------------------

TODAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
A, B = "서울 노원구", "서울 양천구"


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


class Net:
    """A network under construction: households with one member each (``<id>.1``)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, str]]] = {name: [] for name in csvio.TABLES}
        self.visits = 0

    def user(self, username: str, districts=(A,), gender: str = "", person: str = "") -> None:
        self.tables["users"].append(
            {
                "username": username,
                "role": "visitor",
                "districts": ";".join(districts),
                "person_id": person,
                "gender": gender,
            }
        )

    def household(
        self,
        hid: str,
        district: str = A,
        arrived: dt.date | None = ago(3000),
        status: str = "active",
        women_only: bool = False,
        code_name: str | None = None,
    ) -> str:
        self.tables["households"].append(
            {
                "id": hid,
                "code": hid.upper(),
                "district": district,
                "arrived_on": arrived.isoformat() if arrived else "",
                "status": status,
                "women_only": "true" if women_only else "",
            }
        )
        person = f"{hid}.1"
        self.tables["people"].append({"id": person, "code_name": code_name or f"이름-{hid}", "household_id": hid})
        return person

    def intro(self, introducer: str, introduced: str, on: dt.date) -> None:
        self.tables["introductions"].append(
            {
                "introducer_id": introducer,
                "introduced_id": introduced,
                "introduced_on": on.isoformat(),
                "relation": "friend",
            }
        )

    def visit(
        self, hid: str, visitor: str, on: dt.date, outcome: str = "met", follow_up: dt.date | None = None
    ) -> None:
        self.visits += 1
        self.tables["visits"].append(
            {
                "id": f"v-{self.visits:03d}",
                "household_id": hid,
                "visitor": visitor,
                "visited_on": on.isoformat(),
                "outcome": outcome,
                "follow_up_on": follow_up.isoformat() if follow_up else "",
            }
        )

    def load(self, db, folder: Path):
        write(folder, self.tables)
        report = import_folder(db, folder)
        assert report.ok, report.plan.problems[:5]
        suggest.refresh_visit_summary(db)
        return db


def write(folder: Path, tables) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in csvio.TABLES.items():
        csvio.write_table(folder / table.filename, table, tables.get(name, []))


# Debian's Chromium for the browser tests (the `browser` fixture of tests/conftest.py)
CHROMIUM = os.environ.get("GRAPHSVC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def past_events(db, *rows: dict) -> None:
    """Audit events with times of a test's choosing, chained after the head as the benchmarks
    insert them (bench/cypher/bench_audit.cypher): ``{"at": datetime, "actor", "action",
    "targets"}``, outcome ``ok`` and role ``visitor`` unless given."""
    audit.flush(db)
    head = db.read("audit_head")
    seq, digest = (head[0]["seq"], head[0]["hash"]) if head else (0, audit.ZERO_HASH)
    sealed = list(
        audit.chain_events([{"outcome": "ok", "role": "visitor", **r} for r in rows], start_seq=seq + 1, prev=digest)
    )
    db.write("bench_audit_insert", rows=sealed)
    db.write("bench_audit_set_head", seq=sealed[-1]["seq"], hash=sealed[-1]["hash"])


# --- visit photos (issue 16 §5: tests/test_photos*.py) -------------------------------------


def drawn_face(size: int = 400, background: int = 120):
    """A face drawn with Pillow (grey levels: hair, skin, brows, eyes, nose shadow, mouth;
    softened) that OpenCV's frontal-face Haar cascade finds: a Pillow "L" image. Not a
    photo of anyone: the tests need a face the detector fires on without a person's picture."""
    from PIL import Image, ImageDraw, ImageFilter

    s = size / 400
    image = Image.new("L", (size, size), background)
    draw = ImageDraw.Draw(image)
    draw.ellipse([90 * s, 40 * s, 310 * s, 250 * s], fill=40)  # hair
    draw.ellipse([110 * s, 70 * s, 290 * s, 330 * s], fill=190)  # face
    for cx in (160, 240):
        draw.ellipse([(cx - 22) * s, 160 * s, (cx + 22) * s, 180 * s], fill=30)  # eyes
        draw.rectangle([(cx - 28) * s, 143 * s, (cx + 28) * s, 151 * s], fill=60)  # brows
    draw.polygon([(200 * s, 180 * s), (185 * s, 245 * s), (215 * s, 245 * s)], fill=165)  # nose
    draw.ellipse([165 * s, 270 * s, 235 * s, 290 * s], fill=90)  # mouth
    return image.filter(ImageFilter.GaussianBlur(4 * s))


def photo_with_face(width: int = 800, height: int = 600, camera: str = "PhotoCam X100") -> bytes:
    """A colourful JPEG with a drawn face (``drawn_face``) at (200, 100), 400 pixels a side,
    and EXIF that must not survive: GPS (37.65 N, 127.06 E), camera make/model, date."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (30, 120, 60))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 40):
        draw.rectangle([i, 0, i + 19, height], fill=(200, 80 + i % 120, 40))
    image.paste(drawn_face(400).convert("RGB"), (200, 100))
    exif = Image.Exif()
    exif[0x010F] = camera.split()[0]  # Make
    exif[0x0110] = camera  # Model
    exif[0x0132] = "2026:11:20 10:11:12"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (37.0, 39.0, 0.0), 3: "E", 4: (127.0, 3.6, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


# --- files with metadata (issue 16: the upload pipeline, graphsvc/uploads.py) ----------------------
# Made in the test: a camera's EXIF (GPS, make/model, dates, orientation), XMP, IPTC and a
# comment in a JPEG; text chunks in a PNG; a PDF with an author. The markers below must not
# come out of the pipeline.
CAMERA_MAKE = "GraphsvcCam"
CAMERA_MODEL = "Leak-9000"
SECRET_TEXT = "북한이탈주민 김영수 서울시 노원구"  # what a metadata block might carry
XMP_MARK = b"<x:xmpmeta"
IPTC_MARK = b"Photoshop 3.0"


def _gradient(width: int, height: int, mode: str = "RGB"):
    """A picture with some content (a smooth gradient and a block), fast to make at any size."""
    from PIL import Image

    base = Image.linear_gradient("L").resize((width, height))
    if mode == "L":
        return base
    other = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = Image.merge("RGB", (base, other, Image.new("L", (width, height), 128)))
    if width >= 4 and height >= 4:
        image.paste((200, 30, 30), (0, 0, max(1, width // 4), max(1, height // 4)))
    return image


def camera_exif(orientation: int | None = None):
    """EXIF of a phone camera: make, model, dates, GPS (Seoul), an orientation if given."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKE  # Make
    exif[0x0110] = CAMERA_MODEL  # Model
    exif[0x0132] = "2026:11:03 14:22:05"  # DateTime
    exif[0x010E] = SECRET_TEXT  # ImageDescription
    if orientation is not None:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769).update({0x9003: "2026:11:03 14:22:05", 0x9004: "2026:11:03 14:22:05"})
    exif.get_ifd(0x8825).update(
        {
            1: "N",
            2: (37.0, 39.0, 14.5),
            3: "E",
            4: (127.0, 3.0, 25.1),
            5: 0,
            6: 42.0,
            0x1D: "2026:11:03",
        }
    )
    return exif


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def jpeg_with_exif(width: int = 64, height: int = 48, orientation: int | None = None, quality: int = 90) -> bytes:
    """A JPEG with GPS, camera (make/model) and date EXIF, an XMP packet, an IPTC block and a
    comment, all naming SECRET_TEXT or the camera."""
    import io

    out = io.BytesIO()
    _gradient(width, height).save(
        out, "JPEG", quality=quality, exif=camera_exif(orientation).tobytes(), comment=SECRET_TEXT.encode()
    )
    data = out.getvalue()
    xmp = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="37,39.24N" '
        b'exif:GPSLongitude="127,3.42E"><dc:description xmlns:dc="http://purl.org/dc/elements/1.1/">'
        + SECRET_TEXT.encode()
        + b'</dc:description></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )
    caption = SECRET_TEXT.encode()
    iptc = b"\x1c\x02\x78" + len(caption).to_bytes(2, "big") + caption  # 2:120 Caption
    resource = b"8BIM\x04\x04\x00\x00" + len(iptc).to_bytes(4, "big") + iptc + (b"\x00" if len(iptc) % 2 else b"")
    extra = _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp) + _segment(0xED, IPTC_MARK + b"\x00" + resource)
    return data[:2] + extra + data[2:]


def png_with_text(width: int = 40, height: int = 30, alpha: bool = False) -> bytes:
    """A PNG with tEXt, zTXt and iTXt chunks (SECRET_TEXT) and EXIF with GPS (an eXIf chunk)."""
    import io

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 37.65N 127.05E")  # tEXt (Latin-1)
    info.add_text("Description", "Seoul Nowon-gu, camera " + CAMERA_MODEL, zip=True)  # zTXt
    info.add_itxt("Author", SECRET_TEXT, lang="ko")  # iTXt
    image = _gradient(width, height)
    if alpha:
        image.putalpha(_gradient(width, height, "L"))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=camera_exif().tobytes())
    return out.getvalue()


def pdf_bytes(pages: int = 2, width: int = 300, height: int = 400) -> bytes:
    """A PDF of ``pages`` pages (images), with an author and a title naming SECRET_TEXT."""
    import io

    from PIL import ImageDraw

    images = []
    for n in range(pages):
        page = _gradient(width, height)
        ImageDraw.Draw(page).rectangle((20, 20 + 10 * n, 120, 60 + 10 * n), fill=(0, 0, 0))
        images.append(page)
    out = io.BytesIO()
    images[0].save(
        out,
        "PDF",
        save_all=True,
        append_images=images[1:],
        resolution=72.0,
        title=SECRET_TEXT,
        author=SECRET_TEXT,
        creator=CAMERA_MODEL,
    )
    return out.getvalue()


# --- partners (issue 16, Seam P) ---------------------------------------------------------


class Partner:
    """A partner account made by ``add_partner``: its ``username`` and ``org``; with an app,
    ``client`` (a test client signed in through the pages, TOTP done) and ``api`` (a JSON
    API caller with a fresh token, as ``api(app, username)``)."""

    def __init__(self, username: str, org: str, client=None, api=None) -> None:
        self.username, self.org, self.client, self.api = username, org, client, api


def add_partner(db, username: str = "hana", org: str = "새희망선교회", app=None, gender: str | None = "f") -> Partner:
    """A partner account of ``org`` (the organisation is made when missing), with the tests'
    PASSWORD and TOTP secret (as coordinators). With ``app``: signed in (``.client``) and
    with an API token (``.api``). The shared ``world`` fixture's accounts stay as they are."""
    from graphsvc import orgs

    if orgs.get_org(db, org) is None:
        orgs.add_org(db, ACTOR, org)
    accounts.add_user(db, ACTOR, username, "partner", [], PASSWORD, gender, org=org)
    accounts.set_totp(db, ACTOR, username, keyring().encrypt(TOTP_SECRET, "User", username, "totp_secret"), True)
    if app is None:
        return Partner(username, org)
    client = app.test_client()
    response = sign_in(client, username)
    assert response.status_code == 302, response.status_code
    return Partner(username, org, client, api(app, username))
