"""The household desk's API twins (/api/v1, personal access tokens): the same services as
the desk's forms (graphsvc/desk.py), JSON in and out. Bodies are checked by the record
layer: an unknown key, a wrong type or odd text answers 400 naming the field, and nothing
is written. Every write is audited by the service, in its own transaction.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from graphsvc import access, desk
from graphsvc.model import plain

from .args import json_object
from .guard import actor, allow
from .idem import idempotent
from .neo import get_db

bp = Blueprint("desk_api", __name__, url_prefix="/api/v1")


def _keyring():
    return current_app.extensions["graphsvc_keyring"]


@bp.post("/households")
@allow(access.HOUSEHOLD_WRITE)
@idempotent
def create_household():
    """``{district, code?, arrived_on?, status?, women_only?}`` → 201 ``{id, code}``."""
    return jsonify(desk.create_household(get_db(), g.subject, actor(), json_object())), 201


@bp.patch("/households/<household_id>")
@allow(access.HOUSEHOLD_WRITE)
def edit_household(household_id: str):
    """``{status?, status_reason?, women_only?, arrived_on?}`` → ``{id, changed}``."""
    changed = desk.edit_household(get_db(), g.subject, actor(), household_id, json_object())
    return jsonify(id=household_id, changed=plain(changed))


@bp.post("/households/<household_id>/transfer")
@allow(access.HOUSEHOLD_WRITE)
def transfer(household_id: str):
    """``{district, reason?}`` → ``{id, code, from, to}``."""
    return jsonify(desk.transfer(get_db(), g.subject, actor(), household_id, json_object()))


@bp.post("/households/<household_id>/members")
@allow(access.HOUSEHOLD_WRITE)
@idempotent
def add_member(household_id: str):
    """``{code_name, legal_name?, phone?, address?}`` → 201 ``{id, household_id}``."""
    pid = desk.add_member(get_db(), _keyring(), g.subject, actor(), household_id, json_object())
    return jsonify(id=pid, household_id=household_id), 201


@bp.patch("/people/<person_id>")
@allow(access.HOUSEHOLD_WRITE)
def edit_person(person_id: str):
    """``{code_name?, legal_name?, phone?, address?}`` → ``{id, changed}`` (field names)."""
    changed = desk.edit_member(get_db(), _keyring(), g.subject, actor(), person_id, json_object())
    return jsonify(id=person_id, changed=changed)


@bp.post("/people/<person_id>/move")
@allow(access.HOUSEHOLD_WRITE)
def move_person(person_id: str):
    """``{household: id or code}`` → ``{id, household_id}``."""
    hid = desk.move_member(get_db(), g.subject, actor(), person_id, json_object())
    return jsonify(id=person_id, household_id=hid)


@bp.put("/people/<person_id>/introducer")
@allow(access.HOUSEHOLD_WRITE)
def set_introducer(person_id: str):
    """``{introducer: id | null, on?, relation?, replaces?}`` → ``{id, introducer}``; 409
    ``cycle`` or ``second_introducer`` naming the people the caller may know."""
    body = json_object()
    desk.change_introducer(get_db(), g.subject, actor(), person_id, body)
    return jsonify(id=person_id, introducer=body.get("introducer"))
