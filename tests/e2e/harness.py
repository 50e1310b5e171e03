"""Process-level harness for the end-to-end tests and the benchmark.

No ``odoo`` import here (and no pytest): everything Odoo runs in child
processes started with the venv's interpreter, so the Odoo-free pytest
session (``-p no:odoo``) can drive real cron runners, a real Odoo server
and real receivers on 127.0.0.1.

Environment knobs (same names as scripts/common.sh):

* ``ODOO_SRC`` (default /opt/odoo-18, else /opt/odoo-19): the Odoo 18.0 or
  19.0 source tree; its version names the defaults below;
* ``POSTBACK_ODOO_CONF`` (default ~/.cache/postback_connector/odoo-<version>.conf);
* ``POSTBACK_VENV`` (default ~/.cache/postback_connector/venv-<version>): its
  python runs the Odoo child processes (falls back to the current interpreter);
* ``POSTBACK_TEST_BASE_DB`` (default postback_test_base_<major>): the template
  database (sale_management, sale_stock, stock_delivery + demo data).
"""

import configparser
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ADDON = "postback_connector"
ADDON_DIR = REPO / ADDON
RECEIVERS_PATH = ADDON_DIR / "tests" / "receivers.py"
WORKER_SCRIPT = HERE / "odoo_worker.py"
ACTIONS_SCRIPT = HERE / "odoo_actions.py"

INSTALL_TIMEOUT = 600
SCRIPT_TIMEOUT = 300


class Unavailable(Exception):
    """The Odoo side cannot run here (the reason says why)."""


@dataclass
class OdooSetup:
    odoo_src: Path
    conf: Path
    python: str
    base_db: str
    db_host: str | None
    db_port: int | None
    db_user: str | None
    db_password: str | None
    data_dir: Path | None

    # -- PostgreSQL ---------------------------------------------------------
    def pg_env(self):
        env = dict(os.environ)
        if self.db_host:
            env["PGHOST"] = self.db_host
        if self.db_port:
            env["PGPORT"] = str(self.db_port)
        if self.db_user:
            env["PGUSER"] = self.db_user
        if self.db_password:
            env["PGPASSWORD"] = self.db_password
        return env

    def connect(self, dbname):
        """A psycopg2 connection (autocommit) to ``dbname``."""
        import psycopg2  # noqa: PLC0415 - only available in the Odoo venv

        kwargs = {"dbname": dbname}
        for key, value in (
            ("host", self.db_host),
            ("port", self.db_port),
            ("user", self.db_user),
            ("password", self.db_password),
        ):
            if value:
                kwargs[key] = value
        conn = psycopg2.connect(**kwargs)
        conn.autocommit = True
        return conn

    def query(self, dbname, sql, params=None):
        """Rows of one query (a fresh short-lived connection)."""
        with contextlib.closing(self.connect(dbname)) as conn, conn.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall() if cr.description else []

    def db_exists(self, dbname):
        return bool(self.query("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]))

    def filestore(self, dbname):
        return self.data_dir / "filestore" / dbname if self.data_dir else None

    def drop_db(self, dbname):
        with contextlib.closing(self.connect("postgres")) as conn, conn.cursor() as cr:
            cr.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % dbname.replace('"', ""))
        store = self.filestore(dbname)
        if store and store.exists():
            shutil.rmtree(store, ignore_errors=True)

    def create_db(self, dbname, log=print):
        """Copy the base database to ``dbname``, install the addon, allow private targets."""
        if not self.db_exists(self.base_db):
            raise Unavailable(
                f"base database '{self.base_db}' not found (run scripts/test.sh once to build it, "
                "or set POSTBACK_TEST_BASE_DB)"
            )
        self.drop_db(dbname)
        started = time.monotonic()
        with contextlib.closing(self.connect("postgres")) as conn, conn.cursor() as cr:
            cr.execute('CREATE DATABASE "%s" TEMPLATE "%s"' % (dbname, self.base_db))
        base_store, store = self.filestore(self.base_db), self.filestore(dbname)
        if base_store and base_store.is_dir():
            shutil.copytree(base_store, store, dirs_exist_ok=True)
        log(f"[harness] copied {self.base_db} -> {dbname}; installing {ADDON}")
        cmd = [
            *self.odoo_cmd(dbname),
            "-i",
            ADDON,
            "--stop-after-init",
            "--log-level=warn",
            "--no-http",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"installing {ADDON} in {dbname} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        self.set_param(dbname, "postback_connector.allow_private_targets", "1")
        log(f"[harness] database {dbname} ready in {time.monotonic() - started:.1f}s")

    def odoo_cmd(self, dbname):
        """odoo-bin with this harness's interpreter, config file and database."""
        return [self.python, str(self.odoo_src / "odoo-bin"), "-c", str(self.conf), "-d", dbname]

    def set_param(self, dbname, key, value):
        self.query(
            dbname,
            "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date)"
            " VALUES (%s, %s, 1, 1, now() at time zone 'UTC', now() at time zone 'UTC')"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, value],
        )

    # -- child processes -------------------------------------------------------
    def child_env(self):
        env = self.pg_env()
        env["ODOO_SRC"] = str(self.odoo_src)
        env["POSTBACK_ODOO_CONF"] = str(self.conf)
        env["PYTHONUNBUFFERED"] = "1"
        # the receivers are on 127.0.0.1: never go through a proxy
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env

    def script_cmd(self, script, *args):
        return [self.python, str(script), *map(str, args)]

    def run_action(self, dbname, action, spec=None, timeout=SCRIPT_TIMEOUT, script=ACTIONS_SCRIPT):
        """Run one action of odoo_actions.py (or another script of the same shape); return its JSON."""
        cmd = self.script_cmd(script, "--db", dbname, action, json.dumps(spec or {}))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.child_env(), check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(script).name} {action} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
        return last_json(proc.stdout)

    def spawn_worker(self, dbname, *, name, logdir, **options):
        """Start odoo_worker.py (a cron runner loop); options become --key value.

        Its stdout/stderr go to ``logdir/<name>.out|.err`` (never a pipe that
        could fill up); read the summary with :func:`worker_result`.
        """
        args = ["--db", dbname, "--name", name]
        for key, value in options.items():
            if value is None:
                continue
            args += ["--" + key.replace("_", "-"), value]
        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        out_path, err_path = logdir / f"{name}.out", logdir / f"{name}.err"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(
                self.script_cmd(WORKER_SCRIPT, *args),
                stdout=out,
                stderr=err,
                text=True,
                env=self.child_env(),
                start_new_session=True,
            )
        proc.out_path, proc.err_path = out_path, err_path
        return proc

    def start_server(self, dbname, port, logfile, extra=()):
        """A real Odoo server (threaded, one cron thread) on 127.0.0.1:port."""
        cmd = [
            *self.odoo_cmd(dbname),
            "--http-interface",
            "127.0.0.1",
            "--http-port",
            str(port),
            "--gevent-port",
            str(free_port()),
            "--max-cron-threads",
            "1",
            "--workers",
            "0",
            "--log-level",
            "info",
            "--logfile",
            str(logfile),
            *extra,
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.child_env(), start_new_session=True
        )
        return proc


def quiet_other_crons(setup, dbname):
    """Postpone every cron except the postback runner by a day (a fresh copy of the demo
    database has dozens of overdue crons that a starting server would run first)."""
    setup.query(
        dbname,
        "UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') + interval '1 day'"
        " WHERE id NOT IN (SELECT res_id FROM ir_model_data WHERE module = %s AND model = 'ir.cron'"
        " AND name = 'ir_cron_send_deliveries')",
        [ADDON],
    )
    setup.query(
        dbname,
        "DELETE FROM ir_cron_trigger WHERE cron_id NOT IN (SELECT res_id FROM ir_model_data"
        " WHERE module = %s AND model = 'ir.cron' AND name = 'ir_cron_send_deliveries')",
        [ADDON],
    )


def default_odoo_src():
    """ODOO_SRC, else the documented place of the 18.0 tree, else of the 19.0 one."""
    if os.environ.get("ODOO_SRC"):
        return Path(os.environ["ODOO_SRC"])
    for place in ("/opt/odoo-18", "/opt/odoo-19"):
        if (Path(place) / "odoo" / "release.py").is_file():
            return Path(place)
    return Path("/opt/odoo-18")


def odoo_series(odoo_src):
    """("18.0", "18") of the tree's odoo/release.py, or (None, None)."""
    try:
        text = (Path(odoo_src) / "odoo" / "release.py").read_text()
    except OSError:
        return None, None
    match = re.search(r"^version_info = \((\d+), (\d+),", text, re.MULTILINE)
    return (f"{match[1]}.{match[2]}", match[1]) if match else (None, None)


def detect():
    """The Odoo setup of this machine, or raise Unavailable with the reason."""
    odoo_src = default_odoo_src()
    if not ((odoo_src / "odoo-bin").is_file() and (odoo_src / "odoo" / "release.py").is_file()):
        raise Unavailable(f"no Odoo source tree at ODOO_SRC={odoo_src}")
    series, major = odoo_series(odoo_src)
    cache = Path(os.environ.get("POSTBACK_CACHE", Path.home() / ".cache" / "postback_connector"))
    conf = Path(os.environ.get("POSTBACK_ODOO_CONF", cache / f"odoo-{series}.conf"))
    if not conf.is_file():
        raise Unavailable(f"no Odoo config file at {conf} (run scripts/test.sh once, or set POSTBACK_ODOO_CONF)")
    venv = Path(os.environ.get("POSTBACK_VENV", cache / f"venv-{series}"))
    python = str(venv / "bin" / "python") if (venv / "bin" / "python").exists() else sys.executable
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(conf)
    options = parser["options"] if parser.has_section("options") else {}

    def opt(key):
        value = options.get(key)
        return None if value in (None, "", "False", "false") else value

    setup = OdooSetup(
        odoo_src=odoo_src,
        conf=conf,
        python=python,
        base_db=os.environ.get("POSTBACK_TEST_BASE_DB") or f"postback_test_base_{major}",
        db_host=opt("db_host"),
        db_port=int(opt("db_port")) if opt("db_port") else None,
        db_user=opt("db_user"),
        db_password=opt("db_password"),
        data_dir=Path(opt("data_dir")) if opt("data_dir") else None,
    )
    try:
        import psycopg2  # noqa: F401, PLC0415
    except ImportError as exc:
        raise Unavailable(f"psycopg2 is not importable in {sys.executable} ({exc})") from None
    try:
        if not setup.db_exists(setup.base_db):
            raise Unavailable(
                f"base database '{setup.base_db}' not found (run scripts/test.sh once, or set POSTBACK_TEST_BASE_DB)"
            )
    except Unavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any connection problem means "cannot run here"
        raise Unavailable(f"PostgreSQL from {conf} is not reachable: {exc}") from None
    return setup


# -- small utilities ---------------------------------------------------------------


def last_json(text):
    """The last line of ``text`` that parses as a JSON object."""
    for raw in reversed((text or "").splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(line)
    raise ValueError(f"no JSON result line in output:\n{(text or '')[-2000:]}")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_receivers():
    """postback_connector/tests/receivers.py, loaded by path (the addon package imports odoo)."""
    name = "_postback_e2e_receivers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RECEIVERS_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class HangingEndpoint:
    """A TCP endpoint on 127.0.0.1 that accepts connections, reads, and never answers."""

    def __init__(self):
        import threading  # noqa: PLC0415

        self._threading = threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.connections = []
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%s/hook" % self.sock.getsockname()[1]

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)
            self._threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        conn.settimeout(0.5)
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.requests += data.count(b"HTTP/1.1\r\n")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()


def stop_process(proc, timeout=10.0, sig=signal.SIGTERM):
    """Stop a child started with start_new_session (its whole process group), then reap it."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def wait_http(url, timeout=90.0, proc=None):
    """Wait until ``url`` answers (any HTTP status below 500); raise on timeout or if ``proc`` died."""
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before answering {url}")
        try:
            with opener.open(url, timeout=5) as response:
                if response.status < 500:
                    return response.status
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return exc.code
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s (last error: {last})")


def worker_events(proc):
    """The JSON lines a worker printed so far."""
    events = []
    for line in proc.out_path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


def wait_workers_ready(workers, timeout=120.0):
    """Wait until every worker has loaded its registry (printed its "ready" line)."""

    def ready():
        for proc in workers:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {proc.out_path.stem} exited early:\n{proc.err_path.read_text()[-4000:]}")
        return all(any(e.get("event") == "ready" for e in worker_events(p)) for p in workers)

    if not wait_until(ready, timeout, interval=0.05):
        raise TimeoutError(f"workers not ready after {timeout:.0f}s")


def worker_result(proc, timeout):
    """Wait for a worker started by spawn_worker and return its JSON summary."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc, sig=signal.SIGKILL)
        raise TimeoutError(f"worker {proc.out_path.stem} still running after {timeout:.0f}s") from None
    out = proc.out_path.read_text()
    try:
        result = last_json(out)
    except ValueError:
        result = {}
    if result.get("event") != "done":
        raise RuntimeError(
            f"worker {proc.out_path.stem} ended with code {proc.returncode} without a summary:\n"
            f"{proc.err_path.read_text()[-4000:]}"
        )
    result["returncode"] = proc.returncode
    return result


def wait_until(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
