"""The materials ledger's page (/materials) and API (graphsvc/materials.py).

Thin: each view parses its form, body or arguments, calls graphsvc/materials.py, records
what its answer shows (guard.audit_shown) and renders. Refusals are answered like every
other (web/guard.py): 400 naming the field, 409 when the stock or a holding is short.
The "My materials" box of a field worker's page is ``my_materials()`` in the templates.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from graphsvc import access, materials
from graphsvc.errors import Refused
from graphsvc.model import plain

from . import answers, guard
from .args import date_arg, json_object, takes, text_arg
from .guard import actor, allow, audit_refusal, audit_shown, signed_in
from .idem import idempotent
from .neo import get_db

bp = Blueprint("materials", __name__)
api_bp = Blueprint("materials_api", __name__, url_prefix="/api/v1")

KIND_NAMES = {
    "received": _l("Received into stock"),
    "issued": _l("Issued to a holder"),
    "given": _l("Given at a visit"),
    "returned": _l("Returned to stock"),
    "written_off": _l("Written off"),
    "correction": _l("Correction"),
}
DONE = {"recorded": _l("The movement is recorded."), "item": _l("The item is added.")}
FORM_FIELDS = ("kind", "item", "qty", "holder", "on", "reason", "corrects")


def _item_label(item: dict[str, str]) -> str:
    return item["label_ko"] if str(get_locale()) == "ko" else item["label_en"]


def _labels() -> dict[str, str]:
    return {i["key"]: _item_label(i) for i in materials.items(get_db())}


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    def my_materials() -> list[dict[str, Any]]:
        """The signed-in field worker's holding now (graphsvc/materials.py own_holding)."""
        subject = g.get("subject")
        if subject is None:
            return []
        labels = _labels()
        return [{**b, "label": labels.get(b["item"], b["item"])} for b in materials.own_holding(get_db(), subject)]

    def desk_discrepancies() -> list[dict[str, Any]]:
        """The coordinator's desk: materials given beyond what the reporter held, still
        open, of households of their districts (audited with the ids that leave)."""
        subject = g.get("subject")
        if subject is None or not access.role_may(subject, access.MATERIALS_MANAGE) or access.in_duress(subject):
            return []
        found = materials.discrepancies(get_db(), access.scope_districts(subject))
        kept = {h["username"] for h in materials.holders(get_db(), subject)}
        found = [d for d in found if d["holder"] in kept]
        if found:
            audit_shown("materials.discrepancies.read", found, detail=f"{len(found)} discrepancies")
        labels = _labels()
        return [{**d, "label": labels.get(d["item"], d["item"])} for d in found]

    return {"my_materials": my_materials, "desk_discrepancies": desk_discrepancies, "material_kinds": KIND_NAMES}


def _page(error: str | None = None, status: int = 200, form: dict[str, str] | None = None):
    on = date_arg("on") if request.method == "GET" else None
    today = answers.today()
    if on is not None and on > today:
        on = today
    view = materials.ledger(get_db(), g.subject, on)
    audit_shown(
        "materials.read",
        view,
        detail=f"{len(view['holders'])} holders, {len(view['recent'])} movements"
        + (f"; on {on.isoformat()}" if on else ""),
    )
    labels = {i["key"]: _item_label(i) for i in view["items"]}
    done = request.args.get("done") if request.method == "GET" else None
    return render_template(
        "materials.html",
        view=view,
        labels=labels,
        today=today,
        on=on,
        error=error,
        notice=DONE.get(done or ""),
        form=form or {},
        kinds={k: KIND_NAMES[k] for k in materials.RECORDABLE},
    ), status


@bp.get("/materials")
@allow(access.MATERIALS_MANAGE)
@takes("on", "done")
def ledger_page():
    return _page()


def _form_refused(refused: Refused):
    audit_refusal(refused)
    if refused.kind in ("not_found", "forbidden"):
        abort(guard.REFUSAL_STATUS[refused.kind])
    return _page(guard.refusal_message(refused), guard.REFUSAL_STATUS[refused.kind], request.form.to_dict())


@bp.post("/materials/movements")
@allow(access.MATERIALS_MANAGE)
@idempotent
def movement_form():
    body: dict[str, Any] = {k: v for k in FORM_FIELDS if (v := request.form.get(k, "").strip())}
    if str(body.get("qty", "")).isascii() and str(body.get("qty", "")).isdigit():
        body["qty"] = int(body["qty"])
    try:
        materials.record(get_db(), g.subject, actor(), body, answers.today())
    except Refused as refused:
        return _form_refused(refused)
    return redirect(url_for("materials.ledger_page", done="recorded"))


@bp.post("/materials/items")
@allow(access.MATERIALS_ITEMS)
@idempotent
def item_form():
    body = {k: request.form.get(k, "") for k in ("key", "label_en", "label_ko")}
    try:
        materials.add_item(get_db(), g.subject, actor(), body)
    except Refused as refused:
        return _form_refused(refused)
    return redirect(url_for("materials.ledger_page", done="item"))


# --- the API -------------------------------------------------------------------------------


@api_bp.post("/materials/movements")
@allow(access.MATERIALS_MANAGE)
@idempotent
def record_movement():
    """``{"kind": received|issued|returned|written_off|correction, "item", "qty", "holder",
    "on", "reason", "corrects"}`` → 201, the movement."""
    body = json_object()
    done = materials.record(get_db(), g.subject, actor(), body, answers.today())
    return jsonify(plain(done)), 201


@api_bp.get("/materials/balances")
@signed_in
@takes("holder", "on")
def balances():
    """Balances on ``on`` (default today): a keeper's stock and holders (``holder``: one),
    a field worker's own."""
    holder = text_arg("holder", limit=64)
    on = date_arg("on")
    today = answers.today()
    if on is not None and on > today:
        raise Refused("invalid", f"on {on.isoformat()} is in the future", "on")
    found = materials.balances_for(get_db(), g.subject, holder, on or today)
    answer = {"on": (on or today).isoformat(), "balances": found}
    audit_shown("materials.read", answer, detail=f"{len(found)} balances" + (f" of {holder}" if holder else ""))
    return jsonify(plain(answer))
