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
    @filesend.upload_limit(files=3)
    def many():
        return jsonify(size=sum(len(f.read()) for f in request.files.getlist("file"))), 201

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
    app.add_url_rule("/api/v1/test-files-many", "test_many", many, methods=["POST"])
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
    ring = file_app.extensions["graphsvc_keyring"]
    assert set(listing(store)) == set(pages.get_json()["ids"])
    for file_id, blob in listing(store).items():
        plain = filestore.read(store, ring, file_id, kind="Photo", record_id="ph-web")
        assert b"%PDF" not in blob and b"%PDF" not in plain and plain.startswith(b"\xff\xd8\xff")


def test_an_upload_over_the_limit_is_413(file_app, store, monkeypatch):
    small = replace(store, upload_env=(("GRAPHSVC_UPLOAD_MAX_MB", "1"),))
    monkeypatch.setitem(file_app.config, "GRAPHSVC_SETTINGS", small)
    call = api(file_app, "minji")
    answer = _post(call, "/api/v1/test-files", os.urandom(2 * 1024 * 1024))
    assert answer.status_code == 413
    assert "1 MB" in answer.get_json()["error"]
    # a route that takes three files takes three times as much
    assert _post(call, "/api/v1/test-files-many", os.urandom(2 * 1024 * 1024)).status_code == 201
    assert _post(call, "/api/v1/test-files-many", os.urandom(4 * 1024 * 1024)).status_code == 413
    assert listing(store) == {}


def test_reencrypt_turns_the_files_owners_name_over_to_the_current_key(db, store):
    from .helpers import empty

    empty(db)
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = crypto.Keyring({"kold": old_key}, "kold")
    with filestore.staging(store, old) as stage:
        owned = stage.put(PIXELS, kind="Photo", record_id="ph-owned")
        orphan = stage.put(PIXELS, kind="Photo", record_id="ph-orphan")
    db.write("test_file_record", id="ph-owned", file_id=owned)
    ring = crypto.Keyring({"kold": old_key, "knew": new_key}, "knew")
    saved = list(filestore.OWNERS)
    filestore.OWNERS[:] = ["test_file_owners"]
    try:
        assert filestore.reencrypt(db, store, ring) == 1
        assert filestore.reencrypt(db, store, ring) == 0  # again: nothing left to do
    finally:
        filestore.OWNERS[:] = saved
    assert filestore.key_ids(store) == {"knew": 1, "kold": 1}
    only_new = crypto.Keyring({"knew": new_key}, "knew")
    assert filestore.read(store, only_new, owned, kind="Photo", record_id="ph-owned") == PIXELS
    with pytest.raises(Refused):
        filestore.read(store, only_new, orphan, kind="Photo", record_id="ph-orphan")


def test_keys_rotate_keeps_the_keys_stored_files_need(db, cli_env, settings, tmp_path, monkeypatch):
    """`graphsvc keys rotate` does not retire a key that a stored file is sealed under (no
    owner statement names it here): the file stays readable; once it is gone, the next
    rotation retires every old key."""
    from click.testing import CliRunner

    from graphsvc.cli import main

    from .helpers import empty

    empty(db)
    monkeypatch.delenv("GRAPHSVC_DATA_KEY")
    monkeypatch.setenv("GRAPHSVC_KEY_FILE", str(tmp_path / "keys" / "data-keys.json"))
    first = crypto.load_keyring()  # creates the key file
    with filestore.staging(settings, first) as stage:
        orphan = stage.put(PIXELS, kind="Photo", record_id="ph-orphan")
    try:
        rotated = CliRunner().invoke(main, ["keys", "rotate"], catch_exceptions=False)
        assert rotated.exit_code == 0, rotated.output
        assert f"kept old key(s) {first.current_kid}" in rotated.output
        second = crypto.load_keyring()
        assert second.current_kid != first.current_kid
        assert set(second.kids) == {second.current_kid, first.current_kid}
        assert filestore.read(settings, second, orphan, kind="Photo", record_id="ph-orphan") == PIXELS
        filestore.remove(settings, orphan)
        again = CliRunner().invoke(main, ["keys", "rotate"], catch_exceptions=False)
        assert again.exit_code == 0 and "kept old key" not in again.output, again.output
        third = crypto.load_keyring()
        assert third.kids == (third.current_kid,)
    finally:
        filestore.remove_for(settings, [orphan])


def test_reencrypt_knows_the_photos_and_the_receipts(db, store):
    """The application's owner statements (graphsvc/cypher/stored_files.cypher) name the
    files of photos (original and sanitized) and receipts with their bindings; a file whose
    binding does not match is left as it is, not a failure of the rotation."""
    from .helpers import empty

    empty(db)
    assert filestore.OWNERS == ["stored_files_photos", "stored_files_receipts"]
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = crypto.Keyring({"kold": old_key}, "kold")
    with filestore.staging(store, old) as stage:
        original = stage.put(b"original", kind="Photo", record_id="ph-1")
        sanitized = stage.put(b"sanitized", kind="PhotoSanitized", record_id="ph-1")
        receipt = stage.put(b"receipt", kind="receipt", record_id="rc-1")
        stray = stage.put(b"stray", kind="Photo", record_id="ph-other")
    db.write(
        "test_file_owner_shapes",
        photo_id="ph-1",
        original=original,
        sanitized=sanitized,
        receipt_id="rc-1",
        receipt=receipt,
    )
    db.write(
        "test_file_owner_shapes", photo_id="ph-2", original=stray, sanitized=None, receipt_id="rc-2", receipt=None
    )  # a file bound to another record
    ring = crypto.Keyring({"kold": old_key, "knew": new_key}, "knew")
    assert filestore.reencrypt(db, store, ring) == 3
    assert filestore.key_ids(store) == {"knew": 3, "kold": 1}
    only_new = crypto.Keyring({"knew": new_key}, "knew")
    assert filestore.read(store, only_new, original, kind="Photo", record_id="ph-1") == b"original"
    assert filestore.read(store, only_new, sanitized, kind="PhotoSanitized", record_id="ph-1") == b"sanitized"
    assert filestore.read(store, only_new, receipt, kind="receipt", record_id="rc-1") == b"receipt"


def test_orphans_are_old_files_no_record_names(db, store):
    from .helpers import empty

    empty(db)
    ring = keyring()
    with filestore.staging(store, ring) as stage:
        named = stage.put(b"original", kind="Photo", record_id="ph-1")
        lost = stage.put(b"lost", kind="Photo", record_id="ph-lost")
        young = stage.put(b"young", kind="Photo", record_id="ph-young")
    db.write("test_file_owner_shapes", photo_id="ph-1", original=named, sanitized=None, receipt_id="rc-1", receipt=None)
    hour_ago = os.stat(storage.files_dir(store) / lost).st_mtime - 7200
    for file_id in (named, lost):
        os.utime(storage.files_dir(store) / file_id, (hour_ago, hour_ago))
    assert filestore.orphans(db, store) == {lost}  # the young one may belong to a running transaction
    assert filestore.orphans(db, store, older_than=-60) == {lost, young}


def test_a_malformed_upload_limit_stops_the_app_at_start(settings):
    from web import create_app

    with pytest.raises(ValueError, match="GRAPHSVC_UPLOAD_MAX_MB"):
        create_app(replace(settings, upload_env=(("GRAPHSVC_UPLOAD_MAX_MB", "lots"),)), TESTING=True)
