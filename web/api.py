"""The JSON API for scripts and the phone app: /api/v1, personal access tokens.

Errors are JSON with a message (guard.py); a household the caller may not see answers
404, as if it did not exist. Every answer that carries personal data is audited with the
ids it showed before it leaves.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request

from graphsvc import access, audit, visits

from . import coordinator, maps, views, visitor
from .guard import actor, allow, deny, heavy, record, record_shown
from .neo import get_db
from .args import AUDIT_FILTERS, audit_filters, int_arg, json_object, takes, text_arg

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/me")
@allow(access.SELF_READ)
def me():
    s = g.subject
    record("me.read", [s.username])
    return jsonify(username=s.username, role=s.role, districts=list(s.districts))


@bp.get("/households/<household_id>")
@allow(access.HOUSEHOLD_READ)
@takes("identity", "reason")
def household(household_id: str):
    reason = (request.args.get("reason") or "").strip()[:300] or None
    want = request.args.get("identity") in ("1", "true", "yes")
    shown = views.household_for(household_id, want, reason)
    return jsonify(shown)


@bp.get("/audit")
@allow(access.AUDIT_READ)
@takes(*AUDIT_FILTERS, "limit", "before_seq")
def audit_list():
    filters = audit_filters()
    limit = int_arg("limit", 500, 1, 1000)
    before = int_arg("before_seq", None, 1, 2**62)
    rows = audit.query(get_db(), limit=limit, before_seq=before, **filters)
    record("audit.read", detail=f"{len(rows)} events")
    # the next page: ?before_seq=<next_before_seq> with the same filters
    next_before = rows[-1]["seq"] if len(rows) == limit else None
    return jsonify(events=[views.plain(r) for r in rows], next_before_seq=next_before)


@bp.get("/audit/verify")
@allow(access.AUDIT_READ)
def audit_verify():
    result = audit.verify(get_db())
    record("audit.verify", outcome="ok" if result.ok else "failure", detail=result.problem)
    return jsonify(ok=result.ok, count=result.count, first_bad_seq=result.first_bad_seq,
                   problem=result.problem, seconds=round(result.seconds, 3))


# --- the network (coordinators and admins; their districts) --------------------------------


@bp.get("/network")
@allow(access.NETWORK_READ)
@takes(*maps.FILTER_ARGS, "depth")
@heavy
def network():
    """``?district=&root=&depth=&status=`` (and the map's other filters) → {nodes, edges, stats}.

    ``root`` is a household (id or code) to draw around, ``depth`` the hops (default 2);
    too many households for one map answer the overview (one node per chain and district).
    """
    args = request.args.to_dict()
    if "depth" in args:
        args["hops"] = args.pop("depth")
    filters = maps.parse_filters(args)
    result = maps.build(filters, g.subject)
    answer = maps.api_data(result)
    record_shown("network.read", answer, detail=f"api {result.mode}: {len(answer['nodes'])} nodes")
    return jsonify(answer)


@bp.get("/chains")
@allow(access.NETWORK_READ)
@takes("district")
@heavy
def chains():
    """One entry per chain in the caller's districts: seed (the first household, null when
    it lies in another district), a household of the chain in scope, size (people),
    depth, households, unvisited. Largest first."""
    filters = maps.parse_filters({"district": request.args.get("district", "")})
    scope = maps.authorise(g.subject, filters)
    db = get_db()
    params = maps.chain_params(filters, scope)
    rows = db.read("map_groups", **params)[0]["rows"]
    merged: dict[str, dict] = {}
    for district, chain, households, unvisited, people, depth, sample in rows:
        c = merged.setdefault(chain, {"root": chain, "households": 0, "unvisited": 0, "size": 0,
                                      "depth": 0, "chain_of": sample, "districts": []})
        c["households"] += households
        c["unvisited"] += unvisited
        c["size"] += people
        c["depth"] = max(c["depth"], depth)
        c["chain_of"] = min(c["chain_of"], sample)
        c["districts"].append(district)
    roots = {r["id"]: r for r in db.read("map_chain_labels", ids=sorted(merged))}
    out = []
    for chain in sorted(merged.values(), key=lambda c: (-c["households"], c["chain_of"])):
        root = roots.get(chain.pop("root"))
        visible = root is not None and scope.covers(root["district"])
        chain["seed"] = root["id"] if visible else None
        chain["seed_code"] = root["code"] if visible else None
        chain["seed_code_name"] = root["code_name"] if visible else None
        chain["seed_person_id"] = root["person_id"] if visible else None  # whose code name that is
        chain["districts"] = sorted(chain["districts"])
        out.append(chain)
    record_shown("network.chains", out, detail=f"{len(out)} chains")
    return jsonify(chains=out)


@bp.get("/people/<person_id>/chain")
@allow(access.NETWORK_READ)
def person_chain(person_id: str):
    """``{id, seed, wave, path}``: the introduction path from the seed to the person. The
    person must be in the caller's districts (else 404); people on the path who are not
    are null (their place in the path is kept, nothing about them is said)."""
    if len(person_id) > 64:
        abort(404)
    scope = maps.authorise(g.subject, maps.MapFilters())
    rows = get_db().read("person_chain", id=person_id)
    path = rows[0]["path"] if rows else []
    if not path or not scope.covers(path[-1][3]):
        deny(access.NETWORK_READ, [person_id], 404, "no such person in scope")
    shown = [{"id": pid, "code_name": name, "household_id": hid} if scope.covers(district) else None
             for pid, name, hid, district in path]
    answer = {"id": person_id, "seed": shown[0]["id"] if shown[0] else None, "wave": len(path) - 1,
              "path": [p["id"] if p else None for p in shown], "people": shown}
    record_shown("network.person_chain", answer)
    return jsonify(answer)


@bp.get("/unvisited")
@allow(access.NETWORK_READ)
@takes("district", "limit")
@heavy
def unvisited():
    """Active households never visited, longest waiting first: ``?district=&limit=``."""
    district = text_arg("district")
    rows = coordinator.unvisited_rows(district, int_arg("limit", 500, 1, 10_000))
    record_shown("network.unvisited", rows, detail=f"api: {len(rows)} households")
    return jsonify(households=rows)


# --- the visitor's field work --------------------------------------------------------------


@bp.get("/suggestions")
@allow(access.SUGGESTIONS_READ)
@takes("limit")
def suggestions():
    """``?limit=N`` → best first: {household_id, code, district, score, reasons, path}.

    ``reasons`` are in plain words (the request's language); ``reason_codes`` the same as
    data; ``path`` the person ids along the introduction path that makes it warm (empty
    when none does).
    """
    return jsonify(suggestions=visitor.suggestions_answer(g.subject, int_arg("limit", 10, 1, 50)))


def _visit_error(error: visits.VisitError, household_id: str | None, action: str):
    visitor.refused(error, household_id, action)
    return jsonify(error=str(error), field=error.field, code=error.code, status=error.status), error.status


@bp.post("/households/<household_id>/claim")
@allow(access.HOUSEHOLD_CLAIM)
def claim(household_id: str):
    """200 with the claim for the visitor who gets it; 409 when another visitor holds it."""
    try:
        result = visits.claim(get_db(), g.subject, actor(), household_id)
    except visits.VisitError as error:
        return _visit_error(error, household_id, "household.claim")
    return jsonify(household_id=result.household_id, claim_id=result.claim_id,
                   expires_at=result.expires_at.isoformat(), renewed=result.renewed)


@bp.post("/households/<household_id>/release")
@allow(access.HOUSEHOLD_CLAIM)
def release(household_id: str):
    try:
        claim_id = visits.release(get_db(), g.subject, actor(), household_id)
    except visits.VisitError as error:
        return _visit_error(error, household_id, "household.release")
    return jsonify(household_id=household_id, claim_id=claim_id, released=True)


@bp.post("/visits")
@allow(access.VISIT_REPORT)
def visit_report():
    """A visit report (JSON named as visits.csv): 201 with the visit's id."""
    body = json_object()
    try:
        visit_id = visits.report(get_db(), current_app.extensions["graphsvc_keyring"], g.subject, actor(), body,
                                 after_write=visitor.after_visit(get_db()))
    except visits.VisitError as error:
        return _visit_error(error, body.get("household_id") if isinstance(body, dict) else None, "visit.report")
    return jsonify(id=visit_id), 201
