"""The coordinator's network map against pyvis's defaults: build and render times at 1k, 5k
and 100k households, side by side in one run, on the same graph.

For each size N the deterministic demo (``demo.generate(N, seed=1, as_of=2026-11-01)``)
is loaded into a Neo4j instance of the bench's own (``benchmap``, bolt 7695, heap 512m,
page cache 256m; started here and stopped at the end if this script started it). Then:

1. graphsvc server build: the core's ``mapping.build`` called directly, then ``mapview.vis_data``
   + ``mapview.script_json`` (the map's server work without the audit write and the HTML
   template), median and max of ``--repeat`` runs, for the full households map
   (``max_nodes=N``, when N <= netmap.MAX_NODES) and for the default view (the overview
   above 2,000 households).
2. pyvis default on the same graph: the households graph of that build (above MAX_NODES
   the same Cypher and ``netmap.household_map`` directly) as a plain networkx graph with
   string ids and labels, then ``Network(directed=True, cdn_resources="in_line")``,
   ``from_nx``, ``generate_html`` with pyvis's defaults (physics on, its stock template).
   Each run is a fresh child process with a time limit (``--pyvis-timeout``); a run over
   20 s is not repeated.
3. Browser time to interactive in headless Chromium (Playwright, /usr/bin/chromium): the
   real map page (``coordinator.map_page`` rendered in a request context, with its
   static files, served by a small http.server on 127.0.0.1 with the app's CSP), from
   navigation start until ``body[data-map-ready=1]`` (map.js sets it in its first
   ``afterDrawing``; the observer fires when that draw has completed), then the next
   frame, then a pan (a mouse drag on empty canvas) until the first redraw that shows the
   moved view; median of 3 loads. pyvis's page: until ``stabilizationIterationsDone``
   and the first draw after it, once. Third-party requests (pyvis's template loads
   Bootstrap from a CDN) are aborted. Each page has ``--browser-timeout`` seconds.

Prints the machine, one side-by-side table and PASS/FAIL for the issue's targets, and
writes the same to bench/out/map.txt. Server logs go to files (Neo4j: its instance's
logs; the page server: bench/out/map-http.log).

    .venv/bin/python bench/map.py [--sizes 1000,5000,100000] [--repeat 5] [--no-browser]
                                  [--browser-timeout 120] [--pyvis-timeout 900]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.server
import multiprocessing
import os
import pickle
import platform
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRAPHSVC_DATA_KEY", "kbench:" + "B" * 43)
os.environ.setdefault("GRAPHSVC_SECRET_KEY", "bench-secret")

import networkx as nx  # noqa: E402
from cypher_extra import FOLDERS as CYPHER_EXTRA  # noqa: E402  (bench/cypher_extra.py)
from neo4j.exceptions import TransientError  # noqa: E402

from graphsvc import access, demo, neo4j_local, netmap  # noqa: E402
from graphsvc.config import load_settings  # noqa: E402
from graphsvc.crypto import load_keyring  # noqa: E402
from graphsvc.db import Database  # noqa: E402
from graphsvc.model import Actor  # noqa: E402

OUT = ROOT / "bench" / "out"
STATIC = ROOT / "web" / "static"
SUBJECT = access.Subject("bench", "admin", ())
AS_OF = dt.date(2026, 11, 1)
BROWSER_LOADS = 3  # loads of each graphsvc page (pyvis's page: one)
SLOW_PYVIS = 20.0  # a pyvis run slower than this is not repeated
WIPE_HEAP = "1g"  # the heap for emptying a big demo when wipe_all overflows 512m
VIEWPORT = {"width": 1400, "height": 900}
# the app's Content-Security-Policy (web/__init__.py), with a fixed nonce
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-bench'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# --- what a run produces -------------------------------------------------------------


@dataclass
class ServerRuns:
    """Timed runs of one map request's server work (seconds)."""

    build: list[float] = field(default_factory=list)
    vis: list[float] = field(default_factory=list)
    json: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    timed_out: float | None = None  # the time limit, when the (only) run exceeded it
    note: str = ""


@dataclass
class Page:
    """What a browser saw of one page (seconds from navigation start)."""

    ready: list[float] = field(default_factory=list)  # first draw done (pyvis: after stabilisation)
    frame: list[float] = field(default_factory=list)  # the next frame
    pan: list[float] = field(default_factory=list)  # drag start -> redraw showing the moved view
    created: float | None = None  # pyvis: `new vis.Network` returned
    stabilised: float | None = None  # pyvis: stabilizationIterationsDone
    bar_gone: float | None = None  # pyvis: its loading bar (over the canvas) hidden
    timeout: float | None = None  # the limit, when the page did not get there
    progress: str = ""  # pyvis: the last stabilisation progress seen
    blocked: set[str] = field(default_factory=set)  # third-party hosts asked for
    errors: list[str] = field(default_factory=list)


@dataclass
class Row:
    size: int
    view: str  # "households" | "default" | "pyvis"
    mode: str = ""
    nodes: int | None = None
    edges: int | None = None
    server: ServerRuns | None = None
    page_s: float | None = None  # graphsvc: the whole view (build, side panel, audit, template)
    html_mb: float | None = None
    browser: Page | None = None
    note: str = ""


VIEW_NAMES = {
    "households": "graphsvc households map",
    "default": "graphsvc default view",
    "pyvis": "pyvis default (physics on)",
}


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --- Neo4j and the demo --------------------------------------------------------------


def bench_settings():
    settings = load_settings({k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")})
    settings = settings.with_instance("benchmap", 7695)
    settings = replace(settings, cypher_extra=CYPHER_EXTRA)  # bench/cypher, tests/cypher
    return replace(settings, local=replace(settings.local, heap="512m", pagecache="256m"))


def quiet(_message: str) -> None:
    pass


def empty_database(settings, started: bool) -> str:
    """``wipe_all``. Its batches of 10,000 nodes (with every relationship they hold) overflow
    the transaction memory pool of a 512m heap on a 100,000-household demo: then, when this
    script started the instance, wipe at heap ``WIPE_HEAP`` and restart as configured.
    Returns a note when that was needed."""
    with Database.connect(settings) as db:
        try:
            db.run_autocommit("wipe_all")
            return ""
        except TransientError as exc:
            if "MemoryPool" not in str(exc.code) or not started:
                raise
    local, big = settings.local, replace(settings.local, heap=WIPE_HEAP)
    neo4j_local.stop(local, say=quiet)
    neo4j_local.start(big, say=quiet)
    try:
        with Database.connect(replace(settings, local=big)) as db:
            db.run_autocommit("wipe_all")
    finally:
        neo4j_local.stop(big, say=quiet)
        neo4j_local.start(local, say=quiet)
    return (
        f"wipe_all overflowed the transaction memory pool at heap {local.heap}: emptied at heap "
        f"{WIPE_HEAP}, Neo4j restarted at {local.heap}"
    )


def load_demo(db: Database, households: int) -> tuple[float, dict[str, int]]:
    """Import the demo of ``households`` into the empty database; (seconds, rows per table)."""
    t0 = time.perf_counter()
    tables = demo.generate(households, seed=1, as_of=AS_OF)
    report = demo.load(db, tables, load_keyring(), Actor("bench", "admin", "127.0.0.1", "bench"))
    assert report.ok, report
    return time.perf_counter() - t0, {name: len(rows) for name, rows in tables.items()}


# --- graphsvc on the server ------------------------------------------------------------


def filters_of(args: dict[str, str]):
    """The map's filters for the bench's few arguments (what web/args.parse_filters reads)."""
    from graphsvc.mapping import MapFilters

    return MapFilters(
        max_nodes=int(args.get("max_nodes", netmap.NODE_BUDGET)),
        view=args.get("view", "households"),
        chain_of=args.get("chain_of"),
        root=args.get("root"),
    )


def time_map(app, args: dict[str, str], repeat: int):
    """``repeat`` timed runs of the core's ``mapping.build`` (called directly: no request),
    then the page's ``mapview.vis_data`` and ``mapview.script_json`` (in an app context for
    their words); (runs, last result, last data)."""
    from graphsvc import mapping
    from web import mapview
    from web.neo import get_db

    settings = app.config["GRAPHSVC_SETTINGS"]
    with app.app_context():
        db = get_db()
    runs = ServerRuns()
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = mapping.build(db, SUBJECT, filters_of(args), settings.follow_up_days)
        t1 = time.perf_counter()
        with app.test_request_context("/map"):  # its words are in the request's language
            data = mapview.vis_data(result, settings.newcomer_days)
            t2 = time.perf_counter()
            mapview.script_json(data)
            t3 = time.perf_counter()
        runs.build.append(t1 - t0)
        runs.vis.append(t2 - t1)
        runs.json.append(t3 - t2)
        runs.total.append(t3 - t0)
    return runs, result, data


def render_page(app, args: dict[str, str]) -> tuple[str, float]:
    """The map page's HTML as the app serves it (``coordinator.map_page`` itself, audit
    included), and the seconds it took."""
    from flask import g

    from web import coordinator

    with app.test_request_context("/map", query_string=args):
        g.subject = SUBJECT
        t0 = time.perf_counter()
        html = coordinator.map_page()
        return html, time.perf_counter() - t0


def full_households_graph(app) -> tuple[nx.DiGraph, float]:
    """Every household as the households map would draw it (map_households + household_map),
    for sizes the app only shows as an overview; and the seconds it took."""
    from graphsvc import mapping
    from graphsvc.netmap import household_map
    from web.neo import get_db

    with app.app_context():
        db = get_db()
    filters = mapping.MapFilters(max_nodes=netmap.MAX_NODES)
    scope = mapping.authorise(SUBJECT, filters)
    t0 = time.perf_counter()
    rows = db.read(
        "map_households",
        **mapping._params(filters, scope, dt.date.today(), app.config["GRAPHSVC_SETTINGS"].follow_up_days),
    )[0]["rows"]
    graph = household_map(rows, scope)
    return graph, time.perf_counter() - t0


def plain_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """The households graph with string ids and the label graphsvc draws, nothing else."""
    from web.mapview import _household_label

    plain = nx.DiGraph()
    for n, d in graph.nodes(data=True):
        plain.add_node(str(n), label=_household_label(d) if d.get("kind") == "household" else str(n))
    plain.add_edges_from((str(u), str(v)) for u, v in graph.edges())
    return plain


# --- pyvis on the server (child processes with a time limit) -------------------------


def _pyvis_child(graph_file: str, html_file: str, conn) -> None:
    from pyvis.network import Network

    with open(graph_file, "rb") as fh:
        graph = pickle.load(fh)
    t0 = time.perf_counter()
    net = Network(directed=True, cdn_resources="in_line")
    net.from_nx(graph)
    t1 = time.perf_counter()
    html = net.generate_html()
    t2 = time.perf_counter()
    Path(html_file).write_text(html, encoding="utf-8")
    conn.send((t1 - t0, t2 - t1))


def pyvis_once(graph_file: Path, html_file: Path, timeout: float) -> tuple[float, float] | None:
    """One pyvis build in a fresh process: (from_nx s, generate_html s), None past ``timeout``."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_pyvis_child, args=(str(graph_file), str(html_file), send))
    child.start()
    send.close()
    try:
        if receive.poll(timeout):
            return receive.recv()
        return None
    except EOFError:
        raise RuntimeError(f"the pyvis child failed (exit code {child.exitcode})") from None
    finally:
        if child.is_alive():
            child.terminate()
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()


def time_pyvis(graph: nx.DiGraph, html_file: Path, repeat: int, timeout: float) -> ServerRuns:
    runs = ServerRuns()
    graph_file = html_file.with_suffix(".pickle")
    with open(graph_file, "wb") as fh:
        pickle.dump(graph, fh, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        for _ in range(repeat):
            took = pyvis_once(graph_file, html_file, timeout)
            if took is None:
                runs.timed_out = timeout
                break
            runs.build.append(took[0])  # from_nx
            runs.vis.append(took[1])  # generate_html
            runs.total.append(sum(took))
            if sum(took) > SLOW_PYVIS:
                runs.note = f"{len(runs.total)} run(s): over {SLOW_PYVIS:.0f} s, not repeated"
                break
    finally:
        graph_file.unlink(missing_ok=True)
    return runs


# --- the page server -----------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    log_file = None
    lock = threading.Lock()
    not_found: list[str] = []

    def end_headers(self) -> None:
        if self.path.startswith("/map-"):  # graphsvc's pages get the app's policy
            self.send_header("Content-Security-Policy", CSP)
        super().end_headers()

    def send_error(self, code, message=None, explain=None) -> None:
        if code == 404:
            self.not_found.append(self.path)
        super().send_error(code, message, explain)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        with self.lock:
            self.log_file.write(f"{self.log_date_time_string()} {format % args}\n")
            self.log_file.flush()


def copy_assets(site: Path) -> None:
    """The map page's static files at the URLs the page uses."""
    from web.coordinator import VIS_DIR, VIS_FILES

    (site / "static").mkdir(parents=True)
    for name in ("app.css", "map.css", "map.js", "favicon.svg"):
        shutil.copy(STATIC / name, site / "static" / name)
    (site / "vendor" / "vis-network").mkdir(parents=True)
    for name in VIS_FILES:
        shutil.copy(VIS_DIR / name, site / "vendor" / "vis-network" / name)


@contextmanager
def page_server(site: Path, log_path: Path) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 (a free port), logging to ``log_path``; yield the base URL."""
    with open(log_path, "w", encoding="utf-8") as log:
        _Handler.log_file = log
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
        thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


# --- the browser ---------------------------------------------------------------------

# Marks go out as console messages ("bench:<what> <ms since navigation start>"): they
# arrive even when the page's main thread is too busy to answer an evaluate.
GRAPHSVC_HOOK = """(() => {
  const say = (what, value) => console.log("bench:" + what + " " + value);
  new MutationObserver((_changes, observer) => {
    if (!document.body || document.body.dataset.mapReady !== "1") { return; }
    observer.disconnect();
    say("ready", performance.now());
    requestAnimationFrame(() => setTimeout(() => say("frame", performance.now()), 0));
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-map-ready"]});
})();"""

# pyvis's template assigns its network to the global `network` (declared with `var`):
# an accessor set up before the page's scripts sees the assignment.
PYVIS_HOOK = """(() => {
  const say = (what, value) => console.log("bench:" + what + " " + value);
  let current;
  Object.defineProperty(window, "network", {configurable: true, get() { return current; }, set(value) {
    current = value;
    if (!value || typeof value.once !== "function" || window.__benchHooked) { return; }
    window.__benchHooked = true;
    say("created", performance.now());
    value.on("stabilizationProgress", (p) => say("progress", p.iterations + "/" + p.total));
    value.once("stabilizationIterationsDone", () => {
      say("stabilised", performance.now());
      const bar = document.getElementById("loadingBar");  // it covers the canvas until hidden
      if (bar) {
        new MutationObserver((_changes, observer) => {
          if (bar.style.display !== "none") { return; }
          observer.disconnect();
          say("bar", performance.now());
        }).observe(bar, {attributes: true, attributeFilter: ["style"]});
      }
      value.once("afterDrawing", () => queueMicrotask(() => {
        say("ready", performance.now());
        requestAnimationFrame(() => setTimeout(() => say("frame", performance.now()), 0));
      }));
    });
  }});
})();"""

NETWORK_JS = "(window.graphsvcMap ? window.graphsvcMap.network : window.network)"

# A point of the canvas with no node within 16 px, nearest the centre and inside the
# window (page coordinates); a drag that starts on a node moves the node, not the view.
EMPTY_POINT_JS = (
    """() => {
  const net = %s;
  const rect = net.body.container.getBoundingClientRect();
  const height = Math.min(rect.height, window.innerHeight - rect.top - 100);
  const free = (x, y) => [-16, 0, 16].every((dx) => [-16, 0, 16].every(
    (dy) => net.getNodeAt({x: x + dx, y: y + dy}) === undefined));
  const points = [];
  for (let i = 1; i < 24; i++) { for (let j = 1; j < 16; j++) { points.push([rect.width * i / 24, height * j / 16]); } }
  const d = (p) => Math.hypot(p[0] - rect.width / 2, p[1] - height / 2);
  points.sort((a, b) => d(a) - d(b));
  for (const [x, y] of points) {
    if (free(x, y)) { return {x: rect.left + x, y: rect.top + y}; }
  }
  return null;
}"""
    % NETWORK_JS
)

# From the drag's pointerdown to the end of the first redraw that shows the view moved.
PAN_HOOK_JS = (
    """() => {
  const net = %s;
  const before = net.getViewPosition();
  const start = {};
  net.body.container.addEventListener("pointerdown", () => { start.t = performance.now(); },
                                      {capture: true, once: true});
  const check = () => {
    if (start.t === undefined) { return; }
    const now = net.getViewPosition();
    if (Math.abs(now.x - before.x) + Math.abs(now.y - before.y) < 1) { return; }
    net.off("afterDrawing", check);
    queueMicrotask(() => console.log("bench:pan " + (performance.now() - start.t)));
  };
  net.on("afterDrawing", check);
}"""
    % NETWORK_JS
)


@contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def _wait_mark(page, marks: dict, key: str, deadline: float) -> bool:
    """Wait (without asking the page anything) until ``key`` was reported or ``deadline``."""
    while key not in marks:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        page.wait_for_timeout(min(100.0, left * 1000))
    return True


def _pan(page, marks: dict, deadline: float) -> bool:
    """Drag on empty canvas; whether a redraw showed the moved view (within 15 s)."""
    deadline = min(deadline, time.monotonic() + 15)
    if page.evaluate("!!document.getElementById('loadingBar')"):
        _wait_mark(page, marks, "bar", deadline)  # pyvis: the bar takes the mouse until hidden
    point = page.evaluate(EMPTY_POINT_JS)
    if point is None:
        return False
    page.evaluate(PAN_HOOK_JS)
    page.mouse.move(point["x"], point["y"])
    page.mouse.down()
    page.mouse.move(point["x"] + 150, point["y"] + 90, steps=8)
    page.mouse.up()
    return _wait_mark(page, marks, "pan", deadline)


def load_page(browser, url: str, hook: str, timeout: float, into: Page) -> None:
    """Open ``url`` in a fresh context and add its marks to ``into`` (seconds)."""
    context = browser.new_context(viewport=VIEWPORT)
    marks: dict[str, str] = {}

    def on_console(message) -> None:
        text = message.text
        if text.startswith("bench:"):
            what, _, value = text[6:].partition(" ")
            if what == "progress" or what not in marks:
                marks[what] = value
        elif message.type == "error" and not (into.blocked and "net::ERR_FAILED" in text):
            into.errors.append(text[:200])

    def third_party(route) -> None:
        into.blocked.add(re.sub(r"^\w+://([^/]+).*$", r"\1", route.request.url))
        route.abort()

    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), third_party)
    try:
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda exc: into.errors.append(str(exc)[:200]))
        page.add_init_script(hook)
        deadline = time.monotonic() + timeout
        page.goto(url, wait_until="commit", timeout=timeout * 1000)
        if not _wait_mark(page, marks, "ready", deadline):
            into.timeout = timeout
        else:
            into.ready.append(float(marks["ready"]) / 1000)
            if _wait_mark(page, marks, "frame", deadline):
                into.frame.append(float(marks["frame"]) / 1000)
            if _pan(page, marks, deadline):
                into.pan.append(float(marks["pan"]) / 1000)
        into.created = float(marks["created"]) / 1000 if "created" in marks else into.created
        into.stabilised = float(marks["stabilised"]) / 1000 if "stabilised" in marks else into.stabilised
        into.bar_gone = float(marks["bar"]) / 1000 if "bar" in marks else into.bar_gone
        into.progress = marks.get("progress", into.progress)
    finally:
        context.close()


def browse_graphsvc(browser, url: str, timeout: float) -> Page:
    page = Page()
    for _ in range(BROWSER_LOADS):
        load_page(browser, url, GRAPHSVC_HOOK, timeout, page)
        if page.timeout:
            break
    return page


def browse_pyvis(browser, url: str, timeout: float) -> Page:
    page = Page()
    load_page(browser, url, PYVIS_HOOK, timeout, page)
    return page


# --- one size ------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def measure_size(app, n: int, args, site: Path, base_url: str | None, browser) -> list[Row]:
    rows = []
    graph = None
    for view, map_args in (("households", {"max_nodes": str(n)}), ("default", {})):
        row = Row(n, view)
        rows.append(row)
        if view == "households" and n > netmap.MAX_NODES:
            row.note = f"n/a (over netmap.MAX_NODES {netmap.MAX_NODES:,}: the app draws the overview)"
            continue
        say(f"{n:,}: {VIEW_NAMES[view]}, {args.repeat} server runs")
        row.server, result, data = time_map(app, map_args, args.repeat)
        row.mode, row.nodes, row.edges = result.mode, len(data["nodes"]), len(data["edges"])
        if view == "households":
            graph = result.graph
        html, row.page_s = render_page(app, map_args)
        name = f"map-{n}-{view}.html"
        (site / name).write_text(html, encoding="utf-8")
        row.html_mb = len(html.encode()) / 1e6
        if browser is not None:
            say(f"{n:,}: {VIEW_NAMES[view]} in Chromium, {BROWSER_LOADS} loads")
            row.browser = browse_graphsvc(browser, f"{base_url}/{name}", args.browser_timeout)

    row = Row(n, "pyvis", mode="physics")
    rows.append(row)
    if graph is None:
        say(f"{n:,}: the whole households graph (map_households + household_map)")
        try:
            graph, took = full_households_graph(app)
            row.note = f"graph built directly: map_households + household_map {took:.1f} s"
        except Exception as exc:  # noqa: BLE001 (a result to report, e.g. the heap is too small)
            row.note = f"n/a (the households graph could not be built: {type(exc).__name__}: {str(exc)[:120]})"
            return rows
    plain = plain_graph(graph)
    row.nodes, row.edges = plain.number_of_nodes(), plain.number_of_edges()
    html_file = site / f"pyvis-{n}.html"
    say(f"{n:,}: pyvis from_nx + generate_html, up to {args.repeat} runs of at most {args.pyvis_timeout:.0f} s")
    row.server = time_pyvis(plain, html_file, args.repeat, args.pyvis_timeout)
    if row.server.total:
        row.html_mb = html_file.stat().st_size / 1e6
        if browser is not None:
            say(f"{n:,}: pyvis in Chromium (at most {args.browser_timeout:.0f} s)")
            row.browser = browse_pyvis(browser, f"{base_url}/{html_file.name}", args.browser_timeout)
    return rows


# --- the report ----------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def server_cell(runs: ServerRuns | None) -> tuple[str, str]:
    if runs is None:
        return "-", "-"
    if not runs.total:
        return f"> {runs.timed_out:.0f}", "-"
    return fmt(median(runs.total)), fmt(max(runs.total))


def browser_cell(page: Page | None) -> tuple[str, str]:
    if page is None:
        return "-", "-"
    if page.timeout and not page.ready:
        return f"> {page.timeout:.0f}", "-"
    return fmt(median(page.ready)), fmt(median(page.pan), 3)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.0f}x" if a / b >= 10 else f"{a / b:.1f}x"


def ratio_cell(rows: list[Row], row: Row) -> str:
    """pyvis / graphsvc: against the households map of the same graph, else the default view."""
    if row.view != "pyvis":
        return ""
    same = next((r for r in rows if r.size == row.size and r.view == "households" and r.server), None)
    base = same or next((r for r in rows if r.size == row.size and r.view == "default" and r.server), None)
    if base is None:
        return "-"
    against = "" if same else " (vs overview)"
    server = ratio(
        median(row.server.total) if row.server and row.server.total else row.server and row.server.timed_out,
        median(base.server.total),
    )
    if row.server and not row.server.total:
        server = "> " + server
    browser = "-"
    if row.browser and base.browser and base.browser.ready:
        value = median(row.browser.ready) if row.browser.ready else row.browser.timeout
        browser = ("> " if not row.browser.ready else "") + ratio(value, median(base.browser.ready))
    return f"server {server}, browser {browser}{against}"


def table(rows: list[Row]) -> list[str]:
    head = (
        f"{'households':>10}  {'view':<27}{'mode':<11}{'nodes':>8}{'edges':>8}{'server s':>10}"
        f"{'max s':>8}{'browser s':>11}{'pan s':>8}  pyvis/graphsvc"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        med, mx = server_cell(row.server)
        ready, pan = browser_cell(row.browser)
        nodes = "-" if row.nodes is None else f"{row.nodes:,}"
        edges = "-" if row.edges is None else f"{row.edges:,}"
        if row.note.startswith("n/a"):
            lines.append(f"{row.size:>10,}  {VIEW_NAMES[row.view]:<27}{row.note}")
            continue
        lines.append(
            f"{row.size:>10,}  {VIEW_NAMES[row.view]:<27}{row.mode:<11}{nodes:>8}{edges:>8}{med:>10}"
            f"{mx:>8}{ready:>11}{pan:>8}  {ratio_cell(rows, row)}"
        )
    return lines


def details(rows: list[Row]) -> list[str]:
    """Where the time goes, per row (medians)."""
    lines = []
    for row in rows:
        if row.server is None:
            continue
        name = f"{row.size:>7,} {VIEW_NAMES[row.view]}:"
        s = row.server
        if row.view == "pyvis":
            text = (
                f"from_nx {fmt(median(s.build))} s, generate_html {fmt(median(s.vis))} s"
                if s.total
                else f"no HTML within {s.timed_out:.0f} s"
            )
            text += f"; runs {', '.join(fmt(t) for t in s.total) or '-'}"
        else:
            text = (
                f"build {fmt(median(s.build), 3)} s, vis_data {fmt(median(s.vis), 3)} s, "
                f"_json {fmt(median(s.json), 3)} s;"
                f" runs {', '.join(fmt(t) for t in s.total)}; whole page once {fmt(row.page_s)} s"
            )
        if row.html_mb is not None:
            text += f"; HTML {row.html_mb:.1f} MB"
        if row.note:
            text += f"; {row.note}"
        if s.note:
            text += f"; {s.note}"
        lines.append(f"{name} {text}")
        page = row.browser
        if page is None:
            continue
        if row.view == "pyvis":
            text = (
                f"network created {fmt(page.created)} s, stabilisation done {fmt(page.stabilised)} s, "
                f"first draw after it {fmt(median(page.ready))} s, next frame {fmt(median(page.frame))} s, "
                f"loading bar hidden {fmt(page.bar_gone)} s, pan {fmt(median(page.pan), 3)} s"
            )
            if page.timeout and not page.ready:
                text += f"; stopped at {page.timeout:.0f} s, last progress {page.progress or 'none'} iterations"
        else:
            text = (
                f"ready {', '.join(fmt(t) for t in page.ready) or '-'} s; next frame "
                f"{', '.join(fmt(t) for t in page.frame) or '-'} s; "
                f"pan {', '.join(fmt(t, 3) for t in page.pan) or '-'} s"
            )
            if page.timeout and not page.ready:
                text += f"; no draw within {page.timeout:.0f} s"
        if page.blocked:
            text += f"; third-party requests aborted: {', '.join(sorted(page.blocked))}"
        if page.errors:
            text += f"; page errors: {' | '.join(dict.fromkeys(page.errors))}"
        lines.append(f"{'':>8} browser: {text}")
    return lines


def verdicts(rows: list[Row]) -> list[str]:
    def find(size: int, view: str) -> Row | None:
        return next((r for r in rows if r.size == size and r.view == view), None)

    out = []
    r = find(5000, "households")
    if r and r.server and r.server.total:
        t = median(r.server.total)
        out.append(
            f"server build of the 5,000-household map ({r.nodes:,} nodes): median {t:.3f} s, max "
            f"{max(r.server.total):.3f} s   target < 1 s: {'PASS' if t < 1 else 'FAIL'}"
        )
    else:
        out.append("server build of the 5,000-household map: not measured (--sizes)")
    r = find(100000, "default")
    if r and r.server and r.server.total:
        t = median(r.server.total)
        ok = t < 2 and r.mode == "overview"
        out.append(
            f"overview of 100,000 households ({r.mode}, {r.nodes:,} nodes): median {t:.3f} s, max "
            f"{max(r.server.total):.3f} s   target < 2 s: {'PASS' if ok else 'FAIL'}"
        )
    else:
        out.append("overview of 100,000 households: not measured (--sizes)")
    r = find(5000, "households")
    if r and r.browser:
        if r.browser.ready:
            t = median(r.browser.ready)
            panned = len(r.browser.pan) == len(r.browser.ready)
            ok = t < 3 and panned
            out.append(
                f"5,000-household map interactive in headless Chromium: first draw median {t:.2f} s, "
                "pan "
                + ("answered in " + fmt(median(r.browser.pan), 3) + " s" if panned else "did not answer every time")
                + f"   target < 3 s: {'PASS' if ok else 'FAIL'}"
            )
        else:
            out.append(
                f"5,000-household map interactive in headless Chromium: no draw within "
                f"{r.browser.timeout:.0f} s   target < 3 s: FAIL"
            )
    else:
        out.append("5,000-household map in headless Chromium: not measured (--no-browser or --sizes)")
    return out


# --- main ----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000,100000", help="households per demo, comma-separated")
    ap.add_argument("--repeat", type=int, default=5, help="server runs per case")
    ap.add_argument("--no-browser", action="store_true", help="server times only")
    ap.add_argument("--browser-timeout", type=float, default=120.0, help="seconds per page")
    ap.add_argument("--pyvis-timeout", type=float, default=900.0, help="seconds per pyvis build")
    args = ap.parse_args()
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    return args


def machine_line(settings, browser) -> str:
    import pyvis

    with Database.connect(settings) as db:
        version = db.ping()["version"]
    chromium_version = f"Chromium {browser.version}" if browser is not None else "no browser"
    return (
        f"machine: {os.cpu_count()} cores; Neo4j {version} (heap {settings.local.heap}, page cache "
        f"{settings.local.pagecache}); Python {platform.python_version()}; pyvis {pyvis.__version__} "
        f"(vis-network 9.1.2); {chromium_version}; load average before {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def prepare_size(settings, n: int, started: bool):
    """An empty database holding the demo of ``n`` households, and an app of its own (a fresh
    driver: empty_database may have restarted Neo4j); (app, the demo's line for the report)."""
    from web import create_app

    say(f"{n:,}: emptying the database, loading the demo")
    note = empty_database(settings, started)
    with Database.connect(settings) as db:
        took, counts = load_demo(db, n)
    line = (
        f"demo {n:,} households: {counts['people']:,} people, {counts['introductions']:,} introductions, "
        f"{counts['visits']:,} visits, {counts['users']:,} users; loaded in {took:.1f} s"
        + (f" ({note})" if note else "")
    )
    return create_app(settings), line


def run(settings, args, started: bool) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    loads = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-map-") as tmp:
        site = Path(tmp)
        copy_assets(site)
        with (
            page_server(site, OUT / "map-http.log") as base_url,
            chromium() if not args.no_browser else _nothing() as browser,
        ):
            header = machine_line(settings, browser)
            for n in args.sizes:
                app, line = prepare_size(settings, n, started)
                loads.append(line)
                rows.extend(measure_size(app, n, args, site, base_url, browser))
        missing = sorted(set(_Handler.not_found))
    lines = [
        header,
        *loads,
        f"server: median (max) of {args.repeat} runs, as admin in a test request context; pyvis: from_nx + "
        f"generate_html only (the graph already read from Neo4j), in a fresh process per run. browser: "
        f"graphsvc median of {BROWSER_LOADS} loads, pyvis one load; seconds from navigation start to the "
        f"first draw (pyvis: the first draw after stabilisation); pan: drag start to the redraw showing it",
        "",
        *table(rows),
        "",
        *details(rows),
        "",
        *verdicts(rows),
    ]
    if missing:
        lines.append(f"page server answered 404 for: {', '.join(missing)}")
    lines.append(f"run took {time.perf_counter() - t_start:.0f} s")
    return lines


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main() -> None:
    args = parse_args()
    settings = bench_settings()
    local = settings.local
    started = neo4j_local.running_pid(local) is None
    neo4j_local.install(local, say=lambda m: None)
    neo4j_local.start(local, say=lambda m: None)
    try:
        lines = run(settings, args, started)
    finally:
        if started:
            neo4j_local.stop(local, say=lambda m: None)
    text = "\n".join(lines)
    print(text)
    (OUT / "map.txt").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
