"""Stored files (graphsvc/filestore.py): encrypted and bound to their record, random names,
0600 in the 0700 folder, atomic writes, and staging that leaves nothing behind when the
block fails, with a real Neo4j transaction; the web side (web/filesend.py): the upload
size limit of a route and the headers of a private file, through the app."""

from __future__ import annotations

import io
import os
import stat
from dataclasses import replace

import neo4j
import pytest
from flask import jsonify, request
from PIL import Image

from graphsvc import crypto, filestore, storage, uploads
from graphsvc.errors import Refused

from .helpers import CAMERA_MAKE, SECRET_TEXT, api, camera_exif, jpeg_with_exif, keyring, pdf_bytes, png_with_text

PIXELS = b"\xff\xd8\xff\xe0 pretend pixels of a visit photo " + SECRET_TEXT.encode()


@pytest.fixture()
def store(tmp_path, settings):
    """Settings whose state (and so files) folder is a fresh temporary one."""
    return replace(settings, state_dir_override=tmp_path / "state")


def listing(settings) -> dict[str, bytes]:
    folder = storage.files_dir(settings)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_file_is_encrypted_under_a_random_name_0600_in_the_0700_folder(store):
    ring = keyring()
    with filestore.staging(store, ring) as stage:
        one = stage.put(PIXELS, kind="Photo", record_id="ph-1")
        two = stage.put(PIXELS, kind="Photo", record_id="ph-1")
    assert one != two and filestore.is_file_id(one) and len(one) == 32
    folder = storage.files_dir(store)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = listing(store)
    assert set(files) == {one, two}  # no temporary file left
    for name, blob in files.items():
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
        assert crypto.is_encrypted_bytes(blob) and blob.startswith(b"GSEB")
        assert b"pretend pixels" not in blob and SECRET_TEXT.encode() not in blob and b"ph-1" not in blob
    assert files[one] != files[two]  # fresh nonces
    assert filestore.read(store, ring, one, kind="Photo", record_id="ph-1") == PIXELS


def test_a_file_cannot_be_read_for_another_record_or_kind(store):
    ring = keyring()
    with filestore.staging(store, ring) as stage:
        file_id = stage.put(PIXELS, kind="Photo", record_id="ph-1")
    for kind, record_id in (("Photo", "ph-2"), ("Receipt", "ph-1"), ("Photo", "ph-10")):
        with pytest.raises(Refused) as caught:
            filestore.read(store, ring, file_id, kind=kind, record_id=record_id)
        assert caught.value.kind == "not_found" and "does not belong" in caught.value.why
    # another key (another installation's) cannot read it either
    with pytest.raises(Refused):
        filestore.read(store, crypto.Keyring.generate("k9"), file_id, kind="Photo", record_id="ph-1")
    # an altered file is refused, not served
    path = storage.files_dir(store) / file_id
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(Refused):
        filestore.read(store, ring, file_id, kind="Photo", record_id="ph-1")


def test_unknown_and_malformed_ids_are_not_found(store):
    ring = keyring()
    (store.state_dir / "outside").parent.mkdir(parents=True, exist_ok=True)
    (store.state_dir / "outside").write_bytes(ring.encrypt_bytes(PIXELS, "Photo", "ph-1", "file"))
    for file_id in ("A" * 32, "../outside", "", "x" * 33, "a/b" + "c" * 29, None):
        with pytest.raises(Refused) as caught:
            filestore.read(store, ring, file_id, kind="Photo", record_id="ph-1")  # type: ignore[arg-type]
        assert caught.value.kind == "not_found"
    assert not filestore.remove(store, "../outside") and (store.state_dir / "outside").exists()


def test_staging_deletes_every_file_of_a_failed_block(store):
    ring = keyring()
    with filestore.staging(store, ring) as stage:
        kept = stage.put(PIXELS, kind="Receipt", record_id="ex-1")
    before = listing(store)
    with pytest.raises(RuntimeError, match="transaction refused"):
        with filestore.staging(store, ring) as stage:
            stage.put(b"page 1", kind="Receipt", record_id="ex-2")
            stage.put(b"page 2", kind="Receipt", record_id="ex-2")
            assert len(listing(store)) == 3
            raise RuntimeError("transaction refused")
    assert listing(store) == before and kept in before


def test_a_refused_upload_writes_nothing(store):
    """The second receipt of an expense is a polyglot: the first one, already put, goes too."""
    ring = keyring()
    before = listing(store)
    with pytest.raises(Refused) as caught:
        with filestore.staging(store, ring) as stage:
            for number, upload in enumerate((jpeg_with_exif(), jpeg_with_exif() + b"PK\x05\x06" + b"\x00" * 18)):
                for clean in uploads.accept(upload, field=f"receipt{number}"):
                    stage.put(clean.data, kind="Receipt", record_id="ex-3")
    assert caught.value.field == "receipt1"
    assert listing(store) == before


def test_files_stay_when_the_commit_outcome_is_unknown(store):
    """The node may have been written: its file must not go (an orphan is only ciphertext)."""
    ring = keyring()
    with pytest.raises(neo4j.exceptions.IncompleteCommit):
        with filestore.staging(store, ring) as stage:
            file_id = stage.put(PIXELS, kind="Photo", record_id="ph-9")
            raise neo4j.exceptions.IncompleteCommit("connection lost during commit")
    assert file_id in listing(store)


def test_a_write_is_atomic(store, monkeypatch):
    """A write that fails before its rename leaves neither the file nor its temporary copy."""
    ring = keyring()
    storage.files_dir(store)

    def broken(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(filestore.os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        with filestore.staging(store, ring) as stage:
            stage.put(PIXELS, kind="Photo", record_id="ph-1")
    monkeypatch.undo()
    assert listing(store) == {}


def test_remove_and_remove_for(store):
    ring = keyring()
    with filestore.staging(store, ring) as stage:
        ids = [stage.put(PIXELS, kind="Photo", record_id=f"ph-{n}") for n in range(3)]
    assert filestore.file_ids(store) == set(ids)
    assert filestore.remove(store, ids[0]) and not filestore.remove(store, ids[0])
    assert filestore.remove_for(store, [ids[0], ids[1], None, "nonsense", ids[2]]) == 2
    assert listing(store) == {}


def test_staging_around_a_neo4j_transaction(db, store):
    """The pattern of the photo and expense services: the node with its file id is written
    in the block; a transaction that fails takes its files with it."""
    from .helpers import empty

    empty(db)
    ring = keyring()
    [clean] = uploads.accept(jpeg_with_exif(120, 90))

    with filestore.staging(store, ring) as stage:
        file_id = stage.put(clean.data, kind="Photo", record_id="ph-ok")
        db.write_tx(lambda tx: db.run_in_tx(tx, "test_file_record", id="ph-ok", file_id=file_id))

    def failing(tx, file_id):
        db.run_in_tx(tx, "test_file_record", id="ph-bad", file_id=file_id)
        raise Refused("conflict", "the visit was closed meanwhile")

    with pytest.raises(Refused):
        with filestore.staging(store, ring) as stage:
            bad_id = stage.put(clean.data, kind="Photo", record_id="ph-bad")
            db.write_tx(failing, bad_id)
    assert db.read("test_file_records") == [{"id": "ph-ok", "file_id": file_id}]
    assert filestore.file_ids(store) == {file_id} and bad_id != file_id
    stored = filestore.read(store, ring, file_id, kind="Photo", record_id="ph-ok")
    assert stored == clean.data
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (120, 90) and not image.getexif()


# --- the web side: upload_limit and private_file, through the app --------------------------------------


@pytest.fixture()
def file_app(app, store):
    """The app with two routes of the shape the photo and expense routes take: an upload
    (a raised size limit, the pipeline, staging) and the serving of a stored file."""
    from web import filesend
    from web.guard import signed_in

    app.config["GRAPHSVC_SETTINGS"] = store

    @signed_in
    @filesend.upload_limit(None)
    def upload():
        ring = app.extensions["graphsvc_keyring"]
        cleans = uploads.accept(request.files["file"].read(), field="file", allow_pdf=True, limits=filesend.limits())
        with filestore.staging(store, ring) as stage:
            ids = [stage.put(clean.data, kind="Photo", record_id="ph-web") for clean in cleans]
        return jsonify(ids=ids, mimes=[clean.mime for clean in cleans]), 201

    @signed_in
    def unmarked():
        return jsonify(size=len(request.files["file"].read())), 201

    @signed_in
    def serve(file_id, name=None):
        ring = app.extensions["graphsvc_keyring"]
        data = filestore.read(store, ring, file_id, kind="Photo", record_id="ph-web")
        return filesend.private_file(data, "image/jpeg", name)

    serve.__name__ = "serve"
    app.add_url_rule("/api/v1/test-files", "test_upload", upload, methods=["POST"])
    app.add_url_rule("/api/v1/test-files-unmarked", "test_unmarked", unmarked, methods=["POST"])
    app.add_url_rule("/api/v1/test-files/<file_id>", "test_serve", serve)
    app.add_url_rule("/api/v1/test-files/<file_id>/as/<name>", "test_serve_named", serve)
    return app


def _post(call, path: str, data: bytes, name: str = "photo.jpg", **kw):
    return call(path, method="POST", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data", **kw)


def test_an_upload_route_takes_big_files_and_serves_them_privately(file_app, store):
    call = api(file_app, "minji")
    noise = Image.merge("RGB", [Image.effect_noise((1600, 1200), 90) for _ in range(3)])
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95, exif=camera_exif().tobytes())
    big = out.getvalue()
    assert 1024 * 1024 < len(big) < 20 * 1024 * 1024  # over the app's limit of 1 MiB
    assert _post(call, "/api/v1/test-files-unmarked", big).status_code == 413  # other routes keep 1 MiB
    answer = _post(call, "/api/v1/test-files", big, name="../../etc/passwd.jpg")
    assert answer.status_code == 201, answer.get_json()
    [file_id] = answer.get_json()["ids"]
    assert listing(store).keys() == {file_id}
    served = call(f"/api/v1/test-files/{file_id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.headers["Cache-Control"] == "no-store"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert served.headers["Content-Disposition"] == "inline"
    assert CAMERA_MAKE.encode() not in served.data and b"GPS" not in served.data
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.size == (1600, 1200) and not image.getexif()
    named = call(f"/api/v1/test-files/{file_id}/as/영수증 1.jpg")
    assert named.headers["Content-Disposition"] == (
        "attachment; filename=\"____1.jpg\"; filename*=UTF-8''%EC%98%81%EC%88%98%EC%A6%9D%201.jpg"
    )
    assert call(f"/api/v1/test-files/{'A' * 32}").status_code == 404


def test_an_upload_route_refuses_bad_files_in_the_callers_language_and_writes_nothing(file_app, store):
    call, call_en = api(file_app, "minji"), api(file_app, "minji")
    for data, name in (
        (b"MZ\x90\x00" + b"\x00" * 500, "photo.jpg"),
        (png_with_text() + b"tail", "photo.png"),
        (jpeg_with_exif()[:300], "photo.jpg"),
        (b"", "empty.jpg"),
    ):
        answer = _post(call, "/api/v1/test-files", data, name=name)
        assert answer.status_code == 400, answer.get_json()
        body = answer.get_json()
        assert body["field"] == "file" and body["code"].startswith("upload_")
        assert body["error"].startswith("file: ") and "파일" in body["error"], body  # Korean: the default
        english = _post(call_en, "/api/v1/test-files?lang=en", data, name=name)
        assert english.get_json()["error"].startswith("file: the ") and "파일" not in english.get_json()["error"]
    assert listing(store) == {}
    pages = _post(call, "/api/v1/test-files", pdf_bytes(2), name="receipt.pdf")
    assert pages.status_code == 201 and pages.get_json()["mimes"] == ["image/jpeg", "image/jpeg"]
    for blob in listing(store).values():
        assert b"%PDF" not in blob


def test_an_upload_over_the_limit_is_413(file_app, store, monkeypatch):
    small = replace(store, upload_env=(("GRAPHSVC_UPLOAD_MAX_MB", "1"),))
    monkeypatch.setitem(file_app.config, "GRAPHSVC_SETTINGS", small)
    call = api(file_app, "minji")
    answer = _post(call, "/api/v1/test-files", os.urandom(2 * 1024 * 1024))
    assert answer.status_code == 413
    assert listing(store) == {}
