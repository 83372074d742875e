"""Odd input never answers 500: it answers 400 naming the field, and changes nothing."""

from __future__ import annotations

from .helpers import PASSWORD, api, csrf, events, sign_in


def test_unicode_digits_in_a_number_argument(app):
    call = api(app, "coord")
    for value in ("²", "١٢", "５"):
        response = call(f"/api/v1/unvisited?limit={value}")
        assert response.status_code == 400 and response.json["field"] == "limit", value


def test_a_date_at_the_end_of_time(app):
    response = api(app, "admin")("/api/v1/audit?until=9999-12-31")
    assert response.status_code == 400 and response.json["field"] == "until"


def test_deeply_nested_json(app, world):
    body = "[" * 100_000 + "]" * 100_000
    response = api(app, "minji")(
        "/api/v1/visits", method="POST", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_a_lone_surrogate_in_notes(app, world):
    body = '{"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "notes": "a\\ud800b"}'
    response = api(app, "minji")(
        "/api/v1/visits", method="POST", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json["field"] == "notes"


def test_a_nul_in_notes_is_refused_as_the_importer_refuses_it(app, world):
    response = api(app, "minji")(
        "/api/v1/visits",
        method="POST",
        json={"household_id": "h-001", "visited_on": "2026-01-02", "outcome": "met", "notes": "a\x00b"},
    )
    assert response.status_code == 400 and response.json["field"] == "notes"


def test_a_line_break_in_next(app, world):
    client = app.test_client()
    response = client.post(
        "/login?lang=en",
        data={"username": "minji", "password": PASSWORD, "next": "/map\r\nSet-Cookie: x=1", "csrf_token": csrf(client)},
    )
    assert response.status_code == 400 and "next" in response.get_data(as_text=True)
    assert not events(world, action="session.start") and not events(world, action="login.password")


def test_an_argument_the_page_does_not_take(app):
    client = app.test_client()
    sign_in(client, "admin")
    assert client.get("/admin/audit?fmt=x").status_code == 400
    assert client.get("/admin/audit?_method=POST").status_code == 400


def test_text_the_api_takes_survives_export_and_import(app, world, tmp_path):
    """What a visit report may say, an export writes and an import reads back the same."""
    from graphsvc import exporter, importer

    from .helpers import ACTOR, empty, keyring, snapshot

    notes = [
        "줄 하나\n줄 둘\t탭",
        '=HYPERLINK("http://x")',
        "＝１＋１",
        "'quoted",
        "  leading spaces",
        "emoji 🙂 and \u200d joiner",
        "\u202eright-to-left",
        '"quotes", commas; semicolons',
    ]
    call = api(app, "minji")
    for n, text in enumerate(notes):
        response = call(
            "/api/v1/visits",
            method="POST",
            json={"household_id": "h-001", "visited_on": f"2026-01-{n + 1:02d}", "outcome": "met", "notes": text},
        )
        assert response.status_code == 201, (text, response.get_data(as_text=True))
    before = snapshot(world, decrypt=True)
    folder = tmp_path / "out"
    exporter.export_folder(world, folder, keyring(), ACTOR)
    empty(world)
    assert importer.import_folder(world, folder, keyring(), ACTOR).ok
    after = snapshot(world, decrypt=True)
    stored = sorted(p["notes"] for labels, p in after["nodes"] if "Visit" in labels and p.get("notes"))
    assert {n.strip() for n in notes} <= set(stored)  # stored without surrounding white space
    notes_of = lambda state: {p["id"]: p.get("notes") for labels, p in state["nodes"] if "Visit" in labels}  # noqa: E731
    assert notes_of(before) == notes_of(after)


def test_non_ascii_where_a_secret_is_compared(app, world):
    """hmac.compare_digest raises TypeError for str with non-ASCII characters: a CSRF token,
    a device cookie or a journal line's MAC in Korean must be a mismatch, not a 500."""
    import json

    from graphsvc import audit

    client = app.test_client()
    assert sign_in(client, "admin").status_code == 302
    response = client.post("/admin/users", data={"username": "x", "csrf_token": "서울 노원구"})
    assert response.status_code == 400
    browser = app.test_client()
    browser.set_cookie("gs_device", "기기.서명")
    assert sign_in(browser, "minji").status_code == 302
    audit.to_journal(world, actor="minji", action="household.read", targets=["h-001"])
    path = world.journal.path
    lines = path.read_bytes().splitlines()
    record = json.loads(lines[-1])
    record["mac"] = "맥" * 64
    lines[-1] = json.dumps(record, ensure_ascii=False).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    audit.flush(world)  # ships, naming the damage, instead of failing on every try
    assert events(world, action="audit.journal_damaged")


def test_an_id_too_long_to_be_one_is_a_404_put_on_record_without_it(app, world):
    """Found by the route fuzzer: the core refuses with the id the caller typed as its target,
    and the audit refuses a target that long; the refusal is recorded without it."""
    long_id = "x" * 300
    for who in ("admin", "coord", "minji"):
        response = api(app, who)(f"/api/v1/households/{long_id}")
        assert response.status_code == 404, who
    denied = [e for e in events(world, outcome="denied") if e["action"] == "household.read"]
    assert len(denied) == 3 and all(e["targets"] == [] for e in denied)


def test_a_method_the_route_has_not_answers_405_naming_the_ones_it_has(app):
    """Found by schemathesis: the 405 answer lost Werkzeug's Allow header."""
    answer = api(app, "minji")("/api/v1/me", method="DELETE")
    assert answer.status_code == 405 and answer.is_json
    assert set(answer.headers["Allow"].split(", ")) >= {"GET"}


def test_a_number_argument_with_a_control_character_is_refused(app):
    """Found by schemathesis: ``hops=%1E`` was stripped to nothing and taken as absent."""
    get = api(app, "coord")
    for value in ("%1E", "%E3%80%805", "5%1C"):
        answer = get(f"/api/v1/network?hops={value}")
        assert answer.status_code == 400 and answer.json["field"] == "hops", value
    assert get("/api/v1/network?hops=").status_code == 200  # an empty form field: the default
