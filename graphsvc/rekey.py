"""Re-encrypt every encrypted field under the keyring's current key (``graphsvc keys rotate``).

Records are read in full, fields not under the current key are decrypted (with whichever
key they name; plaintext left by an older version is taken as it is) and encrypted again, and written back in batches; each batch's transaction
carries an audit event. Safe to run again after an interruption: fields already under the
current key are left as they are.
"""

from __future__ import annotations

from typing import Callable

from . import audit
from .crypto import is_encrypted
from .model import Actor

# (label, read statement, write statement, id key, fields)
TARGETS = (
    ("Person", "rekey_read_people", "rekey_write_people", "id", ("legal_name", "phone", "address")),
    ("Visit", "rekey_read_visits", "rekey_write_visits", "id", ("notes",)),
    ("User", "rekey_read_users", "rekey_write_users", "username", ("totp_secret",)),
)


def reencrypt(db, keyring, actor: Actor, batch_size: int = 2000,
              progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
    records = fields = 0
    for label, read, write, key, names in TARGETS:
        pending = []
        for row in db.stream(read):
            changed = {}
            for name in names:
                token = row[name]
                if token and keyring.needs_rotation(token):
                    # plaintext written before encryption existed is encrypted too
                    plain = keyring.decrypt(token, label, row[key], name) if is_encrypted(token) else token
                    changed[name] = keyring.encrypt(plain, label, row[key], name)
            if changed:
                pending.append({"key": row[key], **{n: changed.get(n, row[n]) for n in names}})
                fields += len(changed)
        for start in range(0, len(pending), batch_size):
            batch = pending[start:start + batch_size]

            def work(tx, rows, first):
                db.run_in_tx(tx, write, rows=rows)
                audit.append(tx, db, **actor.event(), action="keys.reencrypt",
                             detail=f"{label}: records {first + 1}-{first + len(rows)} to key {keyring.current_kid}")

            db.write_tx(work, batch, start, cls="batch")
            if progress:
                progress(f"re-encrypt {label}", min(start + batch_size, len(pending)), len(pending))
        records += len(pending)
    return {"records": records, "fields": fields}
