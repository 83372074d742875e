"""Re-encrypt every encrypted field under the keyring's current key (``graphsvc keys rotate``).

Which fields: every entry of crypto.ENCRYPTED_FIELDS (the one registry), label by label,
through that label's read and write statements (graphsvc/cypher/keys.cypher). Records are
read in full, fields not under the current key are decrypted (with whichever key they
name; plaintext left by an older version is taken as it is) and encrypted again, and
written back in batches; each batch's transaction carries an audit event. Safe to run
again after an interruption: fields already under the current key are left as they are.

Then the blind indexes (graphsvc/blindindex.py): their key is derived from the current
data key, so every person whose indexes were made under another key (``bi_kid``) gets
them recomputed from the decrypted identity, in batches, each audited. None stays under an
old key: an old index would never match a new one, and would outlive the key it was made with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import audit, personkeys
from .crypto import Keyring, blind_indexes, fields_of, is_encrypted, labels, record_key
from .model import Actor

if TYPE_CHECKING:
    from .db import Database

# label → (read statement, write statement). A label of the registry without its pair here
# fails at import, so that no encrypted field is left out of a rotation.
STATEMENTS: dict[str, tuple[str, str]] = {
    "Person": ("rekey_read_people", "rekey_write_people"),
    "Visit": ("rekey_read_visits", "rekey_write_visits"),
    "User": ("rekey_read_users", "rekey_write_users"),
}

# (label, read statement, write statement, id key, fields), from crypto.ENCRYPTED_FIELDS
TARGETS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = tuple(
    (label, *STATEMENTS[label], record_key(label), fields_of(label)) for label in labels()
)


def reencrypt(
    db: Database,
    keyring: Keyring,
    actor: Actor,
    batch_size: int = 2000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    records = fields = 0
    for label, read, write, key, names in TARGETS:
        pending: list[dict[str, Any]] = []
        for row in db.stream(read):
            changed: dict[str, str | None] = {}
            for name in names:
                token = row[name]
                if token and keyring.needs_rotation(token) and not personkeys.is_personal(token):
                    # plaintext written before encryption existed is encrypted too
                    plain = keyring.decrypt(token, label, row[key], name) if is_encrypted(token) else token
                    changed[name] = keyring.encrypt(plain, label, row[key], name)
            if changed:
                pending.append({"key": row[key], **{n: changed.get(n, row[n]) for n in names}})
                fields += len(changed)
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]

            def work(tx: Any, rows: list[dict[str, Any]], first: int) -> None:
                db.run_in_tx(tx, write, rows=rows)
                audit.append_in_tx(
                    tx,
                    db,
                    **actor.event(),
                    action="keys.reencrypt",
                    detail=f"{label}: records {first + 1}-{first + len(rows)} to key {keyring.current_kid}",
                )

            db.write_tx(work, batch, start, cls="batch")
            if progress:
                progress(f"re-encrypt {label}", min(start + batch_size, len(pending)), len(pending))
        records += len(pending)
    indexed = reindex(db, keyring, actor, batch_size, progress)
    counts = {"records": records, "fields": fields, "blind_indexes": indexed}
    # people under keys of their own: their keys are rewrapped, their fields left as they are
    rewrapped = personkeys.rewrap(db, keyring, actor, batch_size)
    if rewrapped:
        counts["person_keys"] = rewrapped
    return counts


def reindex(
    db: Database,
    keyring: Keyring,
    actor: Actor,
    batch_size: int = 2000,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Recompute the blind indexes of every person whose indexes are not under the current
    key (or who has none yet); returns how many people were indexed anew."""
    names = fields_of("Person")
    pending: list[dict[str, Any]] = []
    ring = personkeys.reader(db, keyring)  # people under keys of their own (graphsvc/personkeys.py)
    for row in db.stream("rekey_read_people"):
        if row["bi_kid"] == keyring.current_kid:
            continue
        plain = {
            name: ring.decrypt(row[name], "Person", row["id"], name)
            if is_encrypted(row[name]) or personkeys.is_personal(row[name])
            else row[name]
            for name in names
        }
        pending.append({"key": row["id"], **blind_indexes(keyring, "Person", plain)})
    for start in range(0, len(pending), batch_size):

        def work(tx: Any, rows: list[dict[str, Any]], first: int) -> None:
            db.run_in_tx(tx, "rekey_write_blind_indexes", rows=rows)
            audit.append_in_tx(
                tx,
                db,
                **actor.event(),
                action="keys.reindex",
                detail=f"Person: blind indexes {first + 1}-{first + len(rows)} to key {keyring.current_kid}",
            )

        db.write_tx(work, pending[start : start + batch_size], start, cls="batch")
        if progress:
            progress("blind indexes", min(start + batch_size, len(pending)), len(pending))
    return len(pending)
