"""The admin's erasure page (web/erasure.py), what pages, APIs and exports answer after an
erasure, and the rule that audit events carry ids, never identity."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import zipfile
from html import unescape
from pathlib import Path

from graphsvc import audit

from .helpers import api, csrf, events, sign_in, snapshot

FIXTURE = Path(__file__).parent / "fixtures" / "small"
REASON = "본인이 삭제를 요청함"
# h-001's identity (tests/fixtures/small): its members' names, phone, address, code names, notes
ERASED = ("김영희", "010-1234-5678", "01012345678", "상계로 1", "박철수", "들국화", "새벽별", "아이들이 학교에")


def signed_in(app, username: str):
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def erase_form(client, path: str, reason: str | None, lang: str = "ko"):
    data = {"csrf_token": csrf(client, path), "idempotency_key": secrets.token_urlsafe(12)}
    if reason is not None:
        data["reason"] = reason
    return client.post(f"{path}?lang={lang}", data=data)


def test_the_page_shows_counts_not_identity_and_refuses_without_a_reason(app, world):
    client = signed_in(app, "admin")
    page = client.get("/admin/erase/household/h-001?lang=en")
    assert page.status_code == 200
    body = text(page)
    assert "Erase a household" in body and "H-001" in body and "People erased" in body
    assert not [v for v in ERASED if v in body]
    assert "지워진 사람" in text(client.get("/admin/erase/household/h-001?lang=ko"))
    before = snapshot(world)
    # no CSRF token: refused, nothing erased
    assert client.post("/admin/erase/household/h-001", data={"reason": REASON}).status_code == 400
    # no reason, a short one, one that names the person: 400 naming the reason, nothing erased
    for reason, words in (
        (None, "stated reason"),
        ("삭제", "at least two words"),
        ("김영희 님 요청으로 삭제", "write why, not who"),
    ):
        refused = erase_form(client, "/admin/erase/household/h-001", reason, lang="en")
        assert refused.status_code == 400 and "Reason:" in text(refused) and words in text(refused)
    assert snapshot(world) == before and not events(world, action="erased")
    assert client.get("/admin/erase/person/p-999").status_code == 404
    assert client.get("/admin/erase/thing/p-001").status_code == 404


def test_only_admins_erase(app, world):
    coord = signed_in(app, "coord")
    assert coord.get("/admin/erase/household/h-001").status_code in (403, 404)
    token = csrf(coord, "/households/h-001")
    assert coord.post("/admin/erase/household/h-001", data={"csrf_token": token, "reason": REASON}).status_code in (
        403,
        404,
    )
    assert not events(world, action="erased")


def test_after_an_erasure_no_page_api_or_export_holds_the_identity(app, world):
    client = signed_in(app, "admin")
    assert "이 가정 삭제" in text(client.get("/households/h-001"))  # the way in, for admins
    done = erase_form(client, "/admin/erase/household/h-001", REASON)
    assert done.status_code == 200 and "삭제했습니다" in text(done)
    again = client.get("/admin/erase/household/h-001")
    assert again.status_code == 409 and "이미 삭제된" in text(again)
    assert audit.verify(world).ok
    answers = {}
    reveal = {"csrf_token": csrf(client, "/households/h-001"), "reason": "방문 전 주소 확인"}
    answers["identity page"] = client.post("/households/h-001/identity", data=reveal)
    for path in (
        "/",
        "/households/h-001",
        "/households/h-002",
        "/admin/audit",
        "/unvisited",
        "/dispatch",
        "/intake",
        "/map",
        "/admin/users",
    ):
        answers[path] = client.get(path)
    call = api(app, "admin")
    for path in (
        "/api/v1/households/h-001?identity=1&reason=방문%20전%20주소%20확인",
        "/api/v1/households/h-002?identity=1&reason=방문%20전%20주소%20확인",
        "/api/v1/network",
        "/api/v1/chains",
        "/api/v1/people/p-001/chain",
        "/api/v1/people/p-003/chain",
        "/api/v1/audit",
        "/api/v1/unvisited",
        "/api/v1/dispatch",
    ):
        answers[path] = call(path)
    export = client.post(
        "/export", data={"csrf_token": csrf(client, "/export"), "identity": "1", "reason": "연말 보고서 주소 확인"}
    )
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.get_data())) as archive:
        exported = "".join(archive.read(n).decode("utf-8-sig") for n in archive.namelist())
    assert "이순자" in exported  # the others are still there, decrypted
    leaks = {name: [v for v in ERASED if v in text(r)] for name, r in answers.items()}
    leaks["export"] = [v for v in ERASED if v in exported]
    assert not {k: v for k, v in leaks.items() if v}, leaks
    assert all(r.status_code < 500 for r in answers.values()), {k: r.status_code for k, r in answers.items()}
    # the chain still has its placeholders: p-001 introduced p-003
    chain = json.dumps(call("/api/v1/people/p-003/chain").get_json(), ensure_ascii=False)
    assert "p-001" in chain


def _identity_values() -> set[str]:
    """Every identity value of the small network (names, phones with and without separators,
    addresses) and every visit note: what no audit event may hold."""
    values: set[str] = set()
    with (FIXTURE / "people.csv").open(encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            for field in ("legal_name", "phone", "address"):
                if row[field]:
                    values.add(row[field])
            if row["phone"]:
                values.add(re.sub(r"\D", "", row["phone"]))
    with (FIXTURE / "visits.csv").open(encoding="utf-8-sig") as f:
        values |= {row["notes"] for row in csv.DictReader(f) if row["notes"]}
    return values


def test_no_audit_event_holds_identity(app, world):
    """Every property of every AuditEvent, after a run of imports (the fixture), reads,
    identity reveals, writes with identity, an identity export and an erasure, is scanned
    for identity values. Code names are pseudonyms: a change of one is recorded as
    "code_name: old → new" (households.py), so they are not scanned for; ids are the rule."""
    client = signed_in(app, "admin")
    added = ("황보새롬", "010-8765-4321", "01087654321", "서울 노원구 비밀길 77")
    client.get("/households/h-001")
    client.post(
        "/households/h-001/identity",
        data={"csrf_token": csrf(client, "/households/h-001"), "reason": "방문 전 주소 확인"},
    )
    call = api(app, "admin")
    call("/api/v1/households/h-002?identity=1&reason=방문%20전%20주소%20확인")
    added_member = call(
        "/api/v1/households/h-002/members",
        method="POST",
        json={"code_name": "새롬", "legal_name": added[0], "phone": added[1], "address": added[3]},
        headers={"Idempotency-Key": "scan-add-1"},
    )
    assert added_member.status_code in (200, 201), added_member.get_data(as_text=True)
    client.post(
        "/export", data={"csrf_token": csrf(client, "/export"), "identity": "1", "reason": "연말 보고서 주소 확인"}
    )
    assert erase_form(client, "/admin/erase/household/h-001", REASON).status_code == 200
    assert erase_form(client, "/admin/erase/household/h-001", "김영희 님 요청으로 삭제").status_code == 409
    rows = world.read("test_every_audit_event")
    assert {"erased", "export", "household.identity.read"} <= {r["props"]["action"] for r in rows}
    values = _identity_values() | set(added)
    hits = [
        (r["seq"], key, value)
        for r in rows
        for key, stored in r["props"].items()
        for value in values
        if value in json.dumps(stored, ensure_ascii=False, default=str)
    ]
    assert not hits, hits
