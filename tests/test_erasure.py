"""Erasure without breaking the chain (graphsvc/erasure.py) and each person's own key
(graphsvc/personkeys.py): crypto-shredding, placeholders, the chain's shape, refusals,
stored answers, the erasure list and its re-application after a restore."""

from __future__ import annotations

import base64
import csv
import json
import os

import pytest
from click.testing import CliRunner

from graphsvc import access, audit, chains, crypto, erasure, households, idempotency, orgs, personkeys, rekey, sharing
from graphsvc.cli import main
from graphsvc.errors import Refused

from .helpers import ACTOR, events, export_folder, import_small, keyring, snapshot

ADMIN = access.Subject("admin", "admin")
COORD = access.Subject("coord", "coordinator", ("서울 노원구",))
REASON = "본인이 삭제를 요청함"
# the identity of the small network's h-001 (tests/fixtures/small/people.csv)
H001 = ("김영희", "010-1234-5678", "상계로 1", "박철수", "들국화", "새벽별")


def props(db, record_id: str) -> dict:
    return db.read("test_node_props", id=record_id)[0]["props"]


def placements(db) -> dict:
    return {r[0]: tuple(r[1:]) for r in db.read("chains_stored")[0]["rows"]}


# --- each person's own key --------------------------------------------------------------


def test_a_new_person_is_sealed_under_a_key_of_their_own(world):
    pid = households.add_person(
        world, keyring(), COORD, ACTOR, {"household_id": "h-001", "code_name": "봄비", "legal_name": "김봄비"}
    )
    token = world.read("test_person_raw", id=pid)[0]["legal_name"]
    assert personkeys.is_personal(token)
    with pytest.raises(crypto.DecryptionError):  # the data keys alone do not open it
        keyring().decrypt(token, "Person", pid, "legal_name")
    assert personkeys.reader(world, keyring()).decrypt(token, "Person", pid, "legal_name") == "김봄비"
    keys = world.read("test_person_keys")
    assert [k["person_id"] for k in keys] == [pid] and keys[0]["wrapped"].startswith("enc:v1:")
    # a correction keeps the person's key and seals the new value under it
    households.update_person(world, keyring(), COORD, ACTOR, pid, {"phone": "010-7777-6666"})
    phone = world.read("test_person_raw", id=pid)[0]["phone"]
    assert personkeys.reader(world, keyring()).decrypt(phone, "Person", pid, "phone") == "010-7777-6666"
    assert len(world.read("test_person_keys")) == 1
    # the household page shows it decrypted (an admin, with a reason)
    _, shown, _ = households.read(world, keyring(), ADMIN, "h-001", identity=True, reason="방문 전 주소 확인")
    assert {m["legal_name"] for m in shown["members"]} >= {"김봄비", "김영희"}


def test_upgrade_moves_v1_fields_and_rotation_rewraps_person_keys(world, tmp_path):
    before = {r["id"]: r for r in _export_people(world, tmp_path / "before")}
    counts = personkeys.upgrade(world, keyring(), ACTOR)
    assert counts["people"] == len([r for r in before.values() if r["legal_name"] or r["phone"] or r["address"]])
    raw = world.read("test_person_raw", id="p-001")[0]
    assert all(personkeys.is_personal(raw[f]) for f in ("legal_name", "phone", "address"))
    assert personkeys.upgrade(world, keyring(), ACTOR) == {"people": 0, "fields": 0}  # done is done
    assert {r["id"]: r for r in _export_people(world, tmp_path / "after")} == before  # same plaintext
    assert events(world, action="keys.personal")
    # rotation of the data key: person keys rewrapped, their fields left as they are
    new_key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    rotated = crypto.load_keyring({"GRAPHSVC_DATA_KEY": f"knew:{new_key},{os.environ['GRAPHSVC_DATA_KEY']}"})
    result = rekey.reencrypt(world, rotated, ACTOR)
    assert result["person_keys"] == len(world.read("test_person_keys"))
    assert world.read("test_person_raw", id="p-001")[0] == raw  # not re-encrypted
    assert all(k["wrapped"].startswith("enc:v1:knew:") for k in world.read("test_person_keys"))
    only_new = crypto.load_keyring({"GRAPHSVC_DATA_KEY": f"knew:{new_key}"})  # the old key retired
    assert personkeys.reader(world, only_new).decrypt(raw["legal_name"], "Person", "p-001", "legal_name") == "김영희"


def _export_people(db, folder) -> list[dict]:
    export_folder(db, folder)
    return list(csv.DictReader((folder / "people.csv").open(encoding="utf-8-sig")))


# --- erasure ------------------------------------------------------------------------------


def test_erasing_a_household_keeps_the_chain_and_leaves_no_identity(world, tmp_path, settings):
    personkeys.upgrade(world, keyring(), ACTOR)
    token = world.read("test_person_raw", id="p-001")[0]["legal_name"]  # a copy made before
    chain_before = placements(world)
    intros_before = world.read("test_introductions")
    done = erasure.erase(world, keyring(), ADMIN, ACTOR, "household", "h-001", REASON, state_dir=tmp_path)
    assert sorted(done["people"]) == ["p-001", "p-002"] and done["keys"] == 2 and done["notes"] == 1
    for pid in ("p-001", "p-002"):
        p = props(world, pid)
        assert p["erased"] is True and p["code_name"] == erasure.PLACEHOLDER
        assert not {"legal_name", "phone", "address", "phone_bi", "name_bi", "address_bi", "bi_kid"} & set(p)
    h = props(world, "h-001")
    assert h["erased"] is True and h["status"] == "closed" and h["code"] == "H-001"
    assert all(v["notes"] is None for v in world.read("test_household_notes", id="h-001"))
    # the chain keeps its shape: every introduction, every placement (waves) as before
    assert world.read("test_introductions") == intros_before
    assert placements(world) == chain_before
    chains.refresh(world)
    assert placements(world) == chain_before
    # crypto-shredding: the copy taken before can no longer be read, by anyone
    with pytest.raises(crypto.DecryptionError):
        personkeys.reader(world, keyring()).decrypt(token, "Person", "p-001", "legal_name")
    # one event: ids, the reason, counts; the audit chain intact
    event = events(world, action="erased")[0]
    assert set(event["targets"]) == {"h-001", "p-001", "p-002"} and event["reason"] == REASON
    assert not any(v in json.dumps(event, ensure_ascii=False, default=str) for v in H001)
    assert audit.verify(world).ok
    # no export holds it
    export_folder(world, tmp_path / "export")
    text = "".join(p.read_text(encoding="utf-8-sig") for p in (tmp_path / "export").glob("*.csv"))
    assert not [v for v in (*H001, "아이들이 학교에") if v in text]
    # the erasure list, outside Neo4j: ids only
    listed = erasure.remembered(tmp_path)
    assert [(e["kind"], e["id"], sorted(e["people"])) for e in listed] == [("household", "h-001", ["p-001", "p-002"])]
    assert not any(v in erasure.erasures_path(tmp_path).read_text() for v in H001)


def test_an_erased_household_is_no_longer_shared_with_partners(world, tmp_path):
    orgs.add_org(world, ACTOR, "새희망선교회")
    sharing.share(world, ADMIN, ACTOR, "h-001", "새희망선교회")
    assert [s["org"] for s in sharing.shares_of(world, "h-001")] == ["새희망선교회"]
    erasure.erase(world, keyring(), ADMIN, ACTOR, "household", "h-001", REASON, state_dir=tmp_path)
    assert sharing.shares_of(world, "h-001") == []


def test_erasing_one_person_leaves_the_rest_of_the_household(world):
    erasure.erase(world, keyring(), ADMIN, ACTOR, "person", "p-002", REASON)
    assert props(world, "p-002")["erased"] is True
    assert props(world, "p-001")["code_name"] == "들국화" and "legal_name" in props(world, "p-001")
    assert props(world, "h-001").get("erased") is None and props(world, "h-001")["status"] == "active"
    assert world.read("test_household_notes", id="h-001")[0]["notes"]  # the household's notes stay


@pytest.mark.parametrize(
    "subject,kind,record_id,reason,refusal,field,code",
    [
        (ADMIN, "person", "p-999", REASON, "not_found", "id", None),
        (ADMIN, "household", "h-999", REASON, "not_found", "id", None),
        (ADMIN, "thing", "p-001", REASON, "invalid", "kind", "erase_kind"),
        (ADMIN, "person", "p-001", "", "invalid", "reason", "reason_missing"),
        (ADMIN, "person", "p-001", "삭제", "invalid", "reason", "reason_short"),
        (ADMIN, "person", "p-001", "김영희 님이 요청함", "invalid", "reason", "reason_names_identity"),
        (ADMIN, "person", "p-001", "전화번호 010 1234 5678 본인 요청", "invalid", "reason", "reason_names_identity"),
        (COORD, "person", "p-001", REASON, "forbidden", None, None),
    ],
)
def test_a_refused_erasure_changes_nothing(world, subject, kind, record_id, reason, refusal, field, code):
    before = snapshot(world)
    with pytest.raises(Refused) as e:
        erasure.erase(world, keyring(), subject, ACTOR, kind, record_id, reason)
    assert (e.value.kind, e.value.field) == (refusal, field)
    if code:
        assert e.value.code == code
    assert snapshot(world) == before
    assert not events(world, action="erased")


def test_erased_already_is_a_conflict(world):
    erasure.erase(world, keyring(), ADMIN, ACTOR, "person", "p-001", REASON)
    with pytest.raises(Refused) as e:
        erasure.erase(world, keyring(), ADMIN, ACTOR, "person", "p-001", REASON)
    assert (e.value.kind, e.value.field, e.value.code) == ("conflict", "id", "already_erased")
    with pytest.raises(Refused):
        erasure.preview(world, ADMIN, "person", "p-001")


def test_stored_answers_holding_the_identity_are_dropped(world):
    ring = keyring()
    holding = json.dumps({"members": [{"id": "p-001", "legal_name": "김영희"}]}, ensure_ascii=False)
    other = json.dumps({"id": "h-003", "code": "H-003"})
    for kid, body in (("k-1", holding), ("k-2", other)):
        world.write(
            "test_store_answer", id=kid, owner="coord", key=kid, body=ring.encrypt(body, idempotency.LABEL, kid, "body")
        )
    done = erasure.erase(world, keyring(), ADMIN, ACTOR, "person", "p-001", REASON)
    assert done["answers"] == 1
    dropped, kept = world.read("test_answer", id="k-1")[0], world.read("test_answer", id="k-2")[0]
    assert dropped == {"body": None, "status": None, "lost": True}
    assert ring.decrypt(kept["body"], idempotency.LABEL, "k-2", "body") == other


def test_preview_counts_without_identity(world):
    seen = erasure.preview(world, ADMIN, "household", "h-001")
    assert seen == {
        "kind": "household",
        "id": "h-001",
        "household_id": "h-001",
        "household_code": "H-001",
        "people": 2,
        "introductions": 2,
        "visits": 1,
        "notes": 1,
    }


def test_the_cli_erases_and_a_restore_re_applies_the_list(world, cli_env, small, settings):
    refused = CliRunner().invoke(main, ["erase", "person", "p-999", "--reason", REASON])
    assert refused.exit_code == 1 and "id: no such person; nothing was erased" in refused.output
    done = CliRunner().invoke(main, ["erase", "person", "p-003", "--reason", REASON])
    assert done.exit_code == 0, done.output
    assert props(world, "p-003")["erased"] is True
    listed = erasure.remembered(settings.state_dir)
    assert listed and listed[-1]["id"] == "p-003"
    # a backup from before the erasure comes back (the same data imported anew)
    from .helpers import empty

    empty(world)
    import_small(world, small, keyring())
    assert "legal_name" in props(world, "p-003")
    assert erasure.reapply(world, keyring(), ACTOR, settings.state_dir) >= 1
    assert props(world, "p-003")["erased"] is True and "legal_name" not in props(world, "p-003")
    erasure.erasures_path(settings.state_dir).unlink()


def test_an_import_does_not_bring_an_erased_person_back(world, small):
    from .helpers import import_folder

    erasure.erase(world, keyring(), ADMIN, ACTOR, "person", "p-001", REASON)
    assert import_folder(world, small).ok  # the same file, with p-001's identity in it
    p = props(world, "p-001")
    assert p["erased"] is True and p["code_name"] == erasure.PLACEHOLDER and "legal_name" not in p
    assert "legal_name" in props(world, "p-002")


def test_an_erased_person_takes_no_new_identity(world):
    erasure.erase(world, keyring(), ADMIN, ACTOR, "person", "p-002", REASON)
    with pytest.raises(Refused) as e:
        households.update_person(world, keyring(), COORD, ACTOR, "p-002", {"legal_name": "박철수"})
    assert (e.value.kind, e.value.field, e.value.code) == ("conflict", "id", "already_erased")
    assert "legal_name" not in props(world, "p-002") and not world.read("test_person_keys")


def test_keys_personal_on_the_command_line(world, cli_env):
    done = CliRunner().invoke(main, ["keys", "personal"])
    assert done.exit_code == 0, done.output
    assert "people now under keys of their own" in done.output
    assert all(personkeys.is_personal(v) for v in world.read("test_person_raw", id="p-003")[0].values() if v)
    again = CliRunner().invoke(main, ["keys", "personal"])
    assert "0 identity fields of 0 people" in again.output
