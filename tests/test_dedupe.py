"""Duplicates without decrypting anyone (issue 13 §2): blind indexes of identity
(graphsvc/blindindex.py, crypto.blind_indexes) and the scoring of graphsvc/dedupe.py.

The acceptance cases rewrite, for Korean data, those of Disciple.Tools' duplicate-detection
unit tests (DiscipleTools/disciple-tools-theme tests/unit-test-duplicate-detection.php:
"DT") and Go.Data's person duplicate rules (WorldHealthOrganization/GoDataSource-API
Person.findDuplicatesByType: "Go.Data"), and add the Korean ones of the issue.
"""

from __future__ import annotations

import pytest

from graphsvc import access, blindindex, crypto, dedupe, households
from graphsvc.dedupe import Reason

from .helpers import ACTOR, append, import_folder, keyring, snapshot

ADMIN = access.Subject("admin", "admin")
A, B = "서울 노원구", "서울 양천구"


# --- normalised forms and the keyed hash -----------------------------------------------


@pytest.mark.parametrize(
    "one,other",
    [
        ("010-1234-5678", "+82 10 1234 5678"),
        ("010-1234-5678", "+82-10-1234-5678"),
        ("010-1234-5678", "01012345678"),
        ("010-1234-5678", "(010) 1234 5678"),
        ("010-1234-5678", "０１０-１２３４-５６７８"),  # full-width digits
        ("010-1234-5678", "0082 10 1234 5678"),
        ("010-1234-5678", "+82 010 1234 5678"),  # the national 0 written after +82
        ("02-123-4567", "+82 2 123 4567"),  # a Seoul landline
        ("031-123-4567", "+82-31-123-4567"),
    ],
)
def test_one_phone_written_many_ways_has_one_index(one, other):
    ring = keyring()
    assert blindindex.phone(one) == blindindex.phone(other)
    assert ring.blind_index("phone", one) == ring.blind_index("phone", other) is not None


@pytest.mark.parametrize(
    "one,other",
    [
        ("김 영희", "김영희"),
        ("김영희", "김영희"),  # NFD (decomposed jamo) and NFC
        ("Kim Young-hee", "KIM YOUNGHEE"),
        ("ＫＩＭ Ｙｏｕｎｇｈｅｅ", "kim younghee"),  # full-width Latin
        ("남궁 민수", "남궁민수"),
    ],
)
def test_one_name_written_many_ways_has_one_index(one, other):
    ring = keyring()
    assert ring.blind_index("name", one) == ring.blind_index("name", other) is not None


@pytest.mark.parametrize(
    "kind,one,other",
    [
        ("phone", "010-1234-5678", "010-1234-5679"),
        ("phone", "02-123-4567", "031-123-4567"),
        ("name", "김영희", "김영수"),  # the same surname only
        ("name", "김영희", "이영희"),  # the same given name only
        ("address", "서울 노원구 상계로 1", "서울 노원구 상계로 12"),
    ],
)
def test_different_values_have_different_indexes(kind, one, other):
    ring = keyring()
    assert ring.blind_index(kind, one) != ring.blind_index(kind, other)


@pytest.mark.parametrize(
    "kind,value",
    [
        ("name", "김"),
        ("name", "남궁"),
        ("name", "Kim"),
        ("name", " LEE "),
        ("name", ""),
        ("name", "   "),
        ("name", None),
        ("phone", ""),
        ("phone", "010"),
        ("phone", "없음"),
        ("address", ""),
        ("address", "서울"),
    ],
)
def test_a_surname_alone_or_an_empty_value_has_no_index(kind, value):
    assert keyring().blind_index(kind, value) is None


def test_the_index_is_keyed_and_every_key_gives_another():
    one, other = crypto.Keyring.generate("k1"), crypto.Keyring.generate("k2")
    a, b = one.blind_index("phone", "010-1234-5678"), other.blind_index("phone", "010-1234-5678")
    assert a and b and a != b  # without the key, a phone's index cannot be computed (nor guessed)
    import hashlib

    assert a not in hashlib.sha256(b"phone\x0001012345678").hexdigest()


def test_a_two_part_name_also_has_its_parts_swapped():
    sealed = crypto.encrypt_record(keyring(), "Person", "p-1", {"legal_name": "영희 김", "phone": None})
    ring = keyring()
    assert sealed["name_rev_bi"] == ring.blind_index("name", "김영희")
    assert sealed["phone_bi"] is None and sealed["bi_kid"] == ring.current_kid
    assert "address_bi" not in sealed  # a field not written keeps its index as it is


# --- the scoring, on the real database ---------------------------------------------------


def family(db, code: str, district: str = A, status: str = "active", **person) -> tuple[str, str]:
    """A household of one person (code name, identity given): (household id, person id)."""
    hid = households.create_household(db, ADMIN, ACTOR, {"code": code, "district": district, "status": status})
    pid = households.add_person(
        db, keyring(), ADMIN, ACTOR, {"household_id": hid, "code_name": person.pop("code_name", "별"), **person}
    )
    return hid, pid


def reasons(found: list[dedupe.Candidate], hid: str) -> set[str]:
    return {r.kind for c in found if c.household_id == hid for r in c.reasons}


CASES = [
    # (source, pending person, existing person, the reasons expected: none = no candidate)
    (
        "DT phone, different names",
        {"legal_name": "김영희", "phone": "010-1234-5678"},
        {"legal_name": "박철수", "phone": "010-1234-5678"},
        {"phone"},
    ),
    ("DT exact name", {"legal_name": "김영희"}, {"legal_name": "김영희"}, {"name"}),
    (
        "DT different values: no match",
        {"legal_name": "김영희", "phone": "010-1111-2222"},
        {"legal_name": "박철수", "phone": "010-3333-4444"},
        set(),
    ),
    (
        "DT any configured field matches (address only)",
        {"legal_name": "김영희", "address": "서울 노원구 상계로 1"},
        {"legal_name": "박철수", "address": "서울노원구 상계로1"},
        {"address"},
    ),
    (
        "DT several fields at once",
        {"legal_name": "김영희", "phone": "010-1234-5678"},
        {"legal_name": "김 영희", "phone": "01012345678"},
        {"phone", "name"},
    ),
    ("Go.Data first and last name", {"legal_name": "Kim Younghee"}, {"legal_name": "kim younghee"}, {"name"}),
    ("Go.Data first and last name reversed", {"legal_name": "영희 김"}, {"legal_name": "김영희"}, {"name"}),
    ("Go.Data reversed, Latin", {"legal_name": "Younghee Kim"}, {"legal_name": "Kim Younghee"}, {"name"}),
    (
        "Go.Data empty values never match",
        {"legal_name": None, "phone": None},
        {"legal_name": None, "phone": None},
        set(),
    ),
    ("Go.Data empty strings never match", {"phone": "", "address": ""}, {"phone": "", "address": ""}, set()),
    ("spaces in a Korean name", {"legal_name": "김 영희"}, {"legal_name": "김영희"}, {"name"}),
    # (full-width digits and brackets: records.py refuses them in a phone field; their form is tested above)
    ("0082 and spaces", {"phone": "0082 10 1234 5678"}, {"phone": "010-1234-5678"}, {"phone"}),
    ("full-width Latin name", {"legal_name": "ＫＩＭ Ｙｏｕｎｇｈｅｅ"}, {"legal_name": "Kim Younghee"}, {"name"}),
    ("+82 mobile", {"phone": "+82 10 1234 5678"}, {"phone": "010-1234-5678"}, {"phone"}),
    ("+82 Seoul landline", {"phone": "+82 2 123 4567"}, {"phone": "02-123-4567"}, {"phone"}),
    ("the same surname only", {"legal_name": "김영희"}, {"legal_name": "김철수"}, set()),
    ("a surname alone", {"legal_name": "김"}, {"legal_name": "김"}, set()),
    ("a nearly equal phone", {"phone": "010-1234-5678"}, {"phone": "010-1234-5670"}, set()),
]


@pytest.mark.parametrize("case,pending,existing,expected", CASES, ids=[c[0] for c in CASES])
def test_acceptance_cases(db, case, pending, existing, expected):
    hid, pid = family(db, "N-000001", status="pending", **pending)
    other, opid = family(db, "H-100", **existing)
    found = dedupe.candidates(db, hid)
    assert reasons(found, other) == expected
    if expected:
        (candidate,) = found
        assert (candidate.household_id, candidate.code, candidate.district) == (other, "H-100", A)
        assert all((r.person_id, r.other_person_id) == (pid, opid) for r in candidate.reasons)


def test_only_the_district_counts_and_never_itself_nor_a_rejected_household(db):
    """Go.Data scopes duplicates to one outbreak and leaves the record itself out; DT leaves
    out the dismissed ones: here the district, itself, and rejected households."""
    same = {"legal_name": "김영희", "phone": "010-1234-5678"}
    hid, _ = family(db, "N-000001", status="pending", **same)
    family(db, "H-200", district=B, **same)  # another district
    family(db, "N-000002", status="rejected", **same)
    pending, _ = family(db, "N-000003", status="pending", **same)  # other pending households count
    assert [c.household_id for c in dedupe.candidates(db, hid)] == [pending]
    assert dedupe.candidates(db, "h-nobody") == []


def test_scores_order_candidates_phone_strongest_and_limit(db):
    """DT: an exact phone scores high (4 points), name matches add up; here phone >
    address > name, and more reasons rank higher."""
    hid, _ = family(
        db, "N-000001", status="pending", legal_name="김영희", phone="010-1234-5678", address="서울 노원구 상계로 1"
    )
    name, _ = family(db, "H-101", legal_name="김영희")
    phone, _ = family(db, "H-102", legal_name="박철수", phone="010-1234-5678")
    both, _ = family(db, "H-103", legal_name="김영희", phone="010 1234 5678")
    address, _ = family(db, "H-104", address="서울 노원구 상계로 1")
    found = dedupe.candidates(db, hid)
    assert [c.household_id for c in found] == [both, phone, address, name]
    assert [c.score for c in found] == [0.79, 0.7, 0.45, 0.3]
    assert [c.household_id for c in dedupe.candidates(db, hid, limit=2)] == [both, phone]
    assert dedupe.candidates(db, hid, limit=0) == []


def introduce(db, introducer: str, introduced: str) -> None:
    households.set_introducer(db, ADMIN, ACTOR, introduced, introducer, "2026-11-01", "friend")


def test_a_name_with_graph_context_is_strong_and_context_alone_is_no_candidate(db):
    _, giver = family(db, "H-001", legal_name="최민수", code_name="할머니")
    # the household brought back, introduced by 최민수
    hid, pid = family(db, "N-000001", status="pending", legal_name="김영희", code_name="들국화")
    introduce(db, giver, pid)
    # 최민수 introduced a 김영희 before: the same name, the same introducer
    sibling, spid = family(db, "H-002", legal_name="김영희", code_name="민들레")
    introduce(db, giver, spid)
    # and another household, only introduced by the same person: context alone
    plain, ppid = family(db, "H-003", legal_name="박철수")
    introduce(db, giver, ppid)
    # a 김영희 elsewhere in the district: the name alone
    stranger, _ = family(db, "H-004", legal_name="김영희")

    found = {c.household_id: c for c in dedupe.candidates(db, hid)}
    assert set(found) == {sibling, stranger}
    assert found[sibling].reasons == (Reason("name", pid, spid), Reason("same_introducer", pid, spid))
    assert found[sibling].score == 0.68 > found[stranger].score == 0.3


def test_the_introducers_household_and_a_code_name_nearby(db):
    """A visitor reports the introducer's own mother as a new household: the same code name
    in the introducer's household, one introduction away."""
    home, giver = family(db, "H-001", legal_name="최민수", code_name="아들")
    mother = households.add_person(
        db, keyring(), ADMIN, ACTOR, {"household_id": home, "code_name": "할머니", "legal_name": "이순자"}
    )
    hid, pid = family(db, "N-000001", status="pending", code_name="할머니")
    introduce(db, giver, pid)
    (candidate,) = dedupe.candidates(db, hid)
    assert candidate.household_id == home
    assert candidate.reasons == (Reason("code_name", pid, mother), Reason("introducer_household", pid, giver))
    assert candidate.score == 0.48
    # the same code name far away (not one introduction away) is nothing
    far, _ = family(db, "H-009", code_name="할머니")
    assert far not in {c.household_id for c in dedupe.candidates(db, hid)}


def test_corrected_identity_moves_its_index(db):
    """update_person keeps the blind indexes right: the old phone matches no more, the new one does."""
    hid, pid = family(db, "N-000001", status="pending", phone="010-1234-5678")
    old, _ = family(db, "H-101", phone="010-1234-5678")
    new, _ = family(db, "H-102", phone="010-9999-8888")
    assert [c.household_id for c in dedupe.candidates(db, hid)] == [old]
    households.update_person(db, keyring(), ADMIN, ACTOR, pid, {"phone": "+82 10 9999 8888"})
    assert [c.household_id for c in dedupe.candidates(db, hid)] == [new]
    households.update_person(db, keyring(), ADMIN, ACTOR, pid, {"phone": None})
    assert dedupe.candidates(db, hid) == []
    stored = db.read("test_dedupe_person_indexes", id=pid)[0]
    assert stored["phone_bi"] is None and stored["bi_kid"] == keyring().current_kid


def test_matching_reads_indexes_only(db):
    """The scoring statement never returns an identity token (nothing to decrypt), and the
    stored indexes are not the plaintext's hash: no identity value is in them."""
    hid, _ = family(db, "N-000001", status="pending", legal_name="김영희", phone="010-1234-5678")
    family(db, "H-101", legal_name="김영희", phone="010-1234-5678")
    rows = db.read("dedupe_matches", household_id=hid)
    assert rows and not any(crypto.is_encrypted(v) for row in rows for v in row.values())
    assert not any("010" in str(v) or "김" in str(v) for row in rows for v in row.values())


# --- the import check ----------------------------------------------------------------------


def test_an_import_row_matching_a_known_phone_is_refused_unless_duplicates_are_allowed(world, small):
    """DT's create-time duplicate check, as the import's: the row is reported with its
    file and line, and nothing is written unless the import allows duplicates."""
    append(small, "people", ["p-100", "꽃잎", "h-002", "홍길동", "+82 10 1234 5678", ""])
    before = snapshot(world)
    dry = import_folder(world, small, dry_run=True)
    assert dry.possible_duplicates == 1 and not dry.ok
    refused = import_folder(world, small)
    assert [str(p) for p in refused.plan.problems] == ["people.csv:8: possible duplicate of p-001 (same phone)"]
    assert not refused.written and snapshot(world) == before
    allowed = import_folder(world, small, allow_duplicates=True)
    assert allowed.ok and allowed.written and allowed.possible_duplicates == 1
    assert world.read("test_dedupe_person_indexes", id="p-100")[0]["phone_bi"] == keyring().blind_index(
        "phone", "010-1234-5678"
    )
    # imported again: p-100 is stored now, a correction is no new entry
    assert import_folder(world, small).possible_duplicates == 0


def test_an_import_checks_names_in_their_district_and_rows_of_the_same_bundle(world, small):
    append(
        small,
        "people",
        ["p-101", "가", "h-002", "김 민준", "", ""],  # line 8
        ["p-102", "나", "h-001", "민준 김", "", ""],  # the same name, swapped, same district: row 8
        ["p-103", "다", "h-003", "김민준", "", ""],  # the same name in 양천구: another district
        ["p-104", "라", "h-002", "박철수", "", ""],  # p-002's name, 노원구 too
        ["p-105", "마", "h-002", "김", "", ""],  # a surname alone
        ["p-106", "바", "h-003", "", "01022223333", ""],  # p-003's phone, another district: a phone is a phone
    )
    report = import_folder(world, small, dry_run=True)
    assert [str(p) for p in report.plan.duplicates] == [
        "people.csv:9: possible duplicate of p-101 (same name)",
        "people.csv:11: possible duplicate of p-002 (same name)",
        "people.csv:13: possible duplicate of p-003 (same phone)",
    ]


def test_the_fixture_and_a_reimport_have_no_duplicates(db, small):
    first = import_folder(db, small)
    assert first.ok and first.possible_duplicates == 0
    assert import_folder(db, small).possible_duplicates == 0


def test_the_command_line_flag(db, cli_env, small):
    from click.testing import CliRunner

    from graphsvc.cli import main

    append(small, "people", ["p-100", "꽃잎", "h-002", "", "010-1234-5678", ""])  # p-001's phone, same bundle
    run = CliRunner().invoke
    refused = run(main, ["import", str(small)], catch_exceptions=False)
    assert refused.exit_code == 1
    assert "people.csv:8: possible duplicate of p-001 (same phone)" in refused.output
    assert "--allow-duplicates" in refused.output and db.read("graph_counts")[0]["households"] == 0
    dry = run(main, ["import", str(small), "--dry-run", "--allow-duplicates"], catch_exceptions=False)
    assert dry.exit_code == 0 and "1 possible duplicates" in dry.output
    done = run(main, ["import", str(small), "--allow-duplicates"], catch_exceptions=False)
    assert done.exit_code == 0 and "7 people, 4 introductions, 3 visits; 1 possible duplicates in" in done.output


# --- rotation --------------------------------------------------------------------------------


def test_a_key_rotation_recomputes_every_blind_index(world):
    """After `graphsvc keys rotate` no index of the old key is left, and matching works
    under the new one."""
    import base64
    import os

    from graphsvc import rekey

    hid, _ = family(world, "N-000001", status="pending", legal_name="김영희", phone="010-1234-5678")
    old = {r["id"]: r for r in world.read("test_dedupe_all_indexes")}
    new_key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    rotated = crypto.load_keyring({"GRAPHSVC_DATA_KEY": f"knew:{new_key},{os.environ['GRAPHSVC_DATA_KEY']}"})
    counts = rekey.reencrypt(world, rotated, ACTOR)
    assert counts["blind_indexes"] == len(old)
    after = {r["id"]: r for r in world.read("test_dedupe_all_indexes")}
    assert {r["bi_kid"] for r in after.values()} == {"knew"}
    assert after["p-001"]["phone_bi"] == rotated.blind_index("phone", "010-1234-5678") != old["p-001"]["phone_bi"]
    assert after["p-006"]["name_bi"] is None  # no identity, no index, under any key
    assert [(c.code, {r.kind for r in c.reasons}) for c in dedupe.candidates(world, hid)] == [
        ("H-001", {"phone", "name"})
    ]
    assert rekey.reindex(world, rotated, ACTOR) == 0  # nothing left under the old key
