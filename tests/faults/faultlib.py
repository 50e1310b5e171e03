"""Helpers of the fault-injection tests: the hostile receiver process, runner processes, database checks.

No ``odoo`` import (the Odoo side runs in child processes, see tests/e2e/harness.py).
"""

import asyncio
import collections
import contextlib
import json
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

import harness

HERE = Path(__file__).resolve().parent
HOSTILE_SCRIPT = HERE / "hostile_receiver.py"
ACTIONS_SCRIPT = HERE / "fault_actions.py"

# What may be stored from a receiver: at most this many characters (4 KB kept
# plus a short truncation notice) and no C0 control character but \t \n \r.
STORED_LIMIT = 4096
NOTICE_ALLOWANCE = 200
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# -- the hostile receiver --------------------------------------------------------------


class HostileReceiver:
    """hostile_receiver.py in its own process group; its port map and its request log."""

    def __init__(self, logdir, **options):
        self.logdir = Path(logdir)
        self.log_path = self.logdir / "hostile_requests.jsonl"
        self.err_path = self.logdir / "hostile_receiver.err"
        self.options = options
        self.proc = None
        self.ports = {}
        self._entries, self._offset, self._partial = [], 0, b""
        self._lock = threading.Lock()

    def start(self, timeout=15.0):
        args = [sys.executable, str(HOSTILE_SCRIPT), "--log", str(self.log_path)]
        for key, value in self.options.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"hostile receiver did not start: {self.err_path.read_text()[-2000:]}")
        info = json.loads(line)
        assert info["host"] == "127.0.0.1"
        self.ports = info["ports"]
        return self

    def stop(self):
        if self.proc is not None:
            harness.stop_process(self.proc, timeout=5)
            self.proc.stdout.close()

    def url(self, behaviour):
        return f"http://127.0.0.1:{self.ports[behaviour]}/hook/{behaviour}"

    def entries(self):
        """Every request logged so far (read incrementally; a half-written last line waits)."""
        with self._lock:
            if self.log_path.exists():
                with open(self.log_path, "rb") as log:
                    log.seek(self._offset)
                    data = log.read()
                self._offset += len(data)
                data = self._partial + data
                *lines, self._partial = data.split(b"\n")
                self._entries.extend(json.loads(line) for line in lines if line.strip())
            return list(self._entries)

    def received(self, webhook_ids):
        """The logged requests carrying one of ``webhook_ids``."""
        wanted = set(webhook_ids)
        return [entry for entry in self.entries() if entry["webhook_id"] in wanted]


# -- runner processes -----------------------------------------------------------------------


class Runner:
    """One odoo_worker.py process (a cron runner loop) and what it reported.

    Started at once, it loads its registry and then waits for its go file,
    which carries the trigger ids it loops on (``go``): so it can load while
    the test is still queueing. Several runners may share one go file.
    """

    def __init__(self, setup, db, name, logdir, go_file=None, **options):
        options.setdefault("call_log", 1)
        self.name = name
        self.go_file = Path(go_file) if go_file else Path(logdir) / f"{name}.go"
        self.proc = setup.spawn_worker(
            db, name=name, logdir=logdir, go_file=self.go_file, trigger_ids_file=self.go_file, **options
        )
        self.killed_by_test = False

    def go(self, trigger_ids):
        release(self.go_file, trigger_ids)
        return self

    def events(self):
        return harness.worker_events(self.proc)

    def calls(self):
        return [e for e in self.events() if e.get("event") == "call"]

    def summary(self):
        done = [e for e in self.events() if e.get("event") == "done"]
        return done[-1] if done else None

    def ready(self):
        return any(e.get("event") == "ready" for e in self.events())

    def wait(self, timeout):
        """Wait for the end of the loop; past ``timeout`` SIGKILL it (``killed_by_test``)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.killed_by_test = True
            harness.stop_process(self.proc, sig=signal.SIGKILL)
        return self

    def kill(self):
        harness.stop_process(self.proc, sig=signal.SIGKILL)

    def crash_reason(self):
        """The last line of a traceback on stderr (the exception), or ''."""
        lines = [line for line in self.proc.err_path.read_text(errors="replace").splitlines() if line.strip()]
        for line in reversed(lines):
            if re.match(r"^[\w.]+(Error|Exception|Failure|Violation)\b", line) or line.startswith("psycopg2"):
                return line[:300]
        return lines[-1][:300] if lines else ""

    def outcome(self):
        """One line saying how the process ended (for assertion messages)."""
        if self.killed_by_test:
            return f"{self.name}: still running when the test's bound ran out (killed)"
        summary = self.summary()
        if summary is None:
            return f"{self.name}: crashed (exit {self.proc.returncode}): {self.crash_reason()}"
        return f"{self.name}: finished, {json.dumps(summary)}"

    def finished_cleanly(self):
        return not self.killed_by_test and self.summary() is not None


def release(go_file, trigger_ids):
    """Start the runners waiting for ``go_file``: they loop until no delivery of ``trigger_ids`` (a
    comma-separated string; empty: every trigger) is pending. Written atomically."""
    go_file = Path(go_file)
    tmp = go_file.with_suffix(".tmp")
    tmp.write_text(trigger_ids or "")
    tmp.replace(go_file)


def wait_ready(runners, timeout=120.0):
    def ready():
        for runner in runners:
            if runner.proc.poll() is not None and not runner.ready():
                raise RuntimeError(f"{runner.outcome()}\n{runner.proc.err_path.read_text()[-3000:]}")
        return all(runner.ready() for runner in runners)

    if not harness.wait_until(ready, timeout, interval=0.05):
        raise TimeoutError(f"runners not ready after {timeout:.0f}s")


# -- database views ------------------------------------------------------------------------


def deliveries(setup, db, trigger_ids):
    rows = setup.query(
        db,
        "SELECT id, webhook_id, trigger_id, state, attempt_count, last_error, payload, next_attempt_at"
        " FROM postback_delivery WHERE trigger_id = ANY(%s) ORDER BY id",
        [list(trigger_ids)],
    )
    keys = ("id", "webhook_id", "trigger_id", "state", "attempt_count", "last_error", "payload", "next_attempt_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def attempts(setup, db, trigger_ids):
    rows = setup.query(
        db,
        "SELECT a.id, a.delivery_id, d.trigger_id, a.outcome, a.duration_ms, a.status_code, a.error,"
        " a.response_headers, a.response_body FROM postback_delivery_attempt a"
        " JOIN postback_delivery d ON d.id = a.delivery_id WHERE d.trigger_id = ANY(%s) ORDER BY a.id",
        [list(trigger_ids)],
    )
    keys = ("id", "delivery_id", "trigger_id", "outcome", "duration_ms", "status_code", "error", "headers", "body")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def retire(setup, db, trigger_ids):
    """Take a test's triggers out of later tests' way: disabled, their pending rows on hold
    (what deactivating a trigger does), so the next test's runners ignore them."""
    if not trigger_ids:
        return
    ids = list(trigger_ids)
    setup.query(db, "UPDATE postback_trigger SET active = false, state = 'disabled' WHERE id = ANY(%s)", [ids])
    setup.query(
        db, "UPDATE postback_delivery SET state = 'held' WHERE state = 'pending' AND trigger_id = ANY(%s)", [ids]
    )


# -- checks ----------------------------------------------------------------------------------


class Checks:
    """Collects every violated expectation of a test, so one run reports all of them at once."""

    def __init__(self):
        self.problems = []

    def check(self, condition, message):
        if not condition:
            self.problems.append(message() if callable(message) else message)
        return bool(condition)

    def verify(self):
        assert not self.problems, "%d expectation(s) not met:\n- %s" % (
            len(self.problems),
            "\n- ".join(self.problems),
        )


def text_problem(text):
    """Why ``text`` (stored from a receiver) is not acceptable, or None."""
    if text is None:
        return None
    if "\x00" in text:
        return "contains a NUL character"
    match = _CONTROL_RE.search(text)
    if match:
        return f"contains the control character {match.group()!r}"
    if len(text) > STORED_LIMIT + NOTICE_ALLOWANCE:
        return f"is {len(text)} characters long (more than {STORED_LIMIT} + a short notice)"
    return None


def check_stored_text(checks, setup, db, trigger_ids, label_of):
    """Nothing stored from a receiver carries NUL / control characters or exceeds ~4 KB."""
    columns = {"body": "attempt.response_body", "headers": "attempt.response_headers", "error": "attempt.error"}
    bad = collections.defaultdict(list)
    for row in attempts(setup, db, trigger_ids):
        for column, name in columns.items():
            problem = text_problem(row[column])
            if problem:
                bad[(label_of[row["trigger_id"]], name)].append(problem)
    for row in deliveries(setup, db, trigger_ids):
        problem = text_problem(row["last_error"])
        if problem:
            bad[(label_of[row["trigger_id"]], "delivery.last_error")].append(problem)
    for (label, column), problems in sorted(bad.items()):
        checks.check(False, f"{label}: {column} {problems[0]} ({len(problems)} rows)")


def check_repeats(checks, entries, label):
    """A webhook-id seen more than once always came with the same body; one webhook-id per event."""
    hashes = collections.defaultdict(set)
    ids_per_event = collections.defaultdict(set)
    for entry in entries:
        hashes[entry["webhook_id"]].add(entry["sha256"])
        if entry.get("event_id"):
            ids_per_event[(entry["port"], entry["event_id"])].add(entry["webhook_id"])
    changed = [wid for wid, values in hashes.items() if len(values) > 1]
    checks.check(not changed, f"{label}: {len(changed)} repeats carried a different body, e.g. {changed[:3]}")
    renamed = [key for key, ids in ids_per_event.items() if len(ids) > 1]
    checks.check(not renamed, f"{label}: {len(renamed)} events reached one endpoint under several webhook-ids")


def check_exactly_once(checks, rows, entries, label):
    """Every delivery in ``rows`` is 'delivered' and was received exactly once."""
    counts = collections.Counter(entry["webhook_id"] for entry in entries)
    expected = {row["webhook_id"] for row in rows}
    missing = expected - set(counts)
    twice = {wid: n for wid, n in counts.items() if n > 1}
    states = collections.Counter(row["state"] for row in rows)
    checks.check(not missing, f"{label}: {len(missing)} of {len(expected)} postbacks never arrived")
    checks.check(not twice, f"{label}: {len(twice)} postbacks arrived more than once")
    checks.check(set(counts) <= expected, f"{label}: the receiver got webhook-ids that are not in the queue")
    checks.check(states == {"delivered": len(rows)}, f"{label}: states in the database {dict(states)}")


def readable_problem(text, forbidden):
    """Why an error text is not a readable sentence for a merchant, or None: empty, shorter than 10
    characters or a single word, not starting with a letter (e.g. an errno dump), or holding one of
    the ``forbidden`` fragments (raw exception reprs)."""
    if not text or not text.strip():
        return "is empty"
    stripped = text.strip()
    if len(stripped) < 10 or " " not in stripped or not stripped[0].isalpha():
        return f"is not a sentence: {text[:160]!r}"
    for fragment in forbidden:
        if fragment in text:
            return f"contains {fragment!r}: {text[:160]!r}"
    return None


# -- SMTP ---------------------------------------------------------------------------------------


class ReservedPort:
    """A 127.0.0.1 port bound but not listening: connecting is refused, and nobody else takes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def release(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class SlowSmtp:
    """An aiosmtpd server on 127.0.0.1:``port`` that takes ``delay`` seconds per message."""

    def __init__(self, port, delay=1.0):
        from aiosmtpd.controller import Controller  # noqa: PLC0415 - only in the Odoo venv

        self.messages = []
        receiver = self

        class _Handler:
            async def handle_DATA(self, server, session, envelope):
                await asyncio.sleep(delay)
                message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
                receiver.messages.append((time.time(), message))
                return "250 Message accepted"

        self.controller = Controller(_Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(Exception):
            self.controller.stop()


# -- scenarios ------------------------------------------------------------------------------------


@dataclass
class Context:
    """What a test works with: the Odoo setup, its database, its hostile receiver, a log folder, the
    runner processes to stop at the end and the trigger ids to retire at the end."""

    setup: object
    db: str
    hostile: HostileReceiver
    logdir: Path
    processes: list
    retire_after: list


def customer(name, keys, hostile, *, n_orders, events_per_order=1, timeout=2.0, email_to=None):
    """The spec of one customer for fault_actions ``setup``: one trigger per key (an endpoint of the
    hostile receiver; the key ``email`` makes an email trigger to ``email_to``)."""
    triggers = []
    for key in keys:
        if key == "email":
            triggers.append({"key": key, "channel": "email", "email_to": email_to, "timeout": timeout})
        else:
            triggers.append({"key": key, "url": hostile.url(key), "timeout": timeout})
    return {"customer": name, "n_orders": n_orders, "events_per_order": events_per_order, "triggers": triggers}


class Scenario:
    """The triggers and queue one test set up, and views of what became of them."""

    def __init__(self, setup, db, hostile, result):
        self.setup, self.db, self.hostile = setup, db, hostile
        self.triggers = result["triggers"]
        self.label_of = {trigger_id: key for key, trigger_id in self.triggers.items()}
        self.queued = result["deliveries"]
        self.total = result["total"]
        self.orders = result["orders"]

    @classmethod
    def create(cls, ctx, customers, mail_server_port=None):
        spec = {"customers": customers}
        if mail_server_port:
            spec["mail_server_port"] = mail_server_port
        result = ctx.setup.run_action(ctx.db, "setup", spec, script=ACTIONS_SCRIPT)
        ctx.retire_after.extend(result["triggers"].values())
        return cls(ctx.setup, ctx.db, ctx.hostile, result)

    def ids(self, keys=None):
        return [self.triggers[key] for key in (keys or self.triggers)]

    def csv(self, keys=None):
        return ",".join(map(str, self.ids(keys)))

    def rows(self, keys=None):
        return deliveries(self.setup, self.db, self.ids(keys))

    def attempts(self, keys=None):
        return attempts(self.setup, self.db, self.ids(keys))

    def received(self, keys=None, rows=None):
        rows = self.rows(keys) if rows is None else rows
        return self.hostile.received(row["webhook_id"] for row in rows)
