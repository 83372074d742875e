"""The JSON API for scripts and the phone app: /api/v1, personal access tokens.

Errors are JSON with a message (guard.py); a household the caller may not see answers
404, as if it did not exist. Every answer that carries personal data is audited with the
ids it shows before it leaves. Each route parses its arguments, calls the core (directly or
through web/answers.py and web/mapview.py, shared with the pages) and answers.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from graphsvc import access, audit, mapping, visits
from graphsvc.model import plain

from . import answers, mapview
from . import auditsearch as auditsearch_web
from .args import AUDIT_FILTERS, flag_arg, int_arg, json_object, parse_filters, takes, text_arg
from .guard import actor, allow, audit_request, audit_shown, heavy
from .idem import idempotent
from .neo import get_db

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _follow_up_days() -> int:
    return current_app.config["GRAPHSVC_SETTINGS"].follow_up_days


@bp.get("/me")
@allow(access.SELF_READ)
def me():
    s = g.subject
    audit_request("me.read", [s.username])
    return jsonify(username=s.username, role=s.role, districts=list(s.districts))


@bp.get("/households/<household_id>")
@allow(access.HOUSEHOLD_READ)
@takes("identity", "reason")
def household(household_id: str):
    reason = text_arg("reason", 300)
    return jsonify(answers.household(household_id, flag_arg("identity"), reason))


@bp.get("/audit")
@allow(access.AUDIT_READ)
@takes(*AUDIT_FILTERS, "limit", "before_seq", "after_seq")
def audit_list():
    # target: an id, household code or code name; keyset pages (web/auditsearch.py)
    return auditsearch_web.api_events()


@bp.get("/audit/verify")
@allow(access.AUDIT_READ)
def audit_verify():
    result = audit.verify(get_db())
    audit_request("audit.verify", outcome="ok" if result.ok else "failure", detail=result.problem)
    return jsonify(
        ok=result.ok,
        count=result.count,
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
        seconds=round(result.seconds, 3),
    )


# --- the network (coordinators and admins; their districts) --------------------------------


@bp.get("/network")
@allow(access.NETWORK_READ)
@takes(*mapping.FILTER_ARGS, "depth")
@heavy
def network():
    """``?district=&root=&depth=&status=`` (and the map's other filters) → {nodes, edges, stats}.

    ``root`` is a household (id or code) to draw around, ``depth`` the hops (default 2);
    too many households for one map answer the overview (one node per chain and district).
    """
    result = mapping.build(get_db(), g.subject, parse_filters(), _follow_up_days())
    answer = mapview.api_data(result)
    audit_shown("network.read", answer, detail=f"api {result.mode}: {len(answer['nodes'])} nodes")
    return jsonify(answer)


@bp.get("/chains")
@allow(access.NETWORK_READ)
@takes("district")
@heavy
def chains():
    """One entry per chain in the caller's districts (graphsvc.mapping.chains)."""
    out = mapping.chains(get_db(), g.subject, text_arg("district"), _follow_up_days())
    audit_shown("network.chains", out, detail=f"{len(out)} chains")
    return jsonify(chains=out)


@bp.get("/people/<person_id>/chain")
@allow(access.NETWORK_READ)
def person_chain(person_id: str):
    """``{id, seed, wave, path, people}``: the introduction path from the seed to the person;
    people on the path outside the caller's districts are null."""
    answer = mapping.person_chain(get_db(), g.subject, person_id)
    audit_shown("network.person_chain", answer)
    return jsonify(answer)


@bp.get("/unvisited")
@allow(access.NETWORK_READ)
@takes("district", "limit")
@heavy
def unvisited():
    """Active households never visited, longest waiting first: ``?district=&limit=``."""
    rows = plain(mapping.unvisited(get_db(), g.subject, text_arg("district"), int_arg("limit", 500, 1, 10_000)))
    audit_shown("network.unvisited", rows, detail=f"api: {len(rows)} households")
    return jsonify(households=rows)


# --- the visitor's field work --------------------------------------------------------------


@bp.get("/suggestions")
@allow(access.SUGGESTIONS_READ)
@takes("limit")
def suggestions():
    """``?limit=N`` → best first: {household_id, code, district, score, reasons, reason_codes,
    path}: ``reasons`` in plain words (the request's language), ``reason_codes`` the same as
    data, ``path`` the person ids of the introduction path that makes it warm."""
    return jsonify(suggestions=answers.suggestions(g.subject, int_arg("limit", 10, 1, 50)))


@bp.post("/households/<household_id>/claim")
@allow(access.HOUSEHOLD_CLAIM)
@idempotent
def claim(household_id: str):
    """200 with the claim for the visitor who gets it; 409 when another visitor holds it
    (code ``claimed``) or the caller holds as many live claims as allowed (``claim_limit``)."""
    result = answers.claim(household_id)
    return jsonify(
        household_id=result.household_id,
        claim_id=result.claim_id,
        expires_at=result.expires_at.isoformat(),
        renewed=result.renewed,
    )


@bp.post("/households/<household_id>/release")
@allow(access.HOUSEHOLD_CLAIM)
def release(household_id: str):
    claim_id = visits.release(get_db(), g.subject, actor(), household_id)
    return jsonify(household_id=household_id, claim_id=claim_id, released=True)


@bp.get("/households/<household_id>/contact")
@allow(access.HOUSEHOLD_CONTACT_READ)
def household_contact(household_id: str):
    """Where to go, while the caller holds a live claim on the household: ``{household_id,
    code, contact_code_name, address, phone, claim_id, claim_expires_at}`` (no-store);
    404 otherwise; 429 past the daily number of households (GRAPHSVC_CONTACT_REVEALS_PER_DAY)."""
    return jsonify(answers.contact(household_id))


@bp.post("/visits")
@allow(access.VISIT_REPORT)
@idempotent
def visit_report():
    """A visit report (JSON named as visits.csv; the household by id or code) and what it
    brought back (``met``, ``new_members``, ``introductions``: graphsvc/records.py
    visit_report): 201 with the ids of everything it wrote."""
    done = answers.report(json_object())
    return jsonify(
        id=done.visit_id,
        household_id=done.household_id,
        new_members=list(done.new_members),
        introductions=[{"household_id": h, "person_id": p} for h, p in done.introductions],
    ), 201
