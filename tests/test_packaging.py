"""Set-up files stay true: docker-compose matches the local settings; secrets stay out of git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

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
    for path in (".neo4j/instances/dev/password", ".neo4j/lib/x.jar", ".venv/bin/python",
                 "web/translations/ko/LC_MESSAGES/messages.mo", ".env",
                 ".secrets/data-keys.json", ".secrets/web-secret"):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert done.returncode == 0, f"{path} is not git-ignored"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()
