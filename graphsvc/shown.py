"""Which record ids an answer shows: the audit event's targets, read from the answer itself.

An audit event names the households, people and visits a page or an API answer showed.
Keeping that list by hand beside the answer drifts (an introducer, a sample household or a
chain's people were shown and not named). So the event's targets are collected from the
very data that leaves: every string under an *id key* of the answer, at any depth.

Id keys: ``id``, ``seed``, ``chain_of``, ``path``, ``from``, ``to`` and any key ending in
``_id`` or ``_ids``; under an id key a list holds ids. Answers follow one rule for this to
hold: **whatever names a record (a code, a code name) travels with its id under an id
key**, even where the page does not print the id. Ids made up for the drawing (placeholders,
overview groups, edges) start with ``~``, which no record id can (graphsvc.records.ID_RE),
and are not targets.

>>> answer = {"id": "h-1", "members": [{"id": "p-1", "code_name": "목련"}],
...           "introducer": {"id": None, "code_name": None}, "path": ["p-9", None, "p-1"],
...           "nodes": [{"id": "~x1", "kind": "placeholder"}], "top_ids": ["p-7"]}
>>> ids_in(answer)
['h-1', 'p-1', 'p-9', 'p-7']
"""

from __future__ import annotations

from typing import Any

SYNTHETIC = "~"  # the first character of an id made up for a drawing
ID_KEYS = frozenset({"id", "seed", "chain_of", "path", "from", "to"})


def is_id_key(key: object) -> bool:
    return isinstance(key, str) and (key in ID_KEYS or key.endswith("_id") or key.endswith("_ids"))


def ids_in(answer: Any) -> list[str]:
    """The record ids under id keys anywhere in ``answer`` (dicts, lists, tuples), first
    seen first, each once."""
    found: dict[str, None] = {}

    def walk(value: Any, key: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and value and not value.startswith(SYNTHETIC) and is_id_key(key):
            found.setdefault(value, None)

    walk(answer, None)
    return list(found)
