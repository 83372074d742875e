"""Backups that keep everything (``graphsvc backup DIR``, ``graphsvc restore DIR``).

``graphsvc export`` writes the network as CSV, which an import reads back: but not the
audit chain, the claims, the tokens, the passwords nor the sessions. A backup keeps all of
it, because it is Neo4j's own dump of the database (``neo4j-admin database dump``, run from
the project's jars with the entry class ``org.neo4j.cli.AdminTool``) together with what
lives outside Neo4j:

``DIR/graphsvc-<UTC time, 20261207T153012Z>/`` (folder 0700, files 0600)

=====================  ==================================================================
``<database>.dump``    Neo4j's dump of the database (the local instance is stopped for it
                       and started again if it was running: seconds of downtime)
``journal.jsonl``      the audit journal as it was (``audit.flush`` first: normally only its
                       anchor line; lines written meanwhile ship after a restore)
``checkpoints.jsonl``  the signed audit checkpoints, if any
``files/…``            stored files (photos, receipts), each already encrypted, if any
``secrets.enc``        the secrets, encrypted with a passphrase (below)
``manifest.json``      format, graphsvc and Neo4j versions, the time, the audit head (seq
                       and hash) as it was at the dump, counts, and the SHA-256 and size of
                       every other file
=====================  ==================================================================

The secrets are everything the restored service needs besides the database so that what
worked keeps working: the data keys (``GRAPHSVC_DATA_KEY`` or the key file: identity fields,
TOTP secrets, stored files), the web secret (``GRAPHSVC_SECRET_KEY`` or ``web-secret``:
session cookies and CSRF), the audit journal's MAC key (the journal's pending lines ship
without damage notices) and the checkpoints' signing key (the checkpoints verify, new ones
are signed with the same key). Passwords and tokens are hashes in the database: they need
no key. The secrets are one JSON document sealed with AES-256-GCM under a key derived from
the passphrase with scrypt (N=2^17, r=8, p=1; the parameters and salt are in the file and
the manifest). The document also holds the SHA-256 of every other file, so that a backup
whose files and manifest were both replaced is refused once the passphrase is given.

The backup is written into a hidden sibling folder (``.graphsvc-<time>.partial-<random>``)
renamed at the end: a failure leaves nothing half-written, and the local server is started
again if it was running. ``--keep N`` then deletes the oldest backups in DIR beyond N (only
folders named like a backup that hold a manifest of this format).

``restore`` checks first and changes nothing while a check fails: every file against the
manifest (a missing, extra or changed file is named), the passphrase, the files against the
secrets' own list, keys given by variables against the backup's, and that the target holds
nothing (else it says what is there; ``--force`` replaces it). Then it stops the local
server, loads the dump (``neo4j-admin database load --overwrite-destination``), puts the
journal, checkpoints, stored files and key files back (0600), starts the server, verifies the
audit chain, checks that it still passes through the backed-up head, and records the
restore as an audit event after it.

An external server (``NEO4J_URI``: a cluster, Aura) is refused: its backups are Neo4j's own
(Enterprise ``neo4j-admin database backup``/``restore``; Aura's snapshots, and
``neo4j-admin database upload`` to load a dump into it).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from . import __version__, audit, crypto, neo4j_local
from .config import LocalNeo4j, Settings
from .db import Database
from .model import cli_actor

FORMAT = 1
PREFIX = "graphsvc-"
STAMP = "%Y%m%dT%H%M%SZ"
NAME_RE = re.compile(r"graphsvc-\d{8}T\d{6}Z\Z")
MANIFEST = "manifest.json"
SECRETS = "secrets.enc"
JOURNAL = "journal.jsonl"
CHECKPOINTS = "checkpoints.jsonl"
FILES = "files"

ENV_PASSPHRASE = "GRAPHSVC_BACKUP_PASSPHRASE"
MIN_PASSPHRASE = 15
KDF = {"name": "scrypt", "n": 2**17, "r": 8, "p": 1, "length": 32}
AAD = b"graphsvc backup secrets v1\n"

# the secrets besides the data keys: (file in the key folder, the variable that overrides it)
SECRET_FILES = (
    (crypto.JOURNAL_KEY_FILE, crypto.ENV_JOURNAL_KEY),
    (crypto.CHECKPOINT_KEY_FILE, crypto.ENV_CHECKPOINT_KEY),
    (crypto.WEB_SECRET_FILE, "GRAPHSVC_SECRET_KEY"),
)

EXTERNAL = (
    "NEO4J_URI is set ({uri}): graphsvc {verb} works on the local instance only. For a Neo4j "
    "cluster use Neo4j's own `neo4j-admin database backup` / `restore` (Enterprise); on Aura its "
    "snapshots, or `neo4j-admin database upload` of a dump; keep the key folder and the audit "
    "journal's state folder with them (README: Backups)"
)

Say = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why (one line)."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet(_msg: str) -> None:
    pass


# --- passphrase and the sealed secrets -------------------------------------------------------


def passphrase_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``GRAPHSVC_BACKUP_PASSPHRASE`` when set and not empty (scheduled backups), else None."""
    env = os.environ if env is None else env
    return env.get(ENV_PASSPHRASE) or None


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(
            f"the backup passphrase must have at least {MIN_PASSPHRASE} characters (it has {len(passphrase)})"
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(passphrase: str, kdf: Mapping[str, Any]) -> bytes:
    if kdf.get("name") != "scrypt":
        raise BackupError(f"{SECRETS}: unknown key derivation {kdf.get('name')!r}")
    try:
        n, r, p, length = int(kdf["n"]), int(kdf["r"]), int(kdf["p"]), int(kdf["length"])
        salt = _unb64(kdf["salt"])
    except (KeyError, TypeError, ValueError):
        raise BackupError(f"{SECRETS}: its key derivation parameters are damaged") from None
    if not (2**14 <= n <= 2**22 and 1 <= r <= 32 and 1 <= p <= 16 and length == 32):
        raise BackupError(f"{SECRETS}: key derivation parameters out of range (n={n}, r={r}, p={p})")
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(document: dict[str, Any], passphrase: str) -> dict[str, Any]:
    """``document`` encrypted with a key derived from ``passphrase`` (scrypt + AES-256-GCM)."""
    kdf = {**KDF, "salt": _b64(os.urandom(16))}
    key = _derive(passphrase, kdf)
    nonce = os.urandom(12)
    plain = json.dumps(document, sort_keys=True).encode("utf-8")
    return {
        "format": FORMAT,
        "kdf": kdf,
        "cipher": "AES-256-GCM",
        "nonce": _b64(nonce),
        "ciphertext": _b64(AESGCM(key).encrypt(nonce, plain, AAD)),
    }


def unseal(sealed: Mapping[str, Any], passphrase: str) -> dict[str, Any]:
    """The document of ``seal``; BackupError for a wrong passphrase."""
    if sealed.get("cipher") != "AES-256-GCM" or not isinstance(sealed.get("kdf"), dict):
        raise BackupError(f"{SECRETS}: not a sealed secrets file of this format")
    key = _derive(passphrase, sealed["kdf"])
    try:
        plain = AESGCM(key).decrypt(_unb64(sealed["nonce"]), _unb64(sealed["ciphertext"]), AAD)
    except InvalidTag:
        raise BackupError("wrong passphrase: the backup's secrets cannot be opened; nothing changed") from None
    except (KeyError, TypeError, ValueError):
        raise BackupError(f"{SECRETS} is damaged; nothing changed") from None
    document: dict[str, Any] = json.loads(plain)
    return document


# --- the secrets: where they are, what they hold ----------------------------------------------


def _data_keys_doc(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The data keys as a key file's document (from the variable or the file), None if none."""
    if crypto.ENV_KEYS in env:
        ring = crypto.load_keyring(env)  # validates the variable (KeyringError names the entry)
        keys = {}
        for entry in env[crypto.ENV_KEYS].split(","):
            kid, _, encoded = entry.strip().partition(":")
            keys[kid] = {"key": encoded.strip(), "created": "from $" + crypto.ENV_KEYS}
        return {"current": ring.current_kid, "keys": keys}
    path = crypto.key_file_path(env)
    if not path.exists():
        return None
    return crypto._read_key_file(path)


def _secret_text(name: str, var: str, env: Mapping[str, str]) -> str | None:
    if name == crypto.WEB_SECRET_FILE:
        if env.get(var):
            return env[var]
        path = crypto.web_secret_path(env)
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        return crypto._read_private(fd, path).decode("utf-8").strip()
    value = crypto.load_secret(var, name, env=env, create=False)
    return None if value is None else _b64(value)


def gather_secrets(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every secret the service needs besides the database: ``{"data_keys": doc|None,
    "secrets": {file name: text}}`` (crypto.KeyringError when one is unsafe or malformed)."""
    env = os.environ if env is None else env
    found = {name: _secret_text(name, var, env) for name, var in SECRET_FILES}
    return {"data_keys": _data_keys_doc(env), "secrets": {k: v for k, v in found.items() if v is not None}}


def _key_map(doc: Mapping[str, Any]) -> dict[str, bytes]:
    return {kid: _unb64(entry["key"]) for kid, entry in doc["keys"].items()}


@dataclass
class KeyPlan:
    """What restoring the secrets will do: files to write, files there that differ, and
    variables that contradict the backup (a refusal even with --force)."""

    writes: list[tuple[Path, bytes]] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    from_env: list[str] = field(default_factory=list)


def plan_keys(saved: Mapping[str, Any], env: Mapping[str, str] | None = None) -> KeyPlan:
    env = os.environ if env is None else env
    plan = KeyPlan()
    data = saved.get("data_keys")
    if data is not None:
        if crypto.ENV_KEYS in env:
            ours = _data_keys_doc(env)
            assert ours is not None
            if _key_map(ours) != _key_map(data) or ours["current"] != data["current"]:
                plan.conflicts.append(f"${crypto.ENV_KEYS} holds other data keys than the backup's")
            else:
                plan.from_env.append(crypto.ENV_KEYS)
        else:
            doc = {"current": data["current"], "keys": data["keys"]}
            content = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("ascii")
            _plan_file(plan, crypto.key_file_path(env), content, same=lambda old: _same_keys(old, doc))
    for name, var in SECRET_FILES:
        text = saved.get("secrets", {}).get(name)
        if text is None:
            continue
        if env.get(var):
            mine = env[var] if name == crypto.WEB_SECRET_FILE else env[var].strip()
            if mine != text:
                plan.conflicts.append(f"${var} differs from the backup's {name}")
            else:
                plan.from_env.append(var)
            continue
        path = crypto.web_secret_path(env) if name == crypto.WEB_SECRET_FILE else crypto.secret_path(name, env)
        _plan_file(plan, path, (text + "\n").encode("utf-8"), same=_equal_to(text))
    return plan


def _equal_to(text: str) -> Callable[[str], bool]:
    return lambda old: old.strip() == text


def _same_keys(old: str, doc: Mapping[str, Any]) -> bool:
    try:
        there = json.loads(old)
        return bool(_key_map(there) == _key_map(doc) and there["current"] == doc["current"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


def _plan_file(plan: KeyPlan, path: Path, content: bytes, same: Callable[[str], bool]) -> None:
    if path.exists():
        try:
            old = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            old = ""
        if same(old):
            return
        plan.differing.append(f"a different {path.name} in {path.parent}")
    plan.writes.append((path, content))


# --- files -------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    """``data`` as a new file of mode 0600, on disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _replace_private(path: Path, data: bytes) -> None:
    """``path`` replaced atomically by ``data`` (0600), its folder created 0700 if missing."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.restore")
    try:
        _write_private(tmp, data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _copy_private(src: Path, dst: Path) -> None:
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _walk(folder: Path) -> Iterator[Path]:
    """Every file below ``folder`` (symbolic links too: a backup holds none, so they count as extra)."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name
        for name in dirs:
            if (Path(root) / name).is_symlink():
                yield Path(root) / name


def _listing(folder: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in _walk(folder):
        rel = path.relative_to(folder).as_posix()
        if rel != MANIFEST:
            out[rel] = {"sha256": sha256_of(path), "size": path.stat().st_size}
    return out


# --- Neo4j's admin tool ---------------------------------------------------------------------


def admin(local: LocalNeo4j, *args: str) -> None:
    """``neo4j-admin`` (the jars' AdminTool) with ``args`` for the local instance; BackupError
    with the tool's last words when it fails."""
    env = dict(os.environ, NEO4J_HOME=str(local.home), NEO4J_CONF=str(local.home / "conf"))
    done = subprocess.run(
        [
            neo4j_local.java_executable(local),
            "-XX:-UsePerfData",
            "-cp",
            f"{neo4j_local.lib_dir(local)}/*",
            neo4j_local.ADMIN_CLASS,
            *args,
        ],
        env=env,
        cwd=local.home,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        words = [
            line.strip()
            for line in (done.stdout + "\n" + done.stderr).splitlines()
            if line.strip() and not line.startswith(("Files:", "\tat ", "Done:"))
        ]
        raise BackupError(f"neo4j-admin {' '.join(args[:2])} failed: {' / '.join(words[-3:]) or done.returncode}")


# --- backup ----------------------------------------------------------------------------------


def _refuse_external(settings: Settings, verb: str) -> None:
    if settings.neo4j_uri:
        raise BackupError(EXTERNAL.format(uri=settings.neo4j_uri, verb=verb))


def _installed(local: LocalNeo4j) -> None:
    if not neo4j_local.is_installed(local):
        raise BackupError(f"no local Neo4j instance '{local.name}' at {local.home}: run `graphsvc neo4j install` first")


@contextlib.contextmanager
def _exclusive(local: LocalNeo4j) -> Iterator[None]:
    """One backup or restore of an instance at a time (both stop and start its server)."""
    import fcntl

    run = local.home / "run"
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(run / "backup.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"another backup or restore of Neo4j '{local.name}' is running; try again later"
            ) from None
        yield
    finally:
        os.close(fd)


def _contents(db: Database) -> dict[str, int]:
    counts = dict(db.read("graph_counts")[0])
    counts.update(db.read("backup_contents")[0])
    return {k: int(v) for k, v in counts.items()}


@dataclass
class BackupResult:
    folder: Path
    manifest: dict[str, Any]
    removed: list[Path]
    seconds_down: float


def backup(
    settings: Settings,
    parent: Path,
    passphrase: str,
    *,
    keep: int | None = None,
    env: Mapping[str, str] | None = None,
    say: Say = _say,
    now: dt.datetime | None = None,
) -> BackupResult:
    """One consistent backup of the local instance into ``parent/graphsvc-<time>/``."""
    _refuse_external(settings, "backup")
    check_passphrase(passphrase)
    _installed(settings.local)
    with _exclusive(settings.local):
        return _backup(settings, Path(parent), passphrase, keep, env, say, now)


def _backup(
    settings: Settings,
    parent: Path,
    passphrase: str,
    keep: int | None,
    env: Mapping[str, str] | None,
    say: Say,
    now: dt.datetime | None,
) -> BackupResult:
    import time

    local = settings.local
    secret_doc = gather_secrets(env)  # before anything stops: a bad key file refuses here
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    parent = Path(parent)
    if parent.exists() and not parent.is_dir():
        raise BackupError(f"{parent} is not a folder")
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = parent / f"{PREFIX}{now.strftime(STAMP)}"
    if final.exists():
        raise BackupError(f"{final} exists already (one backup per second)")
    tmp = parent / f".{final.name}.partial-{secrets.token_hex(4)}"
    was_running = neo4j_local.running_pid(local) is not None
    down = 0.0
    tmp.mkdir(mode=0o700)
    os.chmod(tmp, 0o700)
    try:
        if not was_running:
            neo4j_local.start(local, say=_quiet)
        db = Database.connect(settings)
        try:
            info = db.ping()
            # the backup is on record in the chain it keeps; this also ships the journal
            audit.append_now(db, **cli_actor().event(), action="backup.create", detail=final.name)
            journal = db.journal
            assert journal is not None
            with journal.shipping():  # no shipment from here to the dump: journal and chain agree
                heads = db.read("audit_head")
                counts = _contents(db)
                db.close()
                say(f"stopping Neo4j '{local.name}' for the dump …")
                started_down = time.monotonic()
                neo4j_local.stop(local, say=_quiet)
                if journal.path.exists():
                    with journal._locked():
                        data = journal.path.read_bytes()
                    _write_private(tmp / JOURNAL, data[: data.rfind(b"\n") + 1])
                admin(local, "database", "dump", f"--to-path={tmp}", settings.neo4j_database)
        finally:
            db.close()
        if was_running:
            neo4j_local.start(local, say=_quiet)
            down = time.monotonic() - started_down
            say(f"Neo4j '{local.name}' runs again after {down:.1f} s")
        dump = tmp / f"{settings.neo4j_database}.dump"
        os.chmod(dump, 0o600)
        fd = os.open(dump, os.O_RDONLY)
        try:
            os.fsync(fd)  # Neo4j wrote it; on disk before the folder gets its final name
        finally:
            os.close(fd)
        if settings.audit_checkpoints.exists():
            _copy_private(settings.audit_checkpoints, tmp / CHECKPOINTS)
        if settings.files_dir.is_dir():
            for path in _walk(settings.files_dir):
                if path.is_file() and not path.is_symlink():
                    _copy_private(path, tmp / FILES / path.relative_to(settings.files_dir))
        listing = _listing(tmp)
        sealed = seal({**secret_doc, "files": {k: v["sha256"] for k, v in listing.items()}}, passphrase)
        _write_private(tmp / SECRETS, (json.dumps(sealed, indent=2) + "\n").encode("ascii"))
        listing = _listing(tmp)
        manifest = {
            "format": FORMAT,
            "kind": "graphsvc backup",
            "graphsvc": __version__,
            "neo4j": info.get("version") or local.version,
            "neo4j_edition": info.get("edition"),
            "database": settings.neo4j_database,
            "dump": dump.name,
            "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "audit_head": {"seq": heads[0]["seq"], "hash": heads[0]["hash"]} if heads else None,
            "counts": counts,
            "secrets": {"file": SECRETS, "kdf": sealed["kdf"], "cipher": sealed["cipher"]},
            "files": listing,
        }
        _write_private(tmp / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        running = neo4j_local.running_pid(local) is not None
        with contextlib.suppress(Exception):  # the server as it was found
            if was_running and not running:
                neo4j_local.start(local, say=_quiet)
            elif running and not was_running:
                neo4j_local.stop(local, say=_quiet)
        raise
    removed = prune(parent, keep) if keep else []
    return BackupResult(final, manifest, removed, down)


def _is_backup(path: Path) -> bool:
    if not NAME_RE.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
        return False
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == "graphsvc backup" and "format" in manifest


def prune(parent: Path, keep: int) -> list[Path]:
    """Delete the oldest backups in ``parent`` beyond the newest ``keep``; nothing else."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    found = sorted((p for p in parent.iterdir() if _is_backup(p)), key=lambda p: p.name, reverse=True)
    old = found[keep:]
    for path in old:
        shutil.rmtree(path)
    return old


# --- restore ---------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the backup ``folder`` once every file matches it (BackupError naming
    the first file missing, extra, or changed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} is not a graphsvc backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder / MANIFEST} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "graphsvc backup":
        raise BackupError(f"{folder / MANIFEST} is not the manifest of a graphsvc backup")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder}: backup format {manifest.get('format')!r}; this graphsvc reads format {FORMAT}")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or SECRETS not in listed or manifest.get("dump") not in listed:
        raise BackupError(f"{folder / MANIFEST} does not list the dump and {SECRETS}")
    present = {p.relative_to(folder).as_posix(): p for p in _walk(folder)}
    present.pop(MANIFEST, None)
    for rel in sorted(listed):
        if rel not in present:
            raise BackupError(f"refused: {folder / rel} is missing from the backup; nothing changed")
    for rel in sorted(present):
        if rel not in listed:
            raise BackupError(f"refused: {folder / rel} is not part of the backup (extra file); nothing changed")
    for rel, want in sorted(listed.items()):
        path = present[rel]
        if path.is_symlink() or path.stat().st_size != want.get("size") or sha256_of(path) != want.get("sha256"):
            raise BackupError(f"refused: {folder / rel} does not match its checksum in the manifest; nothing changed")
    return manifest


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    verified: audit.VerifyResult
    head: tuple[int, str]
    replaced: list[str]
    keys_from_env: list[str]


def _what_is_there(settings: Settings, db: Database | None, plan: KeyPlan) -> list[str]:
    there = []
    if db is not None:
        counts = _contents(db)
        if counts["nodes"]:
            there.append(
                f"a database of {counts['nodes']:,} nodes ({counts['households']:,} households, "
                f"{counts['users']:,} users, {counts['audit_events']:,} audit events)"
            )
    journal = db.journal if db is not None else None
    pending = journal.pending_bytes() if journal is not None else 0
    if pending:
        there.append(f"{pending:,} bytes of audit events in {settings.audit_journal} not yet in the chain")
    if settings.audit_checkpoints.exists() and settings.audit_checkpoints.stat().st_size:
        there.append(f"checkpoints in {settings.audit_checkpoints}")
    if settings.files_dir.is_dir() and any(settings.files_dir.iterdir()):
        there.append(f"stored files in {settings.files_dir}")
    return there + plan.differing


def restore(
    settings: Settings,
    folder: Path,
    passphrase: str,
    *,
    force: bool = False,
    env: Mapping[str, str] | None = None,
    say: Say = _say,
) -> RestoreResult:
    """Bring the backup ``folder`` back into the local instance (see the module's doc)."""
    _refuse_external(settings, "restore")
    _installed(settings.local)
    with _exclusive(settings.local):
        return _restore(settings, Path(folder), passphrase, force, env, say)


def _restore(
    settings: Settings, folder: Path, passphrase: str, force: bool, env: Mapping[str, str] | None, say: Say
) -> RestoreResult:
    folder = Path(folder)
    manifest = read_manifest(folder)
    sealed = json.loads((folder / SECRETS).read_text(encoding="ascii"))
    saved = unseal(sealed, passphrase)
    for rel, digest in saved.get("files", {}).items():
        if manifest["files"].get(rel, {}).get("sha256") != digest:
            raise BackupError(f"refused: {folder / rel} is not the file this backup was made with; nothing changed")
    if set(saved.get("files", {})) != set(manifest["files"]) - {SECRETS}:
        raise BackupError(f"refused: the manifest of {folder} lists other files than the backup was made with")
    plan = plan_keys(saved, env)
    if plan.conflicts:
        raise BackupError(
            "refused: " + "; ".join(plan.conflicts) + " (unset it or set it as backed up); nothing changed"
        )
    local = settings.local
    _installed(local)
    wanted, have = str(manifest.get("neo4j", "")).split(".")[:2], local.version.split(".")[:2]
    if wanted != have:
        raise BackupError(
            f"refused: the dump is of Neo4j {manifest.get('neo4j')}, this instance runs {local.version}; "
            "nothing changed"
        )
    was_running = neo4j_local.running_pid(local) is not None
    db: Database | None = None
    try:
        neo4j_local.start(local, say=_quiet)
        db = Database.connect(settings)
        there = _what_is_there(settings, db, plan)
    except (neo4j_local.Neo4jError, OSError) as exc:
        if not force:
            raise BackupError(
                f"refused: the target instance cannot be looked into ({str(exc).splitlines()[0]}); "
                "--force restores over it; nothing changed"
            ) from None
        there = ["an instance that does not start"]
    finally:
        if db is not None:
            db.close()
    if there and not force:
        if not was_running:
            neo4j_local.stop(local, say=_quiet)
        raise BackupError(
            "refused: the target is not empty: " + "; ".join(there) + ". Nothing changed; --force replaces it"
        )
    # from here on, changes
    say(f"stopping Neo4j '{local.name}' to load the dump …")
    neo4j_local.stop(local, say=_quiet)
    staging = local.home / "run" / f"restore-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700, parents=True)
    try:
        (staging / f"{settings.neo4j_database}.dump").symlink_to((folder / manifest["dump"]).resolve())
        admin(
            local, "database", "load", f"--from-path={staging}", "--overwrite-destination=true", settings.neo4j_database
        )
    except BaseException as exc:
        with contextlib.suppress(Exception):
            neo4j_local.start(local, say=_quiet)  # whatever is there now, serving again
        raise BackupError(
            f"restore failed while loading the dump ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            "the journal, checkpoints and keys were left as they were, the database may be incomplete: "
            "restore again (--force)"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    journal_copy = folder / JOURNAL
    if journal_copy.exists():
        _replace_private(settings.audit_journal, journal_copy.read_bytes())
    elif settings.audit_journal.exists():
        _replace_private(settings.audit_journal, b"")
    if (folder / CHECKPOINTS).exists():
        _replace_private(settings.audit_checkpoints, (folder / CHECKPOINTS).read_bytes())
    elif settings.audit_checkpoints.exists():
        settings.audit_checkpoints.unlink()
    if settings.files_dir.exists():
        shutil.rmtree(settings.files_dir)
    if (folder / FILES).is_dir():
        for path in _walk(folder / FILES):
            target = settings.files_dir / path.relative_to(folder / FILES)
            _replace_private(target, path.read_bytes())
        os.chmod(settings.files_dir, 0o700)
    for path, content in plan.writes:
        _replace_private(path, content)
    say(f"loaded; starting Neo4j '{local.name}' …")
    neo4j_local.start(local, say=_quiet)
    with Database.connect(settings) as db2:
        verified = audit.verify(db2)
        head = manifest.get("audit_head")
        if verified.ok and head and audit.hash_at(db2, head["seq"]) != head["hash"]:
            raise BackupError(
                f"restored, but the audit chain does not pass through the backed-up head (event {head['seq']})"
            )
        audit.append_now(
            db2,
            **cli_actor().event(),
            action="backup.restore",
            outcome="ok" if verified.ok else "failure",
            detail=f"{folder.name}" + ("" if verified.ok else f": {verified.problem}"),
        )
        rows = db2.read("audit_head")
    return RestoreResult(manifest, verified, (rows[0]["seq"], rows[0]["hash"]), there, plan.from_env)
