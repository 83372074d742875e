"""Import and export from the browser (web/transfer.py, graphsvc/transfer.py): the upload's
checks (names, sizes, UTF-8, zip safety), the dry run's counts and file:line problems on the
page, a coordinator's rows limited to their districts, the sealed upload between the dry run
and its confirmation (encrypted, 0600, its uploader's only, gone after), and the admin's
export (redacted unless identity is asked for with a reason, audited)."""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from html import unescape
from pathlib import Path

import pytest

from graphsvc import crypto, importer, transfer

from .helpers import ACTOR, csrf, events, keyring, sign_in, snapshot

# --- a bundle of files ------------------------------------------------------------------------

HOUSEHOLDS = "id,code,district,arrived_on,status\n"
PEOPLE = "id,code_name,household_id,legal_name,phone,address\n"
INTRODUCTIONS = "introducer_id,introduced_id,introduced_on,relation\n"
VISITS = "id,household_id,visitor,visited_on,outcome\n"


def bundle(households: str = "", people: str = "", introductions: str = "", visits: str = "") -> dict[str, bytes]:
    return {
        "households.csv": (HOUSEHOLDS + households).encode(),
        "people.csv": (PEOPLE + people).encode(),
        "introductions.csv": (INTRODUCTIONS + introductions).encode(),
        "visits.csv": (VISITS + visits).encode(),
    }


# A new household of 노원구 with a new member introduced by p-001, and p-002's code name changed.
GOOD = bundle(
    households="h-001,H-001,서울 노원구,2015-03-02,active\nh-100,H-100,서울 노원구,2026-01-05,active\n",
    people="p-100,진달래,h-100,정미숙,010-5555-6666,서울 노원구 공릉로 9\n"
    "p-002,아침별,h-001,박철수,,서울 노원구 상계로 1\n",
    introductions="p-001,p-100,2026-01-04,friend\n",
)


def zipped(files: dict[str, bytes], **extra: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in {**files, **extra}.items():
            archive.writestr(name, data)
    return out.getvalue()


def upload_form(client, files: dict[str, bytes], path: str = "/import") -> dict:
    return {
        "csrf_token": csrf(client, path),
        "files": [(io.BytesIO(data), name) for name, data in files.items()],
    }


def signed_in(app, username: str):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def page_text(response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def token_of(response) -> str:
    return re.search(r'name="token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def uploads_dir(settings) -> Path:
    return settings.state_dir / "imports"


def stored_uploads(settings) -> list[Path]:
    folder = uploads_dir(settings)
    return sorted(folder.glob("*.upload")) if folder.exists() else []


@pytest.fixture(autouse=True)
def no_uploads_left(request):
    """Each test starts without sealed uploads of an earlier one."""
    if "settings" in request.fixturenames:
        for path in stored_uploads(request.getfixturevalue("settings")):
            path.unlink()


# --- reading an upload (no database) ------------------------------------------------------------


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_a_bundle_of_csv_files_or_one_zip_of_them_is_read():
    files, problems = transfer.read_bundle(list(GOOD.items()))
    assert problems == [] and files == GOOD
    # a zip made of a folder ("export/people.csv") reads the same; folders are skipped
    files, problems = transfer.read_bundle([("bundle.zip", zipped({f"export/{n}": d for n, d in GOOD.items()}))])
    assert problems == [] and files == GOOD


@pytest.mark.parametrize(
    ("uploads", "expected"),
    [
        ([], ["no_files"]),
        ([("people.csv", b"id\n"), ("notes.txt", b"x")], ["unknown_file"]),
        ([("people.csv", b"id\n"), ("people.csv", b"id\n")], ["twice"]),
        ([("people.csv", "이름\n".encode("euc-kr"))], ["not_utf8"]),
        ([("people.csv", b"id\x00\x01\x02\n")], ["not_text"]),
        ([("a.zip", b"PK\x03\x04 not really")], ["not_zip"]),
        ([("a.zip", zipped(GOOD)), ("people.csv", b"id\n")], ["zip_alone"]),
        ([("a.zip", zipped({"../people.csv": b"id\n"}))], ["zip_path"]),
        ([("a.zip", zipped({"/etc/people.csv": b"id\n"}))], ["zip_path"]),
        ([("a.zip", zipped({"x/../../people.csv": b"id\n"}))], ["zip_path"]),
        ([("a.zip", zipped(GOOD, **{"readme.txt": b"hello"}))], ["zip_unknown"]),
        ([("a.zip", zipped({f"d{i}/people.csv": b"id\n" for i in range(20)}))], ["zip_members"]),
        ([("a.zip", zipped({"people.csv": b"id\n", "x/people.csv": b"id\n"}))], ["twice"]),
        ([("a.zip", zipped({"people.csv": "이름\n".encode("euc-kr")}))], ["not_utf8"]),
    ],
)
def test_what_cannot_be_imported_is_named(uploads, expected):
    files, problems = transfer.read_bundle(uploads)
    assert codes(problems) == expected and files == {}
    for p in problems:  # every message names the place and formats
        assert p.english()


def test_a_zip_bomb_and_oversized_files_are_refused_without_unpacking(monkeypatch):
    bomb = zipped({"people.csv": b"id\n" + b"a" * (8 * transfer.MB)})
    assert len(bomb) < 100_000
    assert codes(transfer.read_bundle([("bomb.zip", bomb)])[1]) == ["zip_bomb"]
    monkeypatch.setattr(transfer, "MAX_FILE_BYTES", 1000)
    assert codes(transfer.read_bundle([("people.csv", b"id\n" + b"1\n" * 600)])[1]) == ["too_large"]
    assert codes(transfer.read_bundle([("a.zip", zipped({"people.csv": b"id\n" + b"1\n" * 600}))])[1]) == ["too_large"]


def test_a_member_is_never_read_past_its_declared_size():
    data = bytearray(zipped({"people.csv": b"id\n" + b"1\n" * 100}))
    # lie in both headers: the member claims 10 bytes
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    data[22:26] = (10).to_bytes(4, "little")
    files, problems = transfer.read_bundle([("a.zip", bytes(data))])
    assert files == {} and codes(problems) == ["zip_bad"]


def test_a_symlink_member_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("people.csv")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    assert codes(transfer.read_bundle([("a.zip", out.getvalue())])[1]) == ["zip_link"]


# --- the sealed upload (no database) -----------------------------------------------------------


def test_the_upload_is_sealed_private_bound_to_its_owner_and_expires(tmp_path):
    store = transfer.UploadStore(tmp_path / "imports", keyring(), ttl=60)
    upload = store.put("coord", GOOD, now=1000.0)
    [path] = list((tmp_path / "imports").iterdir())
    assert stat.S_IMODE(os.stat(tmp_path / "imports").st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name == f"{upload.token}.upload" and len(upload.token) >= 32
    blob = path.read_bytes()
    assert crypto.is_encrypted_bytes(blob)
    for secret in ("정미숙", "010-5555-6666", "진달래", "p-100", "coord"):
        assert secret.encode() not in blob
    # another user's request neither opens nor removes it
    with pytest.raises(transfer.UploadGone):
        store.take("yeon", upload.token, now=1001.0)
    assert path.exists()
    for bad in ("../../etc/passwd", "", "x" * 10):
        with pytest.raises(transfer.UploadGone):
            store.get("coord", bad)
    assert store.get("coord", upload.token, now=1001.0).files == GOOD
    # expired: gone, and deleted
    with pytest.raises(transfer.UploadGone):
        store.get("coord", upload.token, now=1061.0)
    assert not path.exists()
    # taken once only
    again = store.put("coord", GOOD)
    assert store.take("coord", again.token).files == GOOD
    with pytest.raises(transfer.UploadGone):
        store.take("coord", again.token)
    assert list((tmp_path / "imports").iterdir()) == []


def test_old_uploads_are_swept_by_their_file_time(tmp_path):
    store = transfer.UploadStore(tmp_path / "imports", keyring(), ttl=60)
    old = store.put("coord", GOOD)
    path = tmp_path / "imports" / f"{old.token}.upload"
    os.utime(path, (0, 0))
    store.put("coord", GOOD)  # every put sweeps first
    assert not path.exists() and len(list((tmp_path / "imports").iterdir())) == 1


# --- a coordinator's district scope in the importer ---------------------------------------------


def test_rows_outside_the_coordinators_districts_are_file_line_problems(world, tmp_path):
    files = bundle(
        households="h-100,H-100,서울 노원구,,active\nh-101,H-101,서울 양천구,,active\n"
        "h-003,H-003,서울 노원구,2021-06-15,active\n",  # stored in 양천구: a row may not pull it over
        people="p-100,진달래,h-100,,,\np-004,푸른솔,h-001,,,\np-101,매화,h-003,,,\n",  # p-004 lives in 양천구
        introductions="p-004,p-100,2026-01-01,friend\n",
        visits="v-100,h-003,minji,2026-01-02,met\n",
    )
    before = snapshot(world)
    with transfer.unpacked(files) as folder:
        report = importer.import_folder(world, folder, keyring(), ACTOR, districts=["서울 노원구"])
    problems = [str(p) for p in report.plan.problems]
    assert problems == [
        "households.csv:3: district '서울 양천구' is not one of yours",
        "households.csv:4: household 'h-003' is not in one of your districts: a row may not move it",
        "people.csv:3: person 'p-004' is not in one of your districts: a row may not move them",
        "people.csv:4: household_id 'h-003' is not in one of your districts",
        "introductions.csv:2: introducer_id 'p-004' is not in one of your districts",
        "visits.csv:2: household_id 'h-003' is not in one of your districts",
    ]
    assert not report.written and snapshot(world) == before
    # no district of another is ever named: the stored one (양천구) only where the row gave it
    assert "양천구" not in "".join(problems[1:])
    # an admin's (no scope) import of the same rows is checked by the usual rules only
    with transfer.unpacked(files) as folder:
        assert importer.validate(folder, importer.DatabaseLookup(world)).ok


def test_a_coordinators_problems_never_name_a_record_outside_their_districts(world):
    # H-003 is the code of h-003, stored in 양천구: the problem says it is taken, not by whom
    files = bundle(households="h-200,H-003,서울 노원구,,active\n")
    with transfer.unpacked(files) as folder:
        scoped = importer.validate(folder, importer.DatabaseLookup(world), districts=["서울 노원구"])
        unscoped = importer.validate(folder, importer.DatabaseLookup(world))
    assert [str(p) for p in scoped.problems] == [
        "households.csv:2: code 'H-003' already belongs to household '(someone outside your districts)' in the database"
    ]
    assert "'h-003'" in str(unscoped.problems[0])  # an admin is told which


def test_accounts_are_for_admins_only(world):
    files = {
        **bundle(),
        "users.csv": "username,role,districts\nnewbie,visitor,서울 노원구\n".encode(),
    }
    with transfer.unpacked(files) as folder:
        plan = importer.validate(folder, importer.DatabaseLookup(world), districts=["서울 노원구"])
        assert [str(p) for p in plan.problems] == ["users.csv:2: accounts (users.csv) are imported by admins only"]
        assert importer.validate(folder, importer.DatabaseLookup(world)).ok


def test_counts_of_new_changed_and_unchanged_rows(world, small):
    with transfer.unpacked({p.name: p.read_bytes() for p in small.iterdir()}) as folder:
        plan = importer.validate(folder, importer.DatabaseLookup(world))
    assert plan.ok
    counts = transfer.changes(world, plan, keyring())
    # coord's account was given one district after the import (tests/helpers.py import_small)
    assert counts.pop("users") == {"new": 0, "changed": 1, "unchanged": 3}
    assert all(c["new"] == 0 and c["changed"] == 0 for c in counts.values()), counts
    assert counts["people"]["unchanged"] == 6
    with transfer.unpacked(GOOD) as folder:
        plan = importer.validate(folder, importer.DatabaseLookup(world))
    counts = transfer.changes(world, plan, keyring())
    assert counts["households"] == {"new": 1, "changed": 0, "unchanged": 1}
    assert counts["people"] == {"new": 1, "changed": 1, "unchanged": 0}
    assert counts["introductions"] == {"new": 1, "changed": 0, "unchanged": 0}


# --- the pages --------------------------------------------------------------------------------------


def test_a_coordinator_checks_then_confirms_an_import(app, world, settings):
    client = signed_in(app, "coord")
    assert "/import" in client.get("/?lang=en", follow_redirects=True).get_data(as_text=True)
    page = client.get("/import?lang=en")
    assert page.status_code == 200 and "서울 노원구" in page_text(page)
    before = snapshot(world)
    checked = client.post("/import?lang=en", data=upload_form(client, GOOD), content_type="multipart/form-data")
    text = page_text(checked)
    assert checked.status_code == 200, text
    assert "Checked: ready to import" in text
    counts = checked.get_data(as_text=True)
    assert re.search(r'data-file="households"><td>households.csv</td><td>1</td><td>0</td><td>1</td>', counts)
    assert re.search(r'data-file="people"><td>people.csv</td><td>1</td><td>1</td><td>0</td>', counts)
    assert snapshot(world) == before  # a dry run writes nothing
    [sealed] = stored_uploads(settings)
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert b"\xec\xa0\x95\xeb\xaf\xb8\xec\x88\x99" not in sealed.read_bytes()  # 정미숙
    token = token_of(checked)
    assert token in sealed.name

    done = client.post("/import/confirm?lang=en", data={"csrf_token": csrf(client, "/import"), "token": token})
    assert done.status_code == 200 and "Imported." in page_text(done)
    assert stored_uploads(settings) == []
    rows = world.read("diff_people", ids=["p-100", "p-002"])
    assert sorted(r["code_name"] for r in rows) == ["아침별", "진달래"]
    assert (
        keyring().decrypt(next(r for r in rows if r["id"] == "p-100")["legal_name"], "Person", "p-100", "legal_name")
        == "정미숙"
    )
    imported = events(world, actor="coord")
    by_coord = {e["action"] for e in imported if e["actor"] == "coord"}
    assert {"import.validate", "import.start", "import.batch", "import"} <= by_coord
    # confirming again: the upload is gone
    again = client.post("/import/confirm?lang=en", data={"csrf_token": csrf(client, "/import"), "token": token})
    assert again.status_code == 404 and "no longer waiting" in page_text(again)


def test_a_row_of_another_district_is_shown_and_nothing_is_written_or_kept(app, world, settings):
    client = signed_in(app, "coord")
    files = bundle(households="h-101,H-101,서울 양천구,,active\n", people="p-101,매화,h-101,,,\n")
    before = snapshot(world)
    response = client.post("/import", data=upload_form(client, files), content_type="multipart/form-data")
    assert response.status_code == 400
    text = page_text(response)
    assert "households.csv:2: district '서울 양천구' is not one of yours" in text
    assert 'name="token"' not in response.get_data(as_text=True)
    assert snapshot(world) == before and stored_uploads(settings) == []


def test_a_zip_with_a_path_that_climbs_out_is_refused(app, world, settings):
    client = signed_in(app, "coord")
    bad = zipped(GOOD, **{"../../etc/cron.d/people.csv": b"id\n"})
    response = client.post(
        "/import?lang=en", data=upload_form(client, {"b.zip": bad}), content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "b.zip: the entry ../../etc/cron.d/people.csv has an unsafe path." in page_text(response)
    assert stored_uploads(settings) == []
    # in Korean too
    response = client.post(
        "/import?lang=ko", data=upload_form(client, {"b.zip": bad}), content_type="multipart/form-data"
    )
    assert "안전하지 않은 경로" in page_text(response)


def test_a_zip_bundle_is_imported_by_an_admin(app, world, settings):
    client = signed_in(app, "admin")
    files = bundle(households="h-300,H-300,경기 안산시,,active\n", people="p-300,목련,h-300,,,\n")
    checked = client.post(
        "/import?lang=en", data=upload_form(client, {"b.zip": zipped(files)}), content_type="multipart/form-data"
    )
    assert checked.status_code == 200, page_text(checked)
    done = client.post(
        "/import/confirm?lang=en", data={"csrf_token": csrf(client, "/import"), "token": token_of(checked)}
    )
    assert done.status_code == 200
    assert world.read("diff_households", ids=["h-300"])[0]["district"] == "경기 안산시"


def test_another_user_cannot_confirm_or_discard_someone_elses_upload(app, world, settings):
    coord = signed_in(app, "coord")
    checked = coord.post("/import", data=upload_form(coord, GOOD), content_type="multipart/form-data")
    token = token_of(checked)
    others = {name: signed_in(app, name) for name in ("yeon", "admin")}
    # a visitor may not even see the page
    assert signed_in(app, "minji").get("/import").status_code == 403
    before = snapshot(world)
    for other in others.values():
        for verb in ("confirm", "discard"):
            response = other.post(f"/import/{verb}", data={"csrf_token": csrf(other, "/import"), "token": token})
            assert response.status_code == 404
    assert snapshot(world) == before and len(stored_uploads(settings)) == 1
    denied = [e for e in events(world, action="import.") if e["outcome"] == "denied"]
    assert {e["actor"] for e in denied} == {"yeon", "admin"}
    # the owner discards it: gone
    done = coord.post("/import/discard", data={"csrf_token": csrf(coord, "/import"), "token": token})
    assert done.status_code == 200 and stored_uploads(settings) == []
    assert snapshot(world) == before


def test_upload_limits_answer_in_the_pages_language(app, world, settings, monkeypatch):
    client = signed_in(app, "coord")
    bad = {**GOOD, "people.csv": "id,code_name,household_id\np-1,이름,h-001\n".encode("euc-kr")}
    response = client.post("/import?lang=en", data=upload_form(client, bad), content_type="multipart/form-data")
    assert response.status_code == 400 and "people.csv: not UTF-8 text" in page_text(response)
    response = client.post(
        "/import?lang=en", data=upload_form(client, {"photo.jpg": b"\xff\xd8\xff"}), content_type="multipart/form-data"
    )
    assert response.status_code == 400 and "photo.jpg: not a file of the import" in page_text(response)
    monkeypatch.setattr(transfer, "MAX_UPLOAD_BYTES", 2 * transfer.MB)
    big = {"people.csv": b"id,code_name,household_id\n" + b"p-1,x,h-001\n" * 300_000}
    for lang, words in (("en", "too large: at most 2 MB"), ("ko", "2 MB")):
        response = client.post(
            f"/import?lang={lang}", data=upload_form(client, big), content_type="multipart/form-data"
        )
        assert response.status_code == 413 and words in page_text(response)
    assert "업로드" in page_text(response)
    # the rest of the app keeps its own limit
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


# --- export -----------------------------------------------------------------------------------------


def read_zip(response) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        return {name: archive.read(name).decode("utf-8-sig") for name in archive.namelist()}


def test_the_export_is_redacted_by_default(app, world):
    client = signed_in(app, "admin")
    assert "/export" in client.get("/", follow_redirects=True).get_data(as_text=True)
    response = client.post("/export", data={"csrf_token": csrf(client, "/export")})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    files = read_zip(response)
    assert set(files) == set(transfer.FILENAMES)
    assert (
        "들국화" in files["people.csv"]
        and "김영희" not in files["people.csv"]
        and "010-1234" not in files["people.csv"]
    )
    assert "아이들이" not in files["visits.csv"]  # visit notes are left out too
    [start] = events(world, action="export.start")
    assert start["actor"] == "admin" and "redacted" in start["detail"] and start["reason"] is None
    # the export round-trips: its files are a valid import
    with transfer.unpacked({n: d.encode() for n, d in files.items()}) as folder:
        assert importer.validate(folder, importer.DatabaseLookup(world)).ok


def test_an_identity_export_needs_a_reason_and_is_audited(app, world):
    client = signed_in(app, "admin")
    for reason in ("", "ㅇㅇ", "확인"):
        response = client.post(
            "/export?lang=en", data={"csrf_token": csrf(client, "/export"), "identity": "1", "reason": reason}
        )
        assert response.status_code == 400 and response.mimetype == "text/html"
    assert events(world, action="export.start") == []
    assert {e["outcome"] for e in events(world, action="export")} == {"denied"}
    response = client.post(
        "/export", data={"csrf_token": csrf(client, "/export"), "identity": "1", "reason": "연말 보고서 주소 확인"}
    )
    assert response.status_code == 200
    people = read_zip(response)["people.csv"]
    assert "김영희" in people and "010-1234-5678" in people
    [start] = events(world, action="export.start")
    assert start["reason"] == "연말 보고서 주소 확인" and "with identity" in start["detail"]
    done = [e for e in events(world, action="export") if e["action"] == "export" and e["outcome"] == "ok"]
    assert len(done) == 1 and done[0]["reason"] == "연말 보고서 주소 확인"


def test_the_export_is_for_admins_only(app, world):
    coord = signed_in(app, "coord")
    assert "/export" not in coord.get("/").get_data(as_text=True)
    assert coord.get("/export").status_code == 403
    assert coord.post("/export", data={"csrf_token": csrf(coord, "/import")}).status_code == 403


def test_the_export_leaves_no_file_with_identity(app, world, settings, tmp_path, monkeypatch):
    """The zip is made in an unnamed temporary file: no path holds it, before or after."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    client = signed_in(app, "admin")
    response = client.post(
        "/export",
        data={"csrf_token": csrf(client, "/export"), "identity": "1", "reason": "연말 보고서 주소 확인"},
        buffered=False,
    )
    assert list((tmp_path / "tmp").iterdir()) == []  # while it is being sent
    assert response.status_code == 200 and "김영희" in read_zip(response)["people.csv"]
    response.close()
    assert list((tmp_path / "tmp").iterdir()) == []


# --- possible duplicates (graphsvc/importer.py check_duplicates) ---------------------------------


def test_possible_duplicates_are_shown_and_imported_only_when_allowed(app, world, settings):
    client = signed_in(app, "coord")
    files = bundle(
        people="p-150,민들레,h-001,김영희,010-1234-5678,\n"  # p-001's phone (and name, same district)
        "p-151,해바라기,h-001,,+82 10 4444 5555,\n"  # p-005's phone: 경기 안산시, not coord's
    )
    checked = client.post("/import?lang=en", data=upload_form(client, files), content_type="multipart/form-data")
    assert checked.status_code == 200, page_text(checked)
    text = page_text(checked)
    assert "people.csv:2: possible duplicate of p-001 (same phone and name)" in text
    assert "people.csv:3: possible duplicate of someone outside your districts (same phone)" in text
    assert "p-005" not in text
    html = checked.get_data(as_text=True)
    assert re.search(r'data-file="people"><td>people.csv</td><td>2</td><td>0</td><td>0</td><td>2</td>', html)
    assert 'name="allow_duplicates"' in html

    # confirmed without allowing them: nothing written, asked again with a new upload
    before = snapshot(world)
    again = client.post(
        "/import/confirm?lang=en", data={"csrf_token": csrf(client, "/import"), "token": token_of(checked)}
    )
    assert again.status_code == 409 and "Import anyway" in page_text(again)
    assert snapshot(world) == before
    [sealed] = stored_uploads(settings)
    assert token_of(again) in sealed.name and token_of(again) != token_of(checked)

    done = client.post(
        "/import/confirm?lang=en",
        data={"csrf_token": csrf(client, "/import"), "token": token_of(again), "allow_duplicates": "1"},
    )
    assert done.status_code == 200 and "Imported." in page_text(done)
    assert {r["id"] for r in world.read("diff_people", ids=["p-150", "p-151"])} == {"p-150", "p-151"}
    assert stored_uploads(settings) == []


def test_an_admin_sees_every_duplicate_by_id(world):
    files = bundle(people="p-151,해바라기,h-001,,010-4444-5555,\n")
    with transfer.unpacked(files) as folder:
        report = importer.import_folder(world, folder, keyring(), ACTOR, dry_run=True)
    assert [str(p) for p in report.plan.duplicates] == ["people.csv:2: possible duplicate of p-005 (same phone)"]
