"""Visit photos: "Unsanitized" until a person says otherwise (issue 16 §5).

A visitor (or partner) who reported a visit may add photos to it for ``UPLOAD_DAYS`` after
the report. Each upload goes through the file pipeline (graphsvc/uploads.py: decoded,
re-encoded, orientation applied, every metadata block dropped; images only) and is stored
encrypted (graphsvc/filestore.py) as a ``(:Photo {state: 'unsanitized'})`` of the visit.

Who sees what is ``access.decide_photo``: an unsanitized photo only its uploader, the
coordinators of the household's district and admins (lists and counts too); a reviewer
(PHOTO_REVIEW, never the uploader) draws solid boxes over faces, house numbers, signs —
the server blacks them out on the decoded photo (``apply_boxes``: solid fill, never blur
or pixelation, which can be undone), re-encodes it through the same clean path and keeps
it as a second file: the photo is then "sanitized", with who and when. Face boxes are
suggested by OpenCV's bundled Haar cascade (``suggest_faces``) for the reviewer to confirm
or remove. Only a sanitized photo can be exported for the newsletter, with a caption that
names nobody of the photo's household (``caption_names_identity``).

Box rule: at most ``MAX_BOXES`` boxes ``[x, y, w, h]`` of whole or decimal pixels, inside
the image; each is widened outward to the JPEG's 16-pixel blocks (plus one block), so
that compression cannot bring back a trace at its edges and the fill inside stays exactly
black. Zero boxes only with an explicit ``nothing_identifying`` confirmation.

Erasure (graphsvc/erasure.py): an erased household's photos are shredded
(``shred_household_in_tx``: the nodes deleted, then their files removed).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw

from . import access, audit, filestore, households, personkeys, records, uploads
from .errors import Refused
from .model import N_, Actor

if TYPE_CHECKING:
    import neo4j
    import numpy

    from .config import Settings
    from .crypto import Keyring
    from .db import Database

UPLOAD_DAYS = 7  # a photo may be added to a visit until this many days after its report
MAX_PER_VISIT = 20
MAX_BOXES = 100
CAPTION_MAX = 500
BLOCK = 16  # a JPEG's largest block (4:2:0 chroma): boxes are widened to it
FILL = (0, 0, 0)
FILE_KIND = "Photo"  # the stored original (filestore kind), bound to the photo's id
SANITIZED_KIND = "PhotoSanitized"  # the sanitized variant: another binding, never mistaken for it
CASCADE = "haarcascade_frontalface_default.xml"
FACE_SIDE = 1024  # faces are looked for on the photo scaled to at most this many pixels a side

MESSAGES = {
    "boxes_list": N_("%(field)s: a list of boxes [x, y, w, h]"),
    "box_shape": N_("%(field)s: a box is four numbers [x, y, w, h]"),
    "box_outside": N_("%(field)s: the box is not inside the photo (%(width)d × %(height)d pixels)"),
    "boxes_many": N_("%(field)s: at most %(max)d boxes"),
    "boxes_none": N_(
        "%(field)s: no box drawn. Draw boxes over what identifies, "
        "or confirm that nothing in the photo identifies anyone"
    ),
    "caption_identity": N_(
        "%(field)s names someone of the photo's household (a name, code name, code, phone or address)"
    ),
}
records.MESSAGES.update(MESSAGES)
records.MAX_LEN.setdefault("caption", CAPTION_MAX)

REFUSALS = {  # the code of a refusal → its message (web/photos.py words them)
    "photo_late": N_("Photos can be added to a visit only in the %(days)d days after its report."),
    "photo_limit": N_("This visit has as many photos as allowed."),
    "already_sanitized": N_("This photo is already sanitized."),
    "not_sanitized": N_("Only a sanitized photo can be exported."),
    "own_photo": N_("You uploaded this photo: another reviewer must sanitize it."),
    "no_variant": N_("This photo has no sanitized version yet."),
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(ref: str, field: str = "photo_id", why: str = "no such photo") -> Refused:
    return Refused("not_found", why, field, (ref,) if audit.is_target(ref) else ())


def _invalid(field: str, code: str, **values: Any) -> Refused:
    problem = records.Problem(field, code, dict(values))
    return Refused("invalid", problem.english(), field, problems=(problem,))


# --- pure parts: boxes, fill, faces ---------------------------------------------------------


def check_boxes(
    raw: object, width: int, height: int, nothing_identifying: bool = False
) -> list[tuple[int, int, int, int]]:
    """The boxes of a sanitizing, as whole pixels ``(x, y, w, h)`` (decimals rounded
    outward); Refused invalid naming ``boxes`` or ``boxes[i]`` otherwise.

    >>> check_boxes([[1.5, 2, 10, 10.2]], 100, 50)
    [(1, 2, 11, 11)]
    >>> check_boxes([], 100, 50, nothing_identifying=True)
    []
    >>> check_boxes([[95, 0, 10, 10]], 100, 50)
    Traceback (most recent call last):
    ...
    graphsvc.errors.Refused: boxes[0]: the box is not inside the photo (100 × 50 pixels)
    """
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _invalid("boxes", "boxes_list")
    if len(raw) > MAX_BOXES:
        raise _invalid("boxes", "boxes_many", max=MAX_BOXES)
    if not raw and not nothing_identifying:
        raise _invalid("boxes", "boxes_none")
    boxes = []
    for i, box in enumerate(raw):
        field = f"boxes[{i}]"
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
        ):
            raise _invalid(field, "box_shape")
        x, y, w, h = box
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
            raise _invalid(field, "box_outside", width=width, height=height)
        left, top = math.floor(x), math.floor(y)
        right, bottom = min(math.ceil(x + w), width), min(math.ceil(y + h), height)
        boxes.append((left, top, right - left, bottom - top))
    return boxes


def widened(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` widened outward to the 16-pixel grid of JPEG blocks, one block more on each
    side, within the image: what is filled.

    >>> widened((20, 20, 5, 5), 100, 100)
    (0, 0, 48, 48)
    """
    x, y, w, h = box
    left = max(0, (x // BLOCK - 1) * BLOCK)
    top = max(0, (y // BLOCK - 1) * BLOCK)
    right = min(width, (-(-(x + w) // BLOCK) + 1) * BLOCK)
    bottom = min(height, (-(-(y + h) // BLOCK) + 1) * BLOCK)
    return left, top, right - left, bottom - top


def apply_boxes(image: Image.Image, boxes: Iterable[tuple[int, int, int, int]]) -> Image.Image:
    """A copy of ``image`` (as RGB) with each box (widened: ``widened``) filled solid
    black: every pixel replaced, nothing of what was under it kept (no blur, no mosaic)."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    for box in boxes:
        x, y, w, h = widened(box, out.width, out.height)
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=FILL)
    return out


_cascade: Any = None


def _classifier() -> Any:
    global _cascade
    if _cascade is None:
        import cv2

        found = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)  # type: ignore[attr-defined]
        if found.empty():  # the package ships it: a missing file is a broken install
            raise RuntimeError(f"OpenCV's face cascade {CASCADE} cannot be loaded")
        _cascade = found
    return _cascade


def suggest_faces(image: Image.Image) -> list[list[int]]:
    """Boxes ``[x, y, w, h]`` (pixels of ``image``) over what OpenCV's frontal-face Haar
    cascade takes for faces: suggestions for a reviewer to confirm, remove or add to; a
    face it misses (profile, small, covered) is the reviewer's to box."""
    import cv2
    import numpy as np

    gray = image.convert("L")
    scale = min(1.0, FACE_SIDE / max(gray.width, gray.height))
    if scale < 1.0:
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))))
    pixels: numpy.ndarray = cv2.equalizeHist(np.asarray(gray, dtype=np.uint8))
    found = _classifier().detectMultiScale(pixels, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    boxes = []
    for x, y, w, h in found if len(found) else ():
        left, top = math.floor(x / scale), math.floor(y / scale)
        right = min(image.width, math.ceil((x + w) / scale))
        bottom = min(image.height, math.ceil((y + h) / scale))
        boxes.append([left, top, right - left, bottom - top])
    return sorted(boxes)


# --- the caption of a newsletter export -------------------------------------------------------


def _squeezed(text: str) -> str:
    """NFKC, case folded, without spaces, punctuation and symbols: "010 1234-5678" and
    "０１０１２３４５６７８" compare equal."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


def caption_names_identity(caption: str, values: Iterable[str]) -> bool:
    """Whether ``caption`` names any of ``values`` (names, code names, the household's
    code, phones, addresses), compared in squeezed forms; a phone by its digits (7 or
    more), an address also by any two of its words in a row ("상계로 1").

    >>> caption_names_identity("들 국 화 님과 함께", ["들국화"])
    True
    >>> caption_names_identity("상계로1 앞에서", ["서울 노원구 상계로 1"])
    True
    >>> caption_names_identity("성경 공부 모임", ["들국화", "010-1234-5678"])
    False
    """
    squeezed = _squeezed(caption)
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", caption))
    for value in values:
        value = (value or "").strip()
        if not value:
            continue
        value_digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", value))
        if len(value_digits) >= 7 and len(value_digits) >= len(_squeezed(value)) - 2:  # a phone
            if value_digits in digits:
                return True
            continue
        forms = [value]
        words = value.split()
        forms += [f"{a}{b}" for a, b in zip(words, words[1:], strict=False)]
        for form in forms:
            needle = _squeezed(form)
            if len(needle) >= 2 and needle in squeezed:
                return True
    return False


def newsletter_zip(image: bytes, mime: str, caption: str) -> bytes:
    """The newsletter export: the sanitized photo, its caption, and a small HTML page that
    shows them together; fixed file times (the archive says nothing of when it was made)."""
    name = "photo.png" if mime == "image/png" else "photo.jpg"
    page = (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>graphsvc</title></head><body>\n'
        f'<figure><img src="{name}" alt="" style="max-width:100%"><figcaption>{escape(caption)}</figcaption></figure>\n'
        "</body></html>\n"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, data in ((name, image), ("caption.txt", caption.encode()), ("newsletter.html", page.encode())):
            info = zipfile.ZipInfo(filename, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if filename == name else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


# --- what the policy needs ------------------------------------------------------------------


def _household(db: Database, subject: access.Subject, household_id: str, now: dt.datetime) -> access.HouseholdFacts:
    found = households.facts(db, subject, household_id, now)
    if found is None:  # a photo's household always exists; be safe all the same
        return access.HouseholdFacts(household_id, "")
    return found


def _photo(
    db: Database, subject: access.Subject, photo_id: str, now: dt.datetime
) -> tuple[dict[str, Any], access.PhotoFacts]:
    """The photo and its facts; 404 when there is none (same work as for one out of reach:
    the caller's check follows)."""
    if len(photo_id) > 64:
        raise _not_found(photo_id)
    row = db.read("photo_get", photo_id=photo_id)[0]
    if not row["exists"]:
        raise _not_found(photo_id)
    facts = access.PhotoFacts(
        row["id"], _household(db, subject, row["household_id"], now), row["uploader"], row["state"] == "sanitized"
    )
    return dict(row), facts


def _checked(db: Database, subject: access.Subject, photo_id: str, want: str, now: dt.datetime) -> dict[str, Any]:
    row, facts = _photo(db, subject, photo_id, now)
    decision = access.decide_photo(subject, want, facts)
    if not decision:
        raise _not_found(photo_id, why=decision.why)
    return row


def _sanitizable(
    db: Database, subject: access.Subject, photo_id: str, now: dt.datetime
) -> tuple[dict[str, Any], access.PhotoFacts]:
    """The photo, for a subject who may sanitize it; its uploader (who may see it) is told
    why not (403 ``own_photo``), anyone else 404."""
    row, facts = _photo(db, subject, photo_id, now)
    decision = access.decide_photo(subject, access.PHOTO_SANITIZE, facts)
    if not decision:
        if subject.username == row["uploader"] and access.decide_photo(subject, access.PHOTO_ORIGINAL, facts):
            raise Refused("forbidden", "the uploader may not sanitize", "photo_id", (row["id"],), code="own_photo")
        raise _not_found(photo_id, why=decision.why)
    return row, facts


def public_view(row: dict[str, Any], subject: access.Subject, facts: access.PhotoFacts) -> dict[str, Any]:
    """What a photo's metadata shows the caller (its uploader by name only to whom may see
    the original: reviewers and the uploader)."""
    sees_original = bool(access.decide_photo(subject, access.PHOTO_ORIGINAL, facts))
    return {
        "id": row["id"],
        "state": row["state"],
        "visit_id": row.get("visit_id"),
        "width": row["width"],
        "height": row["height"],
        "uploader": row["uploader"] if sees_original else None,
        "uploaded_at": _iso(row.get("uploaded_at")),
        "sanitized_at": _iso(row.get("sanitized_at")),
        "sanitized_by": row.get("sanitized_by") if sees_original else None,
        "variants": [v for v in ("original", "sanitized") if _has(row, v, subject, facts)],
    }


def _has(row: dict[str, Any], variant: str, subject: access.Subject, facts: access.PhotoFacts) -> bool:
    if variant == "sanitized" and row["state"] != "sanitized":
        return False
    return bool(access.decide_photo(subject, variant, facts))


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    native = value.to_native() if hasattr(value, "to_native") else value
    return str(native.isoformat())


# --- reads ----------------------------------------------------------------------------------


def get(db: Database, subject: access.Subject, photo_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A photo's metadata for someone who may see one of its variants; 404 otherwise."""
    now = now or _now()
    row, facts = _photo(db, subject, photo_id, now)
    shown = public_view(row, subject, facts)
    if not shown["variants"]:
        raise _not_found(photo_id, why="no variant the subject may see")
    shown["household_id"] = row["household_id"]
    return shown


def for_visit(db: Database, subject: access.Subject, visit_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The photos of a visit that the caller may see (any variant): ``{visit_id,
    household_id, photos, may_upload, upload_until}``. 404 when the caller may not read
    the visit's household. An unsanitized photo is left out of the list (and its count)
    for whoever may not see it."""
    now = now or _now()
    visit = _visit(db, visit_id)
    if visit is None:
        raise _not_found(visit_id, "visit_id", "no such visit")
    household = _household(db, subject, visit["household_id"], now)
    if not access.decide(subject, access.HOUSEHOLD_READ, household):
        raise _not_found(visit_id, "visit_id", "outside the subject's reach")
    shown = []
    for row in db.read("photos_of_visit", visit_id=visit_id):
        facts = access.PhotoFacts(row["id"], household, row["uploader"], row["state"] == "sanitized")
        view = public_view({**dict(row), "visit_id": visit_id}, subject, facts)
        if view["variants"]:
            shown.append(view)
    until = upload_until(visit)
    may_upload = (
        visit["author"] == subject.username
        and bool(access.decide(subject, access.VISIT_REPORT, household))
        and now <= until
    )
    return {
        "visit_id": visit_id,
        "household_id": visit["household_id"],
        "photos": shown,
        "may_upload": may_upload,
        "upload_until": until.isoformat(),
    }


def to_review(db: Database, subject: access.Subject, limit: int = 50) -> list[dict[str, Any]]:
    """The unsanitized photos a reviewer may sanitize (their districts; admins: all), oldest
    first; never a photo they uploaded. Empty for anyone else (and a duress session)."""
    if not access.role_may(subject, access.PHOTO_REVIEW) or access.in_duress(subject):
        return []
    rows = db.read("photos_to_review", districts=access.scope_districts(subject), limit=limit)
    return [
        {**dict(r), "uploaded_at": _iso(r["uploaded_at"]), "visited_on": _iso(r["visited_on"])}
        for r in rows
        if r["uploader"] != subject.username
        and access.decide(subject, access.PHOTO_REVIEW, access.HouseholdFacts(r["household_id"], r["district"]))
    ]


def read_file(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    subject: access.Subject,
    photo_id: str,
    variant: str = "sanitized",
    now: dt.datetime | None = None,
) -> tuple[bytes, str, dict[str, Any]]:
    """The bytes and type of one variant of a photo, and its row (the caller audits the
    read with the row's ids); 404 when the caller may not see that variant, 409 (code
    ``no_variant``) for a sanitized variant that does not exist yet."""
    if variant not in ("original", "sanitized"):
        raise Refused("invalid", "variant is original or sanitized", "variant")
    now = now or _now()
    row = _checked(db, subject, photo_id, variant, now)
    if variant == "original":
        data = filestore.read(settings, keyring, row["file_id"], kind=FILE_KIND, record_id=row["id"])
        return data, row["mime"], row
    if row["state"] != "sanitized" or not row["sanitized_file_id"]:
        raise Refused("conflict", "not sanitized yet", "variant", (row["id"],), code="no_variant")
    data = filestore.read(settings, keyring, row["sanitized_file_id"], kind=SANITIZED_KIND, record_id=row["id"])
    return data, row["sanitized_mime"], row


def review(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    subject: access.Subject,
    photo_id: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """What the review page shows: the photo's metadata and the suggested face boxes. 404
    unless the caller may sanitize it (a reviewer of its district, not its uploader)."""
    now = now or _now()
    row, facts = _sanitizable(db, subject, photo_id, now)
    shown = public_view(row, subject, facts)
    shown["household_id"] = row["household_id"]
    shown["household_code"] = row["household_code"]
    shown["suggestions"] = []
    if row["state"] != "sanitized":
        data = filestore.read(settings, keyring, row["file_id"], kind=FILE_KIND, record_id=row["id"])
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            shown["suggestions"] = suggest_faces(image)
    return shown


def _visit(db: Database, visit_id: str) -> dict[str, Any] | None:
    if len(visit_id) > 64:
        return None
    row = db.read("photo_visit", visit_id=visit_id)[0]
    return dict(row) if row["exists"] else None


def upload_until(visit: dict[str, Any]) -> dt.datetime:
    """Until when photos may be added to a visit: ``UPLOAD_DAYS`` after it was reported (or,
    for an imported visit without a report time, after its date)."""
    reported = visit.get("reported_at")
    if reported is not None:
        start = reported.to_native() if hasattr(reported, "to_native") else reported
    else:
        on = visit["visited_on"]
        on = on.to_native() if hasattr(on, "to_native") else on
        start = dt.datetime.combine(on, dt.time(23, 59, 59), tzinfo=dt.UTC)
    until: dt.datetime = start + dt.timedelta(days=UPLOAD_DAYS)
    return until


# --- writes -----------------------------------------------------------------------------------


def upload(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    visit_id: str,
    data: bytes,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Add a photo to a visit the subject reported: ``{id, state: "unsanitized", visit_id}``.
    404 unless the subject is the visit's reporter and may still report on its household;
    409 ``photo_late`` past ``UPLOAD_DAYS``, ``photo_limit`` past ``MAX_PER_VISIT``; 400
    (field ``file``) for anything the file pipeline refuses. Nothing is kept of a refusal."""
    if not access.role_may(subject, access.VISIT_REPORT):
        raise _not_found(visit_id, "visit_id", "not for this role")
    now = now or _now()
    visit = _visit(db, visit_id)
    household = _household(db, subject, visit["household_id"], now) if visit else None
    if (
        visit is None
        or household is None
        or visit["author"] != subject.username
        or not access.decide(subject, access.VISIT_REPORT, household)
    ):
        raise _not_found(visit_id, "visit_id", "not a visit this subject reported")
    if now > upload_until(visit):
        raise Refused("conflict", "past the upload window", "visit_id", (visit_id,), code="photo_late")
    clean = uploads.accept(data, field="file", limits=uploads.limits_of(settings))[0]  # images only (no PDF)
    photo_id = "ph-" + secrets.token_hex(8)

    with filestore.staging(settings, keyring) as stage:
        file_id = stage.put(clean.data, kind=FILE_KIND, record_id=photo_id)

        def work(tx: neo4j.ManagedTransaction) -> None:
            rows = db.run_in_tx(tx, "photo_visit_lock", visit_id=visit_id)
            if not rows or rows[0]["author"] != subject.username:
                raise _not_found(visit_id, "visit_id")
            if rows[0]["photos"] >= MAX_PER_VISIT:
                raise Refused("conflict", "too many photos", "visit_id", (visit_id,), code="photo_limit")
            db.run_in_tx(
                tx,
                "photo_create",
                visit_id=visit_id,
                household_id=rows[0]["household_id"],
                id=photo_id,
                uploader=subject.username,
                now=now,
                file_id=file_id,
                mime=clean.mime,
                width=clean.width,
                height=clean.height,
            )
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="photo.upload",
                targets=[photo_id, visit_id, rows[0]["household_id"]],
                detail=f"{clean.width}x{clean.height} {clean.mime}",
            )

        db.write_tx(work)
    return {"id": photo_id, "state": "unsanitized", "visit_id": visit_id}


def sanitize(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    photo_id: str,
    boxes: object,
    nothing_identifying: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Black out ``boxes`` on the photo and mark it sanitized: ``{id, state, boxes,
    sanitized_by, sanitized_at}``. 404 unless a reviewer of its district; 403 ``own_photo``
    for its uploader; 409 ``already_sanitized``; 400 naming ``boxes[i]``."""
    if not access.role_may(subject, access.PHOTO_REVIEW):
        raise _not_found(photo_id, why="not for this role")
    now = now or _now()
    row, facts = _sanitizable(db, subject, photo_id, now)
    if row["state"] == "sanitized":
        raise Refused("conflict", "already sanitized", "photo_id", (row["id"],), code="already_sanitized")
    parsed = check_boxes(boxes, row["width"], row["height"], nothing_identifying)
    original = filestore.read(settings, keyring, row["file_id"], kind=FILE_KIND, record_id=row["id"])
    with Image.open(io.BytesIO(original)) as image:
        image.load()
        blacked = apply_boxes(image, parsed)
    clean = _reencoded(blacked, parsed, uploads.limits_of(settings))

    with filestore.staging(settings, keyring) as stage:
        file_id = stage.put(clean.data, kind=SANITIZED_KIND, record_id=row["id"])

        def work(tx: neo4j.ManagedTransaction) -> None:
            locked = db.run_in_tx(tx, "photo_lock", photo_id=row["id"])
            if not locked:
                raise _not_found(photo_id)
            if locked[0]["state"] == "sanitized":  # another reviewer was first
                raise Refused("conflict", "already sanitized", "photo_id", (row["id"],), code="already_sanitized")
            db.run_in_tx(
                tx,
                "photo_set_sanitized",
                photo_id=row["id"],
                file_id=file_id,
                mime=clean.mime,
                username=subject.username,
                now=now,
                boxes=[v for box in parsed for v in box],
            )
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="photo.sanitize",
                targets=[row["id"], row["visit_id"], row["household_id"]],
                detail=f"{len(parsed)} boxes" if parsed else "nothing identifying (no box)",
            )

        db.write_tx(work)
    return {
        "id": row["id"],
        "state": "sanitized",
        "boxes": len(parsed),
        "sanitized_by": subject.username,
        "sanitized_at": now.isoformat(),
    }


def _caption(caption: object) -> str:
    """The caption: required plain text of at most CAPTION_MAX characters (records.text's
    rules: no control characters), or Refused invalid naming ``caption``."""
    out = records.Checked()
    text = records.text(out, {"caption": caption}, "caption", required=True)
    if out.problems or text is None:
        problems = tuple(out.problems) or (records.Problem("caption", "empty", {}),)
        raise Refused("invalid", problems[0].english(), "caption", problems=problems)
    return text


def _reencoded(
    blacked: Image.Image, boxes: Sequence[tuple[int, int, int, int]], limits: uploads.Limits
) -> uploads.Clean:
    """The blacked photo through the clean path (graphsvc/uploads.py: re-encoded, no
    metadata), checked: every pixel of every box must come back exactly black, or nothing is
    stored (RuntimeError: a failure, never a half-sanitized photo).

    The intermediate is a JPEG of quality 100 without chroma subsampling (a 12 MP PNG takes
    seconds to write and is over the upload's byte limit); the fill survives it and the clean
    path's re-encoding exactly because the boxes are widened to whole 16-pixel blocks."""
    buffer = io.BytesIO()
    blacked.save(buffer, "JPEG", quality=100, subsampling=0)
    made = buffer.getvalue()
    # the upload's size limit is for what people send: this file is made here, of a photo
    # that passed it (the pixel limit still holds)
    clean = uploads.clean_image(made, field="boxes", limits=replace(limits, max_bytes=max(limits.max_bytes, len(made))))
    import numpy as np

    with Image.open(io.BytesIO(clean.data)) as check:
        pixels = np.asarray(check.convert("RGB"))
    for x, y, w, h in boxes:
        if pixels[y : y + h, x : x + w].any():
            raise RuntimeError(f"the sanitized photo is not black inside the box {(x, y, w, h)}: not stored")
    return clean


def _identity_values(db: Database, keyring: Keyring, household_id: str) -> list[str]:
    """What a caption may not name: the household's code and id, and of each member the
    id, code name and decrypted legal name, phone and address."""
    row = db.read("photo_household_identity", household_id=household_id)[0]
    ring = personkeys.reader(db, keyring)
    values = [row["household_id"], row["household_code"]]
    for person in row["people"]:
        values += [person["id"], person["code_name"]]
        for field in ("legal_name", "phone", "address"):
            token = person[field]
            if token:
                plain = ring.decrypt(token, "Person", person["id"], field)
                if plain:
                    values.append(plain)
    return [v for v in values if v]


def newsletter(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    subject: access.Subject,
    actor: Actor,
    photo_id: str,
    caption: object,
    now: dt.datetime | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The newsletter export of a sanitized photo (``newsletter_zip``) and the photo's row.
    A reviewer of its district (the rule of sanitizing) only; 409 ``not_sanitized``; the
    caption (field ``caption``) is required, plain text, and may not name anyone of the
    photo's household. Audited (``photo.export``) in the same transaction as nothing else:
    the export writes nothing but its event."""
    if not access.role_may(subject, access.PHOTO_REVIEW):
        raise _not_found(photo_id, why="not for this role")
    now = now or _now()
    row, facts = _photo(db, subject, photo_id, now)
    if not access.decide(subject, access.PHOTO_REVIEW, facts.household):
        raise _not_found(photo_id, why="not a reviewer of the district")
    text = _caption(caption)
    if row["state"] != "sanitized":
        raise Refused("conflict", "not sanitized", "photo_id", (row["id"],), code="not_sanitized")
    if caption_names_identity(text, _identity_values(db, keyring, row["household_id"])):
        raise _invalid("caption", "caption_identity")
    data = filestore.read(settings, keyring, row["sanitized_file_id"], kind=SANITIZED_KIND, record_id=row["id"])
    archive = newsletter_zip(data, row["sanitized_mime"], text)

    def work(tx: neo4j.ManagedTransaction) -> None:
        audit.append_in_tx(
            tx,
            db,
            **actor.event(),
            action="photo.export",
            targets=[row["id"], row["visit_id"], row["household_id"]],
            detail=f"newsletter, caption of {len(text)} characters",
        )

    db.write_tx(work)
    return archive, row


# --- erasure --------------------------------------------------------------------------------


def shred_household_in_tx(tx: neo4j.ManagedTransaction, db: Database, household_id: str) -> list[str]:
    """Delete the photos of a household's visits (in the caller's transaction) and return
    their stored files' ids: the caller removes them once it committed
    (``remove_files``)."""
    rows = db.run_in_tx(tx, "photo_files_of_household", household_id=household_id)
    if rows:
        db.run_in_tx(tx, "photos_delete", ids=[r["id"] for r in rows])
    return [f for r in rows for f in (r["file_id"], r["sanitized_file_id"]) if f]


def remove_files_in(state_dir: Path, file_ids: Sequence[str]) -> int:
    """Remove the stored files of shredded photos from the files folder of ``state_dir``
    (config.Settings.files_dir: ``<state dir>/files``), for a caller that has the state
    folder at hand (graphsvc/erasure.py); how many there were."""
    removed = 0
    for file_id in file_ids:
        if filestore.is_file_id(file_id):
            try:
                (state_dir / "files" / file_id).unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def remove_files(settings: Settings, file_ids: Sequence[str]) -> int:
    """Remove the stored files of shredded photos (after the shredding committed)."""
    return filestore.remove_for(settings, file_ids)
