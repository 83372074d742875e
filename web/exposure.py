"""The exposure of a lost phone or a compromised account (issue 15 §4), for admins:
``/admin/exposure?user=Y&since=D`` (the page and its CSV) and ``GET /api/v1/exposure``.

The core is graphsvc/exposure.py; each answer is audited with the ids it shows (read from
the answer itself, graphsvc/shown.py), the CSV as an event of its own.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l

from graphsvc import access, csvio, exposure
from graphsvc.errors import Refused

from .args import BadField, date_arg, takes, text_arg
from .guard import allow, audit_shown, heavy
from .neo import get_db

bp = Blueprint("exposure", __name__, url_prefix="/admin")
api_bp = Blueprint("exposure_api", __name__, url_prefix="/api/v1")

ARGS = ("user", "since")
PROBLEMS = {
    "user_missing": _l("choose an account"),
    "user_invalid": _l("not a username (2 to 32 characters: a-z, 0-9, '.', '_', '-')"),
}
LEVEL_NAMES = {
    "contact": _l("Contact revealed"),
    "identity": _l("Identity shown"),
    "shown": _l("Code shown"),
    "linked": _l("Linked"),
}


def _report(required: bool = True) -> dict[str, Any] | None:
    """The report the request asks for (None: the page without a user asks for none yet);
    BadField naming ``user`` or ``since`` for a malformed one, the core's refusal (404 for
    an unknown account) else."""
    user = text_arg("user", 64)
    since = date_arg("since")
    if user is None and not required:
        return None
    try:
        return exposure.report(get_db(), user, since)
    except Refused as refused:
        if refused.kind == "invalid" and refused.code in PROBLEMS:
            raise BadField(refused.field or "user", str(PROBLEMS[refused.code])) from None
        raise


def _labels(answer: dict[str, Any]) -> dict[str, str]:
    """What a person is linked through, in words: ``{via_id: code name or household code}``."""
    names: dict[str, str] = {}
    for group in answer["districts"]:
        for h in group["households"]:
            if h["id"]:
                names[h["id"]] = h["code"] or h["id"]
            for p in h["people"]:
                names[p["id"]] = p["code_name"] or p["id"]
    return names


def _default_since() -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=exposure.DEFAULT_DAYS)).isoformat()


@bp.get("/exposure")
@allow(access.AUDIT_READ)
@takes(*ARGS)
@heavy
def exposure_page():
    answer = _report(required=False)
    if answer is not None:
        audit_shown(
            exposure.ACTION,
            answer,
            detail=f"{answer['user']} since {answer['since']}: {answer['totals']['households']} households",
        )
    return render_template(
        "exposure.html",
        answer=answer,
        user=request.args.get("user", "")[:64],
        since=request.args.get("since", "")[:10] or _default_since(),
        names=_labels(answer) if answer else {},
        hids={h["id"] for g in answer["districts"] for h in g["households"]} if answer else set(),
        levels=LEVEL_NAMES,
    )


@bp.get("/exposure.csv")
@allow(access.AUDIT_READ)
@takes(*ARGS)
@heavy
def exposure_csv():
    answer = _report()
    assert answer is not None
    rows = exposure.csv_rows(answer)
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheets read Korean as UTF-8 with a BOM
    writer = csvio.writer(out, lineterminator="\r\n")  # every cell spreadsheet-safe
    writer.writerow(exposure.CSV_COLUMNS)
    for row in rows:
        writer.writerow(row)
    # the ids that leave in the file: its household and person columns
    left = [{"household_id": r[2], "person_id": r[5]} for r in rows]
    audit_shown(exposure.EXPORT_ACTION, left, detail=f"{answer['user']} since {answer['since']}: {len(rows)} rows")
    return Response(
        out.getvalue(),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="exposure-{answer["user"]}-{answer["since"]}.csv"'},
    )


@api_bp.get("/exposure")
@allow(access.AUDIT_READ)
@takes(*ARGS)
@heavy
def exposure_api():
    answer = _report()
    assert answer is not None
    audit_shown(
        exposure.ACTION,
        answer,
        detail=f"api: {answer['user']} since {answer['since']}: {answer['totals']['households']} households",
    )
    return jsonify(answer)
