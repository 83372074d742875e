"""Visit photos (issue 16 §5): who sees an unsanitized photo on every photo route, the
uploader who may not sanitize, boxes filled solid, no metadata in what is kept, face
suggestions, the newsletter caption that may not name the household, the audit."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from graphsvc import access, accounts, audit, photos, sharing, visits
from graphsvc.errors import Refused
from graphsvc.model import Actor

from .helpers import (
    ACTOR,
    PASSWORD,
    api,
    append,
    drawn_face,
    events,
    import_small,
    keyring,
    photo_with_face,
    sign_in,
)

A, B = "서울 노원구", "서울 양천구"
BOX = [250, 150, 300, 300]  # over the drawn face of photo_with_face (at 200,100 and 400 a side)


def who(subject: access.Subject) -> Actor:
    return Actor(subject.username, subject.role, "127.0.0.1", "test")


MINJI = access.Subject("minji", "visitor", (A,), "f")
COORD = access.Subject("coord", "coordinator", (A,))


# --- pure parts -----------------------------------------------------------------------------


def test_boxes_are_filled_solid_black_and_stay_so_through_jpeg():
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, (301, 407, 3), dtype=np.uint8))
    boxes = [(37, 41, 50, 60), (0, 0, 5, 5), (400, 290, 7, 11)]
    out = photos.apply_boxes(image, boxes)
    for quality in (75, 85, 95):
        buffer = io.BytesIO()
        out.save(buffer, "JPEG", quality=quality)
        pixels = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        for x, y, w, h in boxes:
            assert (pixels[y : y + h, x : x + w] == 0).all(), (quality, (x, y, w, h))
    # outside the widened boxes the photo is untouched
    before, after = np.asarray(image), np.asarray(out)
    assert (before[200:280, 150:380] == after[200:280, 150:380]).all()


def test_a_photo_that_does_not_come_back_black_is_not_stored():
    # the check after the clean path: a fill that did not survive re-encoding fails the
    # sanitizing (a failure, never a half-sanitized photo)
    from graphsvc import uploads

    rng = np.random.default_rng(3)
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(RuntimeError):
        photos._reencoded(image, [(8, 8, 16, 16)], uploads.Limits())
    done = photos._reencoded(photos.apply_boxes(image, [(8, 8, 16, 16)]), [(8, 8, 16, 16)], uploads.Limits())
    assert done.mime == "image/jpeg"


def test_boxes_are_checked_and_named():
    assert photos.check_boxes([[0, 0, 10, 10], [5.5, 1, 2, 2]], 20, 20) == [(0, 0, 10, 10), (5, 1, 3, 2)]
    bad = [
        ("x", "boxes"),
        ([[0, 0, 10]], "boxes[0]"),
        ([[0, 0, 10, 10], [0, 0, "1", 2]], "boxes[1]"),
        ([[0, 0, True, 2]], "boxes[0]"),
        ([[-1, 0, 5, 5]], "boxes[0]"),
        ([[15, 15, 6, 2]], "boxes[0]"),
        ([[0, 0, 0, 5]], "boxes[0]"),
        ([[0, 0, float("nan"), 5]], "boxes[0]"),
        ([[0, 0, 1, 1]] * (photos.MAX_BOXES + 1), "boxes"),
        ([], "boxes"),  # no box without saying that nothing identifies
    ]
    for raw, field in bad:
        with pytest.raises(Refused) as e:
            photos.check_boxes(raw, 20, 20)
        assert (e.value.kind, e.value.field) == ("invalid", field), raw
    assert photos.check_boxes([], 20, 20, nothing_identifying=True) == []


def test_faces_are_suggested_on_a_drawn_face_and_not_on_a_wall():
    # honest about the detector: the face is drawn (no photo of anyone), and the bundled
    # Haar cascade is what finds it; a plain or striped picture gives no suggestion
    found = photos.suggest_faces(drawn_face(400).convert("RGB"))
    assert len(found) == 1
    x, y, w, h = found[0]
    assert 40 <= x <= 120 and 40 <= y <= 120 and 200 <= w <= 320 and w == h
    big = Image.open(io.BytesIO(photo_with_face(3000, 2000)))  # scaled down to look, boxes scaled back
    (x, y, w, h), *rest = photos.suggest_faces(big)
    assert not rest and 230 <= x <= 320 and 130 <= y <= 220 and 200 <= w <= 320
    assert photos.suggest_faces(Image.new("RGB", (800, 600), (90, 90, 90))) == []


def test_captions_that_name_the_household_are_caught():
    values = ["들국화", "김영희", "010-1234-5678", "서울 노원구 상계로 1", "H-001", "p-001"]
    for caption in (
        "들국화 님과 함께",
        "김 영 희",
        "연락처 010 1234 5678",
        "０１０１２３４５６７８",
        "상계로 1 앞에서",
        "h-001 가정",
        "H001",
    ):
        assert photos.caption_names_identity(caption, values), caption
    assert not photos.caption_names_identity("성경 공부 모임, 2026년 가을", values)


# --- the service and its routes ----------------------------------------------------------


@pytest.fixture()
def pworld(db, small):
    """The small network (tests/helpers.py import_small) with junho, a visitor of 노원 who
    visited h-001 too (so that only the photo rule keeps him out), and a visit minji
    reported today at h-001."""
    append(small, "visits", ["v-009", "h-001", "junho", "2025-05-01", "met", "", ""])
    import_small(db, small, keyring())
    accounts.add_user(db, ACTOR, "junho", "visitor", [A], PASSWORD, adopt=True)
    done = visits.report(
        db,
        keyring(),
        MINJI,
        who(MINJI),
        {"household_id": "h-001", "visited_on": dt.date.today().isoformat(), "outcome": "met"},
    )
    db.visit_id = done.visit_id  # type: ignore[attr-defined]
    return db


@pytest.fixture()
def papp(settings, pworld):
    from web import create_app

    return create_app(settings, TESTING=True)


def _upload(call, visit_id: str, data: bytes, **kw):
    return call(
        f"/api/v1/visits/{visit_id}/photos",
        method="POST",
        data={"file": (io.BytesIO(data), "IMG_0001.jpg")},
        content_type="multipart/form-data",
        **kw,
    )


def _photo_nodes(db) -> int:
    return db.read("test_photo_count")[0]["n"]


def _files(settings) -> list:
    folder = settings.files_dir
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_who_sees_a_photo_on_every_route(papp, pworld, settings):
    from .helpers import add_partner

    vid = pworld.visit_id
    calls = {name: api(papp, name) for name in ("minji", "coord", "yeon", "junho", "admin")}
    # hana, a partner whose organisation h-001 is shared with: she reaches the household, and
    # still sees no unsanitized photo of it
    add_partner(pworld, username="hana", org="새희망선교회")
    sharing.share(pworld, COORD, who(COORD), "h-001", "새희망선교회")
    calls["hana"] = api(papp, "hana")

    answer = _upload(calls["minji"], vid, photo_with_face())
    assert answer.status_code == 201, answer.get_json()
    pid = answer.get_json()["id"]
    assert answer.get_json()["state"] == "unsanitized"

    sees_original = {"minji": 200, "coord": 200, "admin": 200, "yeon": 404, "junho": 404, "hana": 404}
    # before sanitizing: there is no sanitized variant (409) for those who may know the photo
    sees_sanitized_before = {"minji": 409, "coord": 409, "admin": 409, "yeon": 404, "junho": 404, "hana": 404}
    lists = {"minji": 200, "coord": 200, "admin": 200, "yeon": 404, "junho": 200, "hana": 200}
    for name, call in calls.items():
        assert call(f"/api/v1/photos/{pid}?variant=original").status_code == sees_original[name], name
        assert call(f"/api/v1/photos/{pid}?variant=sanitized").status_code == sees_sanitized_before[name], name
        assert call(f"/api/v1/photos/{pid}").status_code == sees_sanitized_before[name], name
        listed = call(f"/api/v1/visits/{vid}/photos")
        assert listed.status_code == lists[name], name
        if sees_original[name] != 200:  # not in the list, not in a count, not anywhere in the body
            assert pid not in listed.get_data(as_text=True), name
        else:
            assert [p["id"] for p in listed.get_json()["photos"]] == [pid]
        queue = call("/api/v1/photos/review")
        if name in ("coord", "admin"):
            assert [p["id"] for p in queue.get_json()["photos"]] == [pid], name
        elif name == "yeon":
            assert queue.status_code == 200 and queue.get_json()["photos"] == []
        else:
            assert queue.status_code == 403, name
        assert pid not in queue.get_data(as_text=True) or name in ("coord", "admin")
        review = call(f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": []})
        assert review.status_code == {"coord": 400, "admin": 400, "yeon": 404}.get(name, 403), name

    # the pages: the desk's section and the review page, as a coordinator of each district
    for name, code in (("coord", 200), ("yeon", 404)):
        client = papp.test_client()
        sign_in(client, name)
        page = client.get(f"/photos/{pid}/review")
        assert page.status_code == code, name
        desk = client.get("/dispatch").get_data(as_text=True)
        assert (pid in desk) == (name == "coord"), name
        listed = client.get(f"/visits/{vid}/photos")
        assert listed.status_code == (200 if name == "coord" else 404)

    # sanitized: the sanitized variant for whoever may read the household; the original as before
    done = calls["coord"](f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": [BOX]})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "sanitized" and done.get_json()["sanitized_by"] == "coord"
    sees_sanitized = {"minji": 200, "coord": 200, "admin": 200, "yeon": 404, "junho": 200, "hana": 200}
    for name, call in calls.items():
        assert call(f"/api/v1/photos/{pid}?variant=sanitized").status_code == sees_sanitized[name], name
        assert call(f"/api/v1/photos/{pid}?variant=original").status_code == sees_original[name], name
    listed = calls["junho"](f"/api/v1/visits/{vid}/photos").get_json()["photos"]
    assert [(p["id"], p["variants"], p["uploader"]) for p in listed] == [(pid, ["sanitized"], None)]
    assert calls["coord"]("/api/v1/photos/review").get_json()["photos"] == []


def test_a_partner_uploads_and_another_partner_of_her_org_does_not_see_it(papp, pworld, settings):
    from .helpers import add_partner

    org = "새희망선교회"
    add_partner(pworld, username="hana", org=org)
    add_partner(pworld, username="duri", org=org)
    sharing.share(pworld, COORD, who(COORD), "h-002", org)
    hana = access.Subject("hana", "partner", (), "f", org=org)
    body = {"household_id": "h-002", "visited_on": dt.date.today().isoformat(), "outcome": "met"}
    vid = visits.report(pworld, keyring(), hana, who(hana), body).visit_id
    calls = {name: api(papp, name) for name in ("hana", "duri", "coord", "minji")}
    answer = _upload(calls["hana"], vid, photo_with_face())
    assert answer.status_code == 201, answer.get_json()
    pid = answer.get_json()["id"]
    expected = {"hana": 200, "duri": 404, "coord": 200, "minji": 404}
    for name, call in calls.items():
        assert call(f"/api/v1/photos/{pid}?variant=original").status_code == expected[name], name
        listed = call(f"/api/v1/visits/{vid}/photos")
        assert (pid in listed.get_data(as_text=True)) == (expected[name] == 200), name
    assert _upload(calls["duri"], vid, photo_with_face()).status_code == 404  # not her visit
    assert calls["hana"](f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": [BOX]}).status_code == 403


def test_an_uploader_may_not_sanitize_their_own_photo(pworld, settings):
    ring = keyring()
    pid = photos.upload(pworld, settings, ring, MINJI, who(MINJI), pworld.visit_id, photo_with_face())["id"]
    # minji becomes a coordinator of her district: still not the reviewer of her own photo
    promoted = access.Subject("minji", "coordinator", (A,))
    with pytest.raises(Refused) as e:
        photos.sanitize(pworld, settings, ring, promoted, who(promoted), pid, [BOX])
    assert (e.value.kind, e.value.code) == ("forbidden", "own_photo")
    with pytest.raises(Refused) as e:
        photos.review(pworld, settings, ring, promoted, pid)
    assert e.value.code == "own_photo"
    assert photos.to_review(pworld, promoted) == []
    assert [p["id"] for p in photos.to_review(pworld, COORD)] == [pid]
    assert photos.sanitize(pworld, settings, ring, COORD, who(COORD), pid, [BOX])["state"] == "sanitized"


def test_the_sanitized_photo_is_solid_where_boxed_and_has_no_metadata(papp, pworld, settings):
    minji, coord = api(papp, "minji"), api(papp, "coord")
    pid = _upload(minji, pworld.visit_id, photo_with_face()).get_json()["id"]
    original = coord(f"/api/v1/photos/{pid}?variant=original")
    assert original.headers["Cache-Control"].startswith("no-store")
    for data in (original.data,):
        image = Image.open(io.BytesIO(data))
        assert not image.getexif() and b"Exif" not in data and b"PhotoCam" not in data
    # the reviewer's page suggests the drawn face
    review = photos.review(pworld, settings, keyring(), COORD, pid)
    assert len(review["suggestions"]) == 1
    boxes = [BOX, [0, 0, 13, 7], [790, 590, 10, 10]]
    assert coord(f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": boxes}).status_code == 200
    sanitized = coord(f"/api/v1/photos/{pid}?variant=sanitized")
    assert sanitized.status_code == 200 and sanitized.headers["Cache-Control"].startswith("no-store")
    data = sanitized.data
    image = Image.open(io.BytesIO(data))
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert b"Exif" not in data and b"PhotoCam" not in data and b"2026:11:20" not in data
    pixels = np.asarray(image.convert("RGB"))
    for x, y, w, h in boxes:
        assert (pixels[y : y + h, x : x + w] == 0).all(), (x, y, w, h)
    assert pixels[50:90, 10:180].any()  # not all black
    assert photos.suggest_faces(image) == []  # the face is gone
    # what is stored is ciphertext, under random names
    stored = list(settings.files_dir.rglob("*"))
    assert all(b"\xff\xd8\xff" not in p.read_bytes()[:64] for p in stored if p.is_file())
    # again: already sanitized
    again = coord(f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": boxes})
    assert again.status_code == 409 and again.get_json()["code"] == "already_sanitized"
    found = events(pworld, action="photo.sanitize")
    assert found and found[0]["targets"][:3] == [pid, pworld.visit_id, "h-001"] and found[0]["actor"] == "coord"
    reads = events(pworld, action="photo.read")
    assert {tuple(e["targets"]) for e in reads} == {(pid, pworld.visit_id, "h-001")}
    assert {e["detail"].split(";")[0] for e in reads} == {"original", "sanitized"}


def test_nothing_identifying_must_be_said_for_no_box(papp, pworld):
    minji, coord = api(papp, "minji"), api(papp, "coord")
    pid = _upload(minji, pworld.visit_id, photo_with_face()).get_json()["id"]
    for body, field in (
        ({"boxes": []}, "boxes"),
        ({}, "boxes"),
        ({"boxes": [[0, 0, 900, 10]]}, "boxes[0]"),
        ({"boxes": [[0, 0, 10, 10], "x"]}, "boxes[1]"),
        ({"boxes": [], "nothing_identifying": "yes"}, "nothing_identifying"),
    ):
        answer = coord(f"/api/v1/photos/{pid}/sanitize", method="POST", json=body)
        assert answer.status_code == 400 and answer.get_json()["field"] == field, body
    assert coord(f"/api/v1/photos/{pid}?variant=sanitized").status_code == 409  # nothing changed
    done = coord(f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": [], "nothing_identifying": True})
    assert done.status_code == 200 and done.get_json()["boxes"] == 0
    assert "nothing identifying" in events(pworld, action="photo.sanitize")[0]["detail"]


def test_uploads_that_are_refused_leave_nothing(papp, pworld, settings):
    minji, junho, coord = api(papp, "minji"), api(papp, "junho"), api(papp, "coord")
    vid = pworld.visit_id
    before = _files(settings)
    for data in (b"MZ\x90\x00" + b"\x00" * 200, b"", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj\n<<>>\nendobj\n"):
        answer = _upload(minji, vid, data)
        assert answer.status_code == 400 and answer.get_json()["field"] == "file", answer.get_json()
    assert _upload(junho, vid, photo_with_face()).status_code == 404  # not his visit
    assert _upload(coord, vid, photo_with_face()).status_code == 403  # not a role that reports visits
    assert _upload(minji, "v-nope", photo_with_face()).status_code == 404
    assert _upload(minji, "v-001", photo_with_face()).status_code == 409  # her visit of 2025: too late
    assert _photo_nodes(pworld) == 0 and _files(settings) == before
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=photos.UPLOAD_DAYS, hours=1)
    with pytest.raises(Refused) as e:
        photos.upload(pworld, settings, keyring(), MINJI, who(MINJI), vid, photo_with_face(), now=late)
    assert e.value.code == "photo_late"


def test_an_upload_sent_twice_is_kept_once(papp, pworld):
    minji = api(papp, "minji")
    data = photo_with_face()
    first = _upload(minji, pworld.visit_id, data, headers={"Idempotency-Key": "photo-key-1"})
    second = _upload(minji, pworld.visit_id, data, headers={"Idempotency-Key": "photo-key-1"})
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json() and second.headers.get("Idempotent-Replayed") == "true"
    assert _photo_nodes(pworld) == 1
    upload = events(pworld, action="photo.upload")
    assert len(upload) == 1 and upload[0]["targets"] == [first.get_json()["id"], pworld.visit_id, "h-001"]


def test_the_upload_form_on_a_phone_flow(papp, pworld):
    client = papp.test_client()
    sign_in(client, "minji")
    page = client.get(f"/visits/{pworld.visit_id}/photos").get_data(as_text=True)
    assert 'accept="image/*"' in page and "capture" in page and 'name="csrf_token"' in page
    import re

    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    sent = client.post(
        f"/visits/{pworld.visit_id}/photos",
        data={"csrf_token": token, "file": (io.BytesIO(photo_with_face()), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302 and "added=ph-" in sent.headers["Location"]
    bad = client.post(
        f"/visits/{pworld.visit_id}/photos",
        data={"csrf_token": token, "file": (io.BytesIO(b"not a photo at all"), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)
    no_csrf = client.post(
        f"/visits/{pworld.visit_id}/photos",
        data={"file": (io.BytesIO(photo_with_face()), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert no_csrf.status_code == 400
    assert _photo_nodes(pworld) == 1
    history = client.get(f"/history?reported={pworld.visit_id}").get_data(as_text=True)
    assert f"/visits/{pworld.visit_id}/photos" in history


def test_the_newsletter_export(papp, pworld):
    minji, coord, yeon = api(papp, "minji"), api(papp, "coord"), api(papp, "yeon")
    pid = _upload(minji, pworld.visit_id, photo_with_face()).get_json()["id"]

    def export(call, caption):
        return call(f"/api/v1/photos/{pid}/newsletter", method="POST", json={"caption": caption})

    unsanitized = export(coord, "가을 성경 공부")
    assert unsanitized.status_code == 409 and unsanitized.get_json()["code"] == "not_sanitized"
    assert coord(f"/api/v1/photos/{pid}/sanitize", method="POST", json={"boxes": [BOX]}).status_code == 200
    # the household h-001: 들국화 (김영희, 010-1234-5678, 서울 노원구 상계로 1) and 새벽별 (박철수)
    for caption in (
        "들국화 님 가정 방문",
        "박철수 형제와",
        "010 1234 5678로 연락",
        "상계로 1 근처",
        "H-001 가정",
        "",
        None,
        5,
    ):
        answer = export(coord, caption)
        assert answer.status_code == 400 and answer.get_json()["field"] == "caption", caption
    assert export(yeon, "가을 성경 공부").status_code == 404
    assert export(minji, "가을 성경 공부").status_code == 403
    done = export(coord, "가을 성경 공부 모임")
    assert done.status_code == 200 and done.headers["Content-Type"] == "application/zip"
    assert done.headers["Cache-Control"].startswith("no-store")
    with zipfile.ZipFile(io.BytesIO(done.data)) as archive:
        assert sorted(archive.namelist()) == ["caption.txt", "newsletter.html", "photo.jpg"]
        assert archive.read("caption.txt").decode() == "가을 성경 공부 모임"
        photo = archive.read("photo.jpg")
        assert not Image.open(io.BytesIO(photo)).getexif() and b"PhotoCam" not in photo
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    exported = events(pworld, action="photo.export")
    assert len(exported) == 1 and exported[0]["targets"] == [pid, pworld.visit_id, "h-001"]
    assert "가을" not in json.dumps(exported[0], ensure_ascii=False)  # the caption is not in the log


def test_a_duress_session_sees_no_photo(pworld, settings):
    ring = keyring()
    pid = photos.upload(pworld, settings, ring, MINJI, who(MINJI), pworld.visit_id, photo_with_face())["id"]
    duress = access.Subject("coord", "coordinator", (A,), duress=True)
    assert photos.to_review(pworld, duress) == []
    with pytest.raises(Refused):
        photos.read_file(pworld, settings, ring, duress, pid, "original")
    assert audit.verify(pworld).ok


def test_erasing_a_household_shreds_its_photos(pworld, settings):
    from graphsvc import erasure, filestore

    ring = keyring()
    pid = photos.upload(pworld, settings, ring, MINJI, who(MINJI), pworld.visit_id, photo_with_face())["id"]
    photos.sanitize(pworld, settings, ring, COORD, who(COORD), pid, [BOX])
    row = pworld.read("photo_get", photo_id=pid)[0]
    files = [row["file_id"], row["sanitized_file_id"]]
    assert all(filestore.exists(settings, f) for f in files)
    admin = access.Subject("admin", "admin")
    done = erasure.erase(
        pworld, ring, admin, who(admin), "household", "h-001", "가정의 요청으로 삭제", state_dir=settings.state_dir
    )
    assert done["photo_files"] == files or sorted(done["photo_files"]) == sorted(files)
    assert _photo_nodes(pworld) == 0
    assert not any(filestore.exists(settings, f) for f in files)
    assert "2 photo files shredded" in events(pworld, action="erased")[0]["detail"]
