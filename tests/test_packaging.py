"""Set-up files stay true: docker-compose matches the local settings; secrets stay out of git;
the app works from a wheel, not only from a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from graphsvc.db import connection_params

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_neo4j_526_locked_down_and_the_app():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    neo4j = compose["services"]["neo4j"]
    assert neo4j["image"] == "neo4j:5.26-community"
    assert neo4j["environment"]["NEO4J_server_http_enabled"] == "false"
    assert neo4j["environment"]["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD:?")
    assert all(p.startswith("127.0.0.1:") for s in compose["services"].values() for p in s.get("ports", []))
    app = compose["services"]["app"]
    assert app["environment"]["NEO4J_URI"] == "bolt://neo4j:7687"
    assert app["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert 'CMD ["graphsvc", "serve"' in (ROOT / "Dockerfile").read_text()  # gunicorn, as `graphsvc serve` runs it


def test_generated_and_secret_files_are_ignored():
    for path in (
        ".neo4j/instances/dev/password",
        ".neo4j/lib/x.jar",
        ".venv/bin/python",
        "web/translations/ko/LC_MESSAGES/messages.mo",
        ".env",
        ".secrets/data-keys.json",
        ".secrets/web-secret",
        ".neo4j/instances/dev/keys/data-keys.json",
        ".state/neo4j/keys/data-keys.json",
        ".state/neo4j/files/x",
    ):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert done.returncode == 0, f"{path} is not git-ignored"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()


# --- the app from a wheel -----------------------------------------------------------------------

# Run inside the fresh virtualenv, from a folder of its own (the checkout is not on sys.path):
# what an installed graphsvc finds of itself.
INSTALLED = r"""
import json, os, sys
import graphsvc, web
from graphsvc import config
from graphsvc.config import load_settings
from graphsvc.db import Queries

settings = load_settings()
queries = Queries(settings.cypher_dir)
app = web.create_app(settings, TESTING=True)
client = app.test_client()
pages = {lang: client.get("/login?lang=" + lang) for lang in ("ko", "en")}
print(json.dumps({
    "sys_path": sys.path,
    "graphsvc": graphsvc.__file__, "web": web.__file__,
    "cypher_dir": str(settings.cypher_dir), "names": queries.names(), "files": sorted(queries.by_file),
    "project_root": str(config.PROJECT_ROOT), "state_dir": str(settings.state_dir), "cwd": os.getcwd(),
    "login": {lang: [page.status_code, page.get_data(as_text=True)] for lang, page in pages.items()},
}))
"""


def _source_copy(target: Path) -> Path:
    """What a wheel is built from, copied out of the checkout (the build writes build/ and
    *.egg-info beside its sources: not into the checkout)."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    for package in ("graphsvc", "web"):
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, **kw)
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_app_runs_from_a_wheel_in_a_fresh_virtualenv(db, settings, tmp_path):
    """Build the wheel, install it with the pinned dependencies into a new virtualenv and,
    from a folder outside the checkout, load the statement registry and serve a page (on
    the tests' Neo4j, as an external server)."""
    source = _source_copy(tmp_path / "src")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(source)])
    [wheel] = (tmp_path / "dist").glob("graphsvc-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    cypher = sorted(n for n in names if n.endswith(".cypher"))
    assert cypher == sorted(f"graphsvc/cypher/{p.name}" for p in (ROOT / "graphsvc" / "cypher").glob("*.cypher"))
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]
    assert "web/templates/login.html" in names and any(n.startswith("web/static/") for n in names)
    assert "web/openapi.json" in names and "web/static/report.js" in names
    if (ROOT / "web/translations/ko/LC_MESSAGES/messages.mo").exists():  # compiled by make install
        assert "web/translations/ko/LC_MESSAGES/messages.mo" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(wheel)])

    run = tmp_path / "run"
    run.mkdir()
    places = {
        "GRAPHSVC_STATE_DIR",
        "GRAPHSVC_CYPHER_DIR",
        "GRAPHSVC_AUDIT_JOURNAL",
        "GRAPHSVC_AUDIT_CHECKPOINTS",
        "GRAPHSVC_KEY_FILE",
        "GRAPHSVC_SECRET_FILE",
    }
    env = {
        k: v
        for k, v in os.environ.items()  # the tests' keys stay; no path points into the checkout
        if not k.startswith(("PYTHON", "NEO4J_", "GRAPHSVC_NEO4J", "VIRTUAL_ENV")) and k not in places
    }
    uri, (user, password) = connection_params(settings)
    env.update(NEO4J_URI=uri, NEO4J_USER=user, NEO4J_PASSWORD=password)
    out = json.loads(_run([str(python), "-c", INSTALLED], cwd=run, env=env).stdout)
    site = str(venv / "lib")
    assert out["graphsvc"].startswith(site) and out["web"].startswith(site)
    assert not [p for p in out["sys_path"] if p and Path(p).resolve() == ROOT], "the checkout is on sys.path"
    assert out["cypher_dir"].startswith(site) and out["cypher_dir"].endswith("graphsvc/cypher")
    assert {"household_view", "audit_append_event", "import_people", "user_get"} <= set(out["names"])
    assert "schema" in out["files"] and "testing" not in out["files"]
    assert not [n for n in out["names"] if n.startswith(("test_", "bench_")) or n == "wipe_all"]
    # an installed package keeps its state under the folder it runs in, never in site-packages
    assert Path(out["project_root"]) == run.resolve() and out["state_dir"].startswith(str(run.resolve()))
    assert out["login"]["ko"][0] == 200 and out["login"]["en"][0] == 200
    assert 'lang="en"' in out["login"]["en"][1] and "Sign in" in out["login"]["en"][1]
    if (ROOT / "web/translations/ko/LC_MESSAGES/messages.mo").exists():
        assert 'lang="ko"' in out["login"]["ko"][1] and "로그인" in out["login"]["ko"][1]
    # the graphsvc command is installed too
    assert "Usage" in _run([str(venv / "bin" / "graphsvc"), "--help"], cwd=run, env=env).stdout
