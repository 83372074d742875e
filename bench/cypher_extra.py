"""The statements the benchmarks load besides the application's (graphsvc/cypher): their
own (bench/cypher: LOAD CSV baselines, audit fixtures) and the tests' (tests/cypher:
``wipe_all``). The application never loads either folder.

Each benchmark puts them into its settings: ``replace(settings, cypher_extra=FOLDERS)``.
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
FOLDERS: tuple[Path, ...] = (_ROOT / "bench" / "cypher", _ROOT / "tests" / "cypher")
