"""Provision and run the project's own Neo4j server, without Docker.

Neo4j Community's server is the Maven artifact ``org.neo4j:neo4j``; its runtime jar closure
is a whole server. ``install`` has Maven copy that closure into ``.neo4j/lib/<version>/``
and prepares an instance folder ``.neo4j/instances/<name>/`` (conf, data, logs, run) with a
random password in a file of mode 0600. ``start`` launches the entry class the way Neo4j's
own launcher does (same JVM flags), bound to 127.0.0.1 with the HTTP connector off and
authentication on, its output going to the instance's log folder, and returns once Bolt
answers. Several instances (``dev`` for ``make run``, ``test`` for the tests) share the jars
but never data or ports.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .config import LocalNeo4j

ENTRY_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
USER = "neo4j"

# What Neo4j 5.26's own launcher passes to the server JVM on Java 17/21.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+AlwaysPreTouch",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.graphsvc</groupId>
  <artifactId>neo4j-server-closure</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.neo4j</groupId>
      <artifactId>neo4j</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


class Neo4jError(RuntimeError):
    """Provisioning or running the local server failed; the message says why."""


Say = Callable[[str], None]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- paths -----------------------------------------------------------------------------


def lib_dir(local: LocalNeo4j) -> Path:
    return local.base / "lib" / local.version


def password_file(local: LocalNeo4j) -> Path:
    return local.home / "password"


def pid_file(local: LocalNeo4j) -> Path:
    return local.home / "server.pid"


def log_file(local: LocalNeo4j) -> Path:
    return local.home / "logs" / "console.log"


def is_installed(local: LocalNeo4j) -> bool:
    return (lib_dir(local) / ".complete").exists() and password_file(local).exists()


def read_password(local: LocalNeo4j) -> str:
    try:
        return password_file(local).read_text().strip()
    except FileNotFoundError:
        raise Neo4jError(f"no password file at {password_file(local)}: run `graphsvc neo4j install` first") from None


# --- install ---------------------------------------------------------------------------


def generate_password() -> str:
    """A random password for a new instance (192 bits, URL-safe: may start with ``-``)."""
    return secrets.token_urlsafe(24)


def java_executable(local: LocalNeo4j) -> str:
    if local.java_home:
        return str(Path(local.java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise Neo4jError("no `java` on PATH and JAVA_HOME is not set: Neo4j 5.26 needs Java 17 or 21")
    return found


def java_major(local: LocalNeo4j) -> int:
    out = subprocess.run(
        [java_executable(local), "-XshowSettings:properties", "-version"],
        capture_output=True,
        text=True,
        check=False,
    ).stderr
    for line in out.splitlines():
        if "java.specification.version" in line:
            return int(line.split("=")[1].strip().split(".")[0])
    raise Neo4jError(f"could not tell the Java version of {java_executable(local)}")


def install(local: LocalNeo4j, say: Say = _say, new_password: Callable[[], str] = generate_password) -> None:
    """Fetch the server's jars with Maven (once per version) and prepare the instance
    (``new_password`` makes its password: tests give one that starts with ``-``)."""
    major = java_major(local)
    if major not in (17, 21):
        raise Neo4jError(f"Neo4j {local.version} runs on Java 17 or 21, found Java {major}: set JAVA_HOME")
    libs = lib_dir(local)
    if not (libs / ".complete").exists():
        mvn = shutil.which("mvn")
        if not mvn:
            raise Neo4jError("Maven (`mvn`) is needed to fetch Neo4j from Maven Central")
        build = local.base / "maven" / local.version
        build.mkdir(parents=True, exist_ok=True)
        (build / "pom.xml").write_text(POM.format(version=local.version))
        tmp = libs.with_name(libs.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"fetching the jar closure of org.neo4j:neo4j:{local.version} from Maven Central …")
        proc = subprocess.Popen(
            [
                mvn,
                "-B",
                "-f",
                str(build / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        fetched, tail = 0, list[str]()
        assert proc.stdout is not None
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-30:]
            if line.startswith("Downloaded from"):
                fetched += 1
                if fetched % 25 == 0:
                    say(f"  … {fetched} artifacts downloaded")
        if proc.wait() != 0:
            raise Neo4jError("Maven could not fetch Neo4j:\n" + "\n".join(tail))
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        (libs / ".complete").write_text(local.version + "\n")
        say(f"{len(list(libs.glob('*.jar')))} jars in {libs}")
    init_instance(local, say, new_password)


def init_instance(local: LocalNeo4j, say: Say = _say, new_password: Callable[[], str] = generate_password) -> None:
    """Create the instance folders and, on first use, its random password (mode 0600)."""
    local.base.mkdir(parents=True, exist_ok=True)
    os.chmod(local.base, 0o700)
    for sub in ("conf", "data", "logs", "run", "import"):
        (local.home / sub).mkdir(parents=True, exist_ok=True)
    write_conf(local)
    pw_path = password_file(local)
    if pw_path.exists():
        return
    if (local.home / "data" / "databases").exists():
        raise Neo4jError(f"{local.home} holds a database but no password file; remove {local.home} to start afresh")
    password = new_password()
    set_initial_password(local, password)
    fd = os.open(pw_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    say(f"instance '{local.name}' ready at {local.home} (password in {pw_path}, mode 0600)")


def argfile_line(arg: str) -> str:
    r"""One argument as a line of a java launcher argument file (``java @file``): in double
    quotes, with backslash and quote escaped, so that any printable text stays one argument.

    >>> print(argfile_line('-a"b\\c d'))
    "-a\"b\\c d"
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in arg):
        raise Neo4jError("an argument for the java launcher holds a control character")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_initial_password(local: LocalNeo4j, password: str) -> None:
    """``neo4j-admin dbms set-initial-password`` (Neo4j's AdminTool) with ``password``, which
    never appears on a command line.

    The command line of a process is readable by every user of the machine (``ps``,
    /proc/<pid>/cmdline), so the java launcher gets its main class and arguments from an
    argument file (``java @file``; mode 0600 in the instance folder, deleted afterwards) and
    its command line ends in ``@…/run/admin.args``. ``--`` ends AdminTool's options, so a
    password that starts with ``-`` is the password and not an unknown option.
    ``-XX:-UsePerfData``: no /tmp/hsperfdata file that names the main class and arguments.
    """
    argfile = local.home / "run" / "admin.args"
    argfile.parent.mkdir(parents=True, exist_ok=True)
    argfile.unlink(missing_ok=True)
    secret_args = [ADMIN_CLASS, "dbms", "set-initial-password", "--", password]
    fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        # the launcher reads the file in the platform's encoding, as it would read argv
        with os.fdopen(fd, "w", encoding=sys.getfilesystemencoding(), errors="surrogateescape") as fh:
            fh.write("".join(argfile_line(a) + "\n" for a in secret_args))
        env = dict(os.environ, NEO4J_HOME=str(local.home), NEO4J_CONF=str(local.home / "conf"))
        done = subprocess.run(
            [java_executable(local), "-XX:-UsePerfData", "-cp", f"{lib_dir(local)}/*", f"@{argfile}"],
            env=env,
            cwd=local.home,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
    finally:
        argfile.unlink(missing_ok=True)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).replace(password, "<password>")
        raise Neo4jError("could not set the initial password:\n" + output)


def write_conf(local: LocalNeo4j) -> None:
    home = local.home
    settings = {
        "server.default_listen_address": "127.0.0.1",
        "server.default_advertised_address": "127.0.0.1",
        "server.bolt.enabled": "true",
        "server.bolt.listen_address": f"127.0.0.1:{local.bolt_port}",
        "server.bolt.advertised_address": f"127.0.0.1:{local.bolt_port}",
        "server.http.enabled": "false",
        "server.https.enabled": "false",
        "dbms.security.auth_enabled": "true",
        "dbms.usage_report.enabled": "false",
        "server.memory.heap.initial_size": local.heap,
        "server.memory.heap.max_size": local.heap,
        "server.memory.pagecache.size": local.pagecache,
        "server.directories.data": str(home / "data"),
        "server.directories.logs": str(home / "logs"),
        "server.directories.run": str(home / "run"),
        "server.directories.import": str(home / "import"),
        "server.directories.plugins": str(home / "plugins"),
        "db.tx_log.rotation.retention_policy": "2 files",
        # transaction timeouts are enforced within 100 ms, not 2 s: a web request's deadline
        # cuts its transactions' timeouts (graphsvc/waits.py)
        "db.transaction.monitor.check.interval": "100ms",
        # a chunk (or a NOOP) at least every 2 s on every connection, even while a long query
        # runs: the driver then takes a server silent for 4 s as gone (the
        # connection.recv_timeout_seconds hint) instead of waiting for ever on a hung one
        "server.bolt.connection_keep_alive": "2s",
        "server.bolt.connection_keep_alive_streaming_scheduling_interval": "1s",
        "dbms.security.allow_csv_import_from_file_urls": "true",
        "server.logs.debug.enabled": "true",
        # parameters may carry ids and ciphertext: keep them out of the query log
        "db.logs.query.parameter_logging_enabled": "false",
    }
    text = "# written by graphsvc on every start: edit graphsvc/neo4j_local.py instead\n"
    text += "".join(f"{k}={v}\n" for k, v in settings.items())
    (home / "conf" / "neo4j.conf").write_text(text)


# --- run -------------------------------------------------------------------------------


def running_pid(local: LocalNeo4j) -> int | None:
    """The pid of this instance's server, if it runs (checked against its command line)."""
    try:
        pid = int(pid_file(local).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if state in ("Z", "X"):
        return None  # exited, not yet reaped
    if not cmdline:
        return pid  # a live process whose command line is not readable yet (during exec)
    if ENTRY_CLASS in cmdline and str(local.home) in cmdline:
        return pid
    return None  # the pid was reused by another program


def _bolt_answers(local: LocalNeo4j, password: str) -> bool:
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    try:
        with GraphDatabase.driver(local.uri, auth=(USER, password), connection_timeout=2) as drv:
            drv.verify_connectivity()
        return True
    except AuthError as exc:
        raise Neo4jError(f"Neo4j at {local.uri} refused the password in {password_file(local)}: {exc}") from exc
    except Exception:
        return False


def _warm(local: LocalNeo4j, password: str) -> None:
    """Run graphsvc/cypher/warmup.cypher once a started server answers (see that file)."""
    from neo4j import GraphDatabase

    from .db import parse_cypher

    path = Path(__file__).parent / "cypher" / "warmup.cypher"
    try:
        statements = parse_cypher(path.read_text(encoding="utf-8"), path.name)
        with GraphDatabase.driver(local.uri, auth=(USER, password), connection_timeout=5) as drv, drv.session() as s:
            for statement in statements.values():
                s.run(statement, id="-", ids=["-"], rows=["-"]).consume()
    except Exception:  # a warm-up only: the server is up either way
        pass


def log_tail(local: LocalNeo4j, lines: int = 25) -> str:
    out = []
    for path in (log_file(local), local.home / "logs" / "neo4j.log"):
        if path.exists():
            out.append(f"--- {path} ---")
            out.extend(path.read_text(errors="replace").splitlines()[-lines:])
    return "\n".join(out)


def start(local: LocalNeo4j, timeout: float = 180, say: Say = _say) -> int:
    """Start the server unless it runs; return its pid once Bolt answers."""
    if not is_installed(local):
        raise Neo4jError(f"Neo4j {local.version} is not installed: run `graphsvc neo4j install`")
    password = read_password(local)
    pid = running_pid(local)
    if pid is not None:
        # Running, or still starting, or shutting down: wait until it answers or is gone.
        deadline = time.monotonic() + timeout
        while running_pid(local) == pid and time.monotonic() < deadline:
            if _bolt_answers(local, password):
                say(f"Neo4j '{local.name}' already runs (pid {pid}) at {local.uri}")
                return pid
            time.sleep(0.5)
        pid = running_pid(local)
    if pid is None:
        write_conf(local)
        heap = local.heap
        cmd = [
            java_executable(local),
            f"-Xms{heap}",
            f"-Xmx{heap}",
            *JVM_FLAGS,
            "-cp",
            f"{local.home / 'plugins'}/*:{local.home / 'conf'}/*:{lib_dir(local)}/*",
            ENTRY_CLASS,
            f"--home-dir={local.home}",
            f"--config-dir={local.home / 'conf'}",
        ]
        log = log_file(local).open("ab")
        proc = subprocess.Popen(
            cmd,
            cwd=local.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        log.close()
        pid = proc.pid
        pid_file(local).write_text(f"{pid}\n")
        say(f"starting Neo4j {local.version} '{local.name}' (pid {pid}) on {local.uri} …")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if running_pid(local) is None:
            raise Neo4jError(f"Neo4j '{local.name}' exited during start-up\n{log_tail(local)}")
        if _bolt_answers(local, password):
            _warm(local, password)
            say(f"Neo4j '{local.name}' is ready at {local.uri}")
            return pid
        time.sleep(0.5)
    stop(local, say=lambda _m: None)
    raise Neo4jError(f"Neo4j '{local.name}' did not answer on {local.uri} within {timeout:.0f} s\n{log_tail(local)}")


def stop(local: LocalNeo4j, timeout: float = 60, say: Say = _say) -> bool:
    """Stop the server if it runs; return whether it was running."""
    pid = running_pid(local)
    if pid is None:
        pid_file(local).unlink(missing_ok=True)
        say(f"Neo4j '{local.name}' is not running")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(local) is not None:
        _reap(pid)
        time.sleep(0.2)
    if running_pid(local) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        _reap(pid)
    pid_file(local).unlink(missing_ok=True)
    say(f"Neo4j '{local.name}' stopped (pid {pid})")
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (else it stays a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
