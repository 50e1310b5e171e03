"""Fault injection, end to end: real runner processes against a hostile receiver, a real database.

Each test queues deliveries through the real fan-out to triggers pointing at
misbehaving endpoints (one port each, see hostile_receiver.py) and at healthy
ones, runs real cron runner processes (tests/e2e/odoo_worker.py), and checks
only what a merchant or their customer could observe: the rows in the
database and what the receivers got. The contract:

* every healthy postback arrives exactly once per webhook-id and is
  'delivered', whatever the hostile endpoints do;
* a faulty delivery is never lost: it stays 'pending' (to be retried) or
  ends 'failed' with a readable error; no row of the queue disappears;
* nothing stored from a receiver holds NUL or control characters (but \\t
  \\n \\r) or more than ~4 KB plus a short truncation notice;
* a 200 answer with a strange body, charset or encoding is an acknowledgment;
* slow or endless answers end at an absolute deadline (the attempt's
  duration stays under timeout + 1.5 s) and no cron call runs much past its
  time budget;
* a repeat always carries the same body; a dead endpoint costs about one
  attempt per cool-down, not one per delivery;
* a runner killed (SIGKILL) or cut from PostgreSQL mid-batch loses nothing;
  two runners never send a healthy postback twice;
* the SMTP server down, then slow: emails are retried, then delivered, while
  HTTP postbacks keep flowing.
"""

import collections
import re
import signal
import time

import faultlib
import harness
from faultlib import Checks, Runner, Scenario, customer

# -- the numbers and texts the contract is written with (adjust here) ---------------------------
HOSTILE_TIMEOUT = 2.0  # timeout of every trigger, seconds
TIME_BUDGET = 3.0  # time budget of each cron call, seconds
BATCH = 50
DEADLINE_SLACK_MS = 1500  # an attempt ends by timeout * 1000 + this
CALL_SLACK = 3.0  # a cron call returns by its time budget + the longest timeout + this
CALL_BOUND = TIME_BUDGET + HOSTILE_TIMEOUT + CALL_SLACK
IN_FLIGHT_PER_ENDPOINT = 8  # README: at most 8 requests in flight per endpoint
COOLDOWN = 30.0  # README: a failing endpoint first cools down for 30 s
MAX_REPEATS = 64  # repeats after a crash: at most the requests in flight (batch 50, 16 threads)
PROMPT_SECONDS = 5.0  # "promptly": from the runner's first call to the arrival of an HTTP postback
SLOW_SMTP_DELAY = 1.0
TIMEOUT_RE = re.compile(r"timed out|time-?out|\b%g ?s(econds?)?\b" % HOSTILE_TIMEOUT, re.IGNORECASE)
FORBIDDEN_IN_ERRORS = ("Traceback", "<urllib3", " object at 0x", "HTTPConnectionPool(", "HTTPConnection(")
UNEXPECTED_ERROR = "Unexpected error"
WAIT_SLACK = 30.0  # how much longer than its --max-seconds a runner process may take before the test kills it

# -- the endpoints ---------------------------------------------------------------------------------
WEIRD_200 = (
    "nul_body",
    "bad_header",
    "invalid_utf8",
    "utf16",
    "binary",
    "charset_unknown",
    "charset_idna",
    "charset_base64",
    "charset_rot13",
    "gzip",
)
NEVER_ANSWERS = ("drip_status", "drip_headers", "hang")  # no complete status + headers before the deadline
ENDLESS_BODY = ("drip_body", "chunked_forever", "length_too_long")  # 200 + headers, the body never ends
BROKEN = ("reset", "garbage_status", "spam", "close", "refused")
HEALTHY = ("healthy_0", "healthy_1", "healthy_2", "healthy_3")
SLOW_HEALTHY = ("slow_0", "slow_1", "slow_2", "slow_3")


# -- shared checks ---------------------------------------------------------------------------------


def _examples(items, limit=2):
    return "; ".join(repr(item)[:200] for item in items[:limit])


def check_common(checks, sc, healthy, runners=(), *, call_bound=CALL_BOUND, exactly_once=True):
    """What holds in every test: no row lost, stored text clean, repeats identical, healthy endpoints
    served (exactly once unless a crash allows repeats), no cron call past ``call_bound`` seconds (a
    runner still inside a call when the test's bound ran out is reported by ``finished_cleanly``)."""
    rows = sc.rows()
    checks.check(len(rows) == sc.total, f"queue rows lost: {sc.total} queued, {len(rows)} in the database now")
    faultlib.check_stored_text(checks, sc.setup, sc.db, sc.ids(), sc.label_of)
    entries = sc.received(rows=rows)
    faultlib.check_repeats(checks, entries, "all endpoints")
    by_key = collections.defaultdict(list)
    for row in rows:
        by_key[sc.label_of[row["trigger_id"]]].append(row)
    if exactly_once:
        for key in healthy:
            faultlib.check_exactly_once(checks, by_key[key], sc.received(rows=by_key[key]), key)
    for runner in runners if call_bound is not None else ():
        calls = runner.calls()
        slow = [call["duration"] for call in calls if call["duration"] > call_bound]
        checks.check(
            not slow,
            lambda runner=runner, slow=slow, calls=calls: (
                f"{runner.name}: {len(slow)} of {len(calls)} cron calls ran past {call_bound:g} s (time budget"
                f" {TIME_BUDGET:g} s + longest timeout {HOSTILE_TIMEOUT:g} s + {CALL_SLACK:g} s),"
                f" longest {max(slow):.1f} s"
            ),
        )


def check_acknowledged(checks, sc, keys):
    """200 answers count as delivered (on the first attempt), never as an 'Unexpected error'."""
    for key in keys:
        rows = sc.rows([key])
        states = collections.Counter(row["state"] for row in rows)
        errors = [row["last_error"] for row in rows if row["last_error"]]
        checks.check(
            states == {"delivered": len(rows)},
            lambda key=key, states=states, errors=errors: (
                f"{key}: a 200 answer must count as delivered; states {dict(states)}, errors: {_examples(errors)}"
            ),
        )
        unexpected = [a["error"] for a in sc.attempts([key]) if a["error"] and UNEXPECTED_ERROR in a["error"]]
        checks.check(not unexpected, lambda key=key, u=unexpected: f"{key}: recorded as {_examples(u, 1)}")
        faultlib.check_exactly_once(checks, rows, sc.received(rows=rows), key)


def check_recorded(checks, sc, keys, *, must_fail, timeout_text=False):
    """Faulty deliveries: attempted at least once, never lost, errors readable sentences.

    ``must_fail``: never 'delivered' (the receiver never acknowledged), only
    'pending' (to be retried) or 'failed'. ``timeout_text``: their errors
    mention the timeout.
    """
    for key in keys:
        rows = sc.rows([key])
        tries = [a for a in sc.attempts([key]) if a["outcome"] != "skipped"]
        checks.check(tries, f"{key}: no attempt recorded at all (was the endpoint ever tried?)")
        states = collections.Counter(row["state"] for row in rows)
        allowed = {"pending", "failed"} if must_fail else {"pending", "failed", "delivered"}
        checks.check(set(states) <= allowed, f"{key}: states {dict(states)}, expected only {sorted(allowed)}")
        unreadable = []
        for row in rows:
            touched = row["attempt_count"] or row["last_error"] or row["state"] == "failed"
            if row["state"] == "delivered" or not touched:
                continue
            problem = faultlib.readable_problem(row["last_error"], FORBIDDEN_IN_ERRORS)
            if problem:
                unreadable.append(f"last_error {problem}")
        for attempt in tries:
            if attempt["outcome"] != "delivered":
                problem = faultlib.readable_problem(attempt["error"], FORBIDDEN_IN_ERRORS)
                if problem:
                    unreadable.append(f"attempt error {problem}")
        checks.check(
            not unreadable,
            lambda key=key, u=unreadable: f"{key}: {len(u)} errors are not readable sentences, e.g. {u[0]}",
        )
        if timeout_text:
            texts = [a["error"] or "" for a in tries if a["outcome"] != "delivered"]
            silent = [text for text in texts if not TIMEOUT_RE.search(text)]
            checks.check(
                not silent,
                lambda key=key, s=silent: f"{key}: {len(s)} timeout errors do not mention the timeout: {_examples(s)}",
            )


def check_deadlines(checks, sc, keys, timeout=HOSTILE_TIMEOUT):
    """Every attempt ended at about its timeout: an absolute deadline, not a per-read timeout."""
    limit = timeout * 1000 + DEADLINE_SLACK_MS
    for key in keys:
        durations = [a["duration_ms"] or 0.0 for a in sc.attempts([key])]
        longest = max(durations, default=0.0)
        checks.check(
            longest < limit,
            f"{key}: an attempt lasted {longest:.0f} ms (limit {limit:.0f} ms = timeout {timeout:g} s + "
            f"{DEADLINE_SLACK_MS / 1000:g} s)",
        )


def start_runner(ctx, name, max_seconds, **options):
    """Start a runner process now (it loads while the test queues); ``runner.go(ids)`` lets it loop
    until no delivery of those triggers is pending, or for ``max_seconds``."""
    options.setdefault("batch_size", BATCH)
    options.setdefault("time_budget", TIME_BUDGET)
    runner = Runner(ctx.setup, ctx.db, name, ctx.logdir, max_seconds=max_seconds, **options)
    ctx.processes.append(runner)
    return runner


# -- the tests -------------------------------------------------------------------------------------


def test_weird_200_answers_count_as_delivered_and_are_stored_clean(faults):
    """A receiver answering 200 acknowledged the postback, whatever its body looks like: NUL and control
    bytes, invalid UTF-8, UTF-16, binary, unknown or non-text charsets (idna, base64, rot13), a gzip body
    sent despite "identity", raw latin-1 / control bytes in a header. Every such delivery is 'delivered',
    healthy ones alongside all arrive exactly once, and what is stored from these answers is clean text
    of at most ~4 KB."""
    runner = start_runner(faults, "weird", max_seconds=20)
    sc = Scenario.create(
        faults,
        [
            customer("Faults Weird A", (*WEIRD_200, "healthy_0", "healthy_1"), faults.hostile, n_orders=6),
            customer("Faults Weird B", ("healthy_2", "healthy_3"), faults.hostile, n_orders=10),
        ],
    )
    runner.go(sc.csv()).wait(20 + WAIT_SLACK)

    checks = Checks()
    checks.check(runner.finished_cleanly(), runner.outcome)
    check_acknowledged(checks, sc, WEIRD_200)
    check_common(checks, sc, HEALTHY, [runner])
    checks.verify()


def test_broken_answers_are_recorded_with_a_readable_error(faults):
    """A reset in the middle of the answer, a garbage status line (``HTTP/1.1 abc``, ``SPAM``), a closed
    connection without answer, a refused connection: each delivery is recorded (pending for a retry, or
    failed) with a readable sentence as its error, never lost; a Content-Length shorter than the body
    sent breaks nothing; the healthy endpoints' postbacks all arrive exactly once meanwhile."""
    runner = start_runner(faults, "broken", max_seconds=30)
    sc = Scenario.create(
        faults,
        [
            customer(
                "Faults Broken A", (*BROKEN, "length_too_short", "healthy_0", "healthy_1"), faults.hostile, n_orders=8
            ),
            customer("Faults Broken B", ("healthy_2", "healthy_3"), faults.hostile, n_orders=10),
        ],
    )
    runner.go(sc.csv(HEALTHY)).wait(30 + WAIT_SLACK)

    checks = Checks()
    checks.check(runner.finished_cleanly(), runner.outcome)
    check_recorded(checks, sc, BROKEN, must_fail=True)
    check_recorded(checks, sc, ("length_too_short",), must_fail=False)
    check_common(checks, sc, HEALTHY, [runner])
    checks.verify()


def test_slow_and_endless_answers_stop_at_an_absolute_deadline(faults):
    """Drip-fed status line, headers or body (each byte well within the read timeout), a never-ending
    chunked body, a Content-Length that promises more than is sent, a server that never answers: every
    attempt ends at about its 2 s timeout (duration < timeout + 1.5 s), errors of the ones that never
    answered say it timed out, no cron call runs past its budget + the timeout + 3 s, and the healthy
    postbacks all arrive exactly once."""
    runner = start_runner(faults, "slow", max_seconds=30)
    sc = Scenario.create(
        faults,
        [
            customer(
                "Faults Slow A", (*NEVER_ANSWERS, *ENDLESS_BODY, "healthy_0", "healthy_1"), faults.hostile, n_orders=6
            ),
            customer("Faults Slow B", ("healthy_2", "healthy_3"), faults.hostile, n_orders=10),
        ],
    )
    runner.go(sc.csv(HEALTHY)).wait(30 + WAIT_SLACK)

    checks = Checks()
    checks.check(runner.finished_cleanly(), runner.outcome)
    check_deadlines(checks, sc, (*NEVER_ANSWERS, *ENDLESS_BODY))
    check_recorded(checks, sc, NEVER_ANSWERS, must_fail=True, timeout_text=True)
    check_recorded(checks, sc, ENDLESS_BODY, must_fail=False)
    check_common(checks, sc, HEALTHY, [runner])
    checks.verify()


def test_dead_endpoint_costs_about_one_attempt_per_cooldown(faults):
    """An endpoint that hangs and one that refuses connections, 40 deliveries each, a runner working for
    about 12 s: after the first failures the endpoint cools down and its other deliveries are postponed
    without an attempt row, so each has at most one round of requests in flight (8) per cool-down
    period, not one attempt row per delivery; none is lost or given up, the healthy ones arrive."""
    dead = ("hang", "refused")
    # loops until the dead endpoints' deliveries are done, i.e. for --max-seconds
    runner = start_runner(faults, "dead", max_seconds=12)
    sc = Scenario.create(
        faults,
        [customer("Faults Dead", (*dead, "healthy_0"), faults.hostile, n_orders=40)],
    )
    started = time.monotonic()
    runner.go(sc.csv(dead)).wait(12 + WAIT_SLACK)
    summary = runner.summary() or {}
    elapsed = summary.get("elapsed") or (time.monotonic() - started)
    periods = 1 + int(elapsed // COOLDOWN)
    bound = IN_FLIGHT_PER_ENDPOINT * periods

    checks = Checks()
    checks.check(runner.finished_cleanly(), runner.outcome)
    for key in dead:
        rows = sc.attempts([key])
        outcomes = dict(collections.Counter(row["outcome"] for row in rows))
        checks.check(
            len(rows) <= bound,
            f"{key}: {len(rows)} attempt rows for {sc.queued[key]} deliveries in {elapsed:.0f} s "
            f"(at most {bound} expected: {IN_FLIGHT_PER_ENDPOINT} in flight x {periods} cool-down period(s)); "
            f"outcomes {outcomes}",
        )
    check_recorded(checks, sc, ("hang",), must_fail=True, timeout_text=True)
    check_recorded(checks, sc, ("refused",), must_fail=True)
    check_common(checks, sc, ("healthy_0",), [runner])
    checks.verify()


def _wait_received(sc, count, runner, timeout):
    ids = {row["webhook_id"] for row in sc.rows()}
    return harness.wait_until(
        lambda: len(sc.hostile.received(ids)) >= count or runner.proc.poll() is not None, timeout, interval=0.02
    )


def _check_recovery(checks, sc, received_at_cut):
    """After a cut: everything delivered and received; repeats only of postbacks received before the cut,
    with the same id and body (check_common), at most the requests that can be in flight."""
    rows = sc.rows()
    states = collections.Counter(row["state"] for row in rows)
    checks.check(states == {"delivered": len(rows)}, f"states in the database after the restart: {dict(states)}")
    counts = collections.Counter(entry["webhook_id"] for entry in sc.received(rows=rows))
    missing = {row["webhook_id"] for row in rows} - set(counts)
    checks.check(not missing, f"{len(missing)} of {len(rows)} postbacks never arrived")
    repeats = {wid: n for wid, n in counts.items() if n > 1}
    extra = sum(n - 1 for n in repeats.values())
    checks.check(
        extra <= MAX_REPEATS,
        f"{extra} repeated requests after the cut, more than the {MAX_REPEATS} that can be in flight",
    )
    late = set(repeats) - received_at_cut
    checks.check(not late, f"{len(late)} postbacks repeated that had not been received before the cut")


def test_runner_killed_mid_batch_then_restarted_loses_nothing(faults):
    """A runner SIGKILLed while a batch is in flight (no cleanup at all), then a new one: every postback is
    delivered; the only repeats are postbacks already received before the kill, with the same webhook-id
    and body, and no more of them than requests can be in flight."""
    first = start_runner(faults, "doomed", max_seconds=60)
    second = start_runner(faults, "restarted", max_seconds=60)
    sc = Scenario.create(faults, [customer("Faults Killed", SLOW_HEALTHY, faults.hostile, n_orders=100)])
    first.go(sc.csv())
    reached = _wait_received(sc, BATCH + BATCH // 2, first, 90)
    first.kill()
    assert reached and first.proc.returncode == -signal.SIGKILL, f"not killed mid-run: {first.outcome()}"
    time.sleep(0.5)  # requests already at the receiver finish
    received_at_kill = {entry["webhook_id"] for entry in sc.received()}
    second.go(sc.csv()).wait(60 + WAIT_SLACK)

    checks = Checks()
    checks.check(second.finished_cleanly(), second.outcome)
    _check_recovery(checks, sc, received_at_kill)
    check_common(checks, sc, (), [second], exactly_once=False)
    checks.verify()


def test_database_connection_terminated_mid_batch_loses_nothing(faults):
    """The runner's PostgreSQL connections are terminated (pg_terminate_backend) while postbacks are in
    flight; the runner recovers or is restarted: every postback is delivered, repeats only of postbacks
    received before the cut, same webhook-id and body, no more than can be in flight."""
    first = start_runner(faults, "cut", max_seconds=60)
    spare = start_runner(faults, "after_cut", max_seconds=60)
    sc = Scenario.create(faults, [customer("Faults Cut", SLOW_HEALTHY, faults.hostile, n_orders=100)])
    faultlib.wait_ready([first])
    pid = next(e["pid"] for e in first.events() if e.get("event") == "ready")
    first.go(sc.csv())
    reached = _wait_received(sc, BATCH + BATCH // 2, first, 90)
    assert reached and first.proc.poll() is None, f"the runner ended before the cut: {first.outcome()}"
    terminated = faults.setup.query(
        faults.db,
        "SELECT pid, state, pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid() AND application_name = %s",
        [faults.db, f"odoo-{pid}"],
    )
    assert terminated, "found no PostgreSQL backend of the runner to terminate"
    time.sleep(0.5)
    received_at_cut = {entry["webhook_id"] for entry in sc.received()}
    first.wait(60 + WAIT_SLACK)
    last = first
    if not first.finished_cleanly() or (first.summary() or {}).get("pending"):
        # the runner died with its connection (as a cron job would): another one takes over
        last = spare.go(sc.csv()).wait(60 + WAIT_SLACK)

    checks = Checks()
    checks.check(not first.killed_by_test, "the runner hung after its database connection was terminated")
    checks.check(last.finished_cleanly(), last.outcome)
    _check_recovery(checks, sc, received_at_cut)
    check_common(checks, sc, (), [last], exactly_once=False)
    checks.verify()


def test_two_runners_with_a_hostile_endpoint_send_each_postback_once(faults):
    """Two runner processes on one queue that holds an endpoint that never answers and one that drip-feeds
    its headers: every healthy postback arrives exactly once (no webhook-id twice), all are delivered, the
    hostile deliveries are recorded, and no cron call of either runner runs past its bound."""
    hostile_keys = ("hang", "drip_headers")
    go_file = faults.logdir / "go"
    runners = [start_runner(faults, name, max_seconds=40, go_file=go_file) for name in ("runner_a", "runner_b")]
    sc = Scenario.create(
        faults,
        [
            customer("Faults Two A", (*hostile_keys, "healthy_0", "healthy_1"), faults.hostile, n_orders=50),
            customer("Faults Two B", ("healthy_2", "healthy_3"), faults.hostile, n_orders=50),
        ],
    )
    faultlib.wait_ready(runners)
    faultlib.release(go_file, sc.csv(HEALTHY))  # both start claiming at the same moment
    for runner in runners:
        runner.wait(40 + WAIT_SLACK)

    checks = Checks()
    for runner in runners:
        checks.check(runner.finished_cleanly(), runner.outcome)
    check_recorded(checks, sc, hostile_keys, must_fail=True, timeout_text=True)
    check_deadlines(checks, sc, hostile_keys)
    check_common(checks, sc, HEALTHY, runners)
    checks.verify()


def test_smtp_down_then_slow_email_is_retried_while_http_flows(faults):
    """Email postbacks while nothing listens on the SMTP port: they are retried (pending, readable error)
    and the HTTP postbacks of the same events all arrive. Then a slow SMTP server (1 s per message) comes
    up on that port: the emails are delivered on retry, each once, while new HTTP postbacks still arrive
    promptly."""
    smtp_port = faultlib.ReservedPort()  # bound, not listening: connections are refused
    http_keys = ("healthy_0", "healthy_1")
    try:
        down = start_runner(faults, "smtp_down", max_seconds=30)
        slow = start_runner(faults, "smtp_slow", max_seconds=60)
        sc = Scenario.create(
            faults,
            [customer("Faults Mail", ("email", *http_keys), faults.hostile, n_orders=4, email_to="edi@faults.example")],
            mail_server_port=smtp_port.port,
        )
        down.go(sc.csv(http_keys)).wait(30 + WAIT_SLACK)

        checks = Checks()
        checks.check(down.finished_cleanly(), down.outcome)
        check_recorded(checks, sc, ("email",), must_fail=True)
        check_common(checks, sc, http_keys, [down], call_bound=None)
        # phase 1 problems are reported together with phase 2's, at the end
        first_emails = {row["webhook_id"] for row in sc.rows(["email"])}
        http_before = {row["webhook_id"] for row in sc.rows(http_keys)}

        smtp_port.release()
        with faultlib.SlowSmtp(smtp_port.port, delay=SLOW_SMTP_DELAY) as smtp:
            # Not waiting for the retry schedule (5 s, then 5 min): the pending emails are made due now.
            faults.setup.query(
                faults.db,
                "UPDATE postback_delivery SET next_attempt_at = (now() AT TIME ZONE 'UTC')"
                " WHERE trigger_id = %s AND state = 'pending'",
                [sc.triggers["email"]],
            )
            faults.setup.run_action(
                faults.db,
                "record",
                {"order_ids": sc.orders["Faults Mail"], "events_per_order": 1, "prefix": "again"},
                script=faultlib.ACTIONS_SCRIPT,
            )
            sc.total = len(sc.rows())
            slow.go(sc.csv()).wait(60 + WAIT_SLACK)
            time.sleep(0.2)
            messages = list(smtp.messages)

        checks.check(slow.finished_cleanly(), slow.outcome)
        email_rows = sc.rows(["email"])
        states = collections.Counter(row["state"] for row in email_rows)
        checks.check(states == {"delivered": len(email_rows)}, f"email states after the retry: {dict(states)}")
        checks.check(first_emails <= {row["webhook_id"] for row in email_rows}, "email rows lost")
        ids = collections.Counter(str(message.get("X-Postback-Id")) for _at, message in messages)
        expected = {row["webhook_id"] for row in email_rows}
        checks.check(set(ids) == expected, f"the SMTP server got {sorted(ids)[:3]}..., expected {len(expected)} ids")
        checks.check(all(n == 1 for n in ids.values()), f"emails sent more than once: {dict(ids)}")
        calls = slow.calls()
        new_http = [row for row in sc.rows(http_keys) if row["webhook_id"] not in http_before]
        arrivals = [entry["t"] for entry in sc.received(rows=new_http)]
        checks.check(len(new_http) == 4 * len(http_keys), f"{len(new_http)} new HTTP deliveries queued")
        if calls and arrivals:
            late = max(arrivals) - calls[0]["started"]
            checks.check(
                late <= PROMPT_SECONDS,
                f"the last new HTTP postback arrived {late:.1f} s after the runner's first call "
                f"(limit {PROMPT_SECONDS:g} s) while {len(expected)} emails went through a slow SMTP server",
            )
        check_common(checks, sc, http_keys, [slow], call_bound=None)
        checks.verify()
    finally:
        smtp_port.release()
