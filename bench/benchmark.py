"""postback_connector benchmark: the measurements side by side in one run.

    python bench/benchmark.py [--keep] [--db postback_bench] [--deliveries 5000] [--profile] [--experiments]
                              [--only 1,2,7a,...] [--reuse-db] [--no-results]

Runs on the Odoo tree of ODOO_SRC (18.0 or 19.0, default /opt/odoo-18; the
header of the results names it). Sets up its own database (a copy of
$POSTBACK_TEST_BASE_DB, default postback_test_base_<major>, + the addon; dropped at the end unless --keep), a fast
asyncio receiver in a separate process (bench/fast_receiver.py), and
measures:

1. render throughput of a typical 20-line mapping on one core (engine only);
2. the enqueue overhead on order confirmation (customer with a trigger vs
   without; the same trigger with a condition vs without);
3. the cron delivery throughput vs a bare keep-alive requests loop;
4. the idle-queue latency from the confirmation commit to the receiver,
   through a real Odoo server with one cron thread;
5. the healthy throughput while one endpoint always times out;
6. the time to claim the next batch with 1,000,000 rows in the table;
7. the healthy throughput of the first 5,000 deliveries while 10 % go to
   (a) an endpoint that never answers, (b) one that drip-feeds its answer;
8. the deliveries repeated after a runner is SIGKILLed mid-run;
9. Odoo's own base_automation webhook vs our trigger on order confirmation;
10. a scaling table: enqueue cost vs order lines and matching triggers,
    cron throughput vs distinct endpoints.

Prints Markdown tables (metric | measured | target | ok, then the scaling
table) and writes them to bench/RESULTS-<Odoo version>.md (RESULTS-18.0.md,
RESULTS-19.0.md) with the date, the machine and the versions. ``--only``
takes step numbers or names (see SELECTORS). Uses the same environment
knobs as the e2e tests (tests/e2e/harness.py).
"""

import argparse
import contextlib
import datetime
import itertools
import json
import math
import os
import platform
import re
import runpy
import signal
import statistics
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(HERE))


def _reexec_in_venv():
    """Run under the Odoo venv's interpreter (psycopg2, requests, aiosmtpd) when started with another one."""
    try:
        import psycopg2  # noqa: F401, PLC0415
        import requests  # noqa: F401, PLC0415
    except ImportError:
        import harness  # noqa: PLC0415 - no odoo import there

        series, _major = harness.odoo_series(harness.default_odoo_src())
        cache = Path(os.environ.get("POSTBACK_CACHE", Path.home() / ".cache" / "postback_connector"))
        venv = Path(os.environ.get("POSTBACK_VENV", cache / f"venv-{series}"))
        venv_python = venv / "bin" / "python"
        # sys.prefix, not the interpreter's path: a venv's python is a symlink to the base one
        if venv_python.exists() and Path(sys.prefix).resolve() != venv.resolve():
            os.execv(str(venv_python), [str(venv_python), *sys.argv])


_reexec_in_venv()

import harness  # noqa: E402
from mapping import TYPICAL_MAPPING  # noqa: E402

BENCH_ACTIONS = HERE / "bench_actions.py"
HISTORY_ROWS = 1_000_000
PENDING_ROWS = 3_000
BACKLOG_ROWS = 100_000
DEAD_WINDOW = 40  # seconds the dead-endpoint runs may take at most
ISOLATION_PAIRS = 20  # reference / bad-endpoint run pairs per row 7 (median of the per-pair losses)
ISOLATION_WINDOW = 40  # seconds (after the runner is ready) until 4,500 healthy deliveries must have arrived
KILL_WINDOW = 60  # seconds each runner of step 8 may take
KILL_TOTAL = 3000
ENDPOINT_TOTAL = 3000  # deliveries per point of 10c
ENDPOINT_POINTS = (1, 10, 1000)
ENDPOINT_WINDOW = 90
ENDPOINT_CHAIN = 3  # deliveries per (trigger, order): 3,000 / 1,000 endpoints
SLOW_RECEIVER_DELAY = 0.2

# The parts of the run: name, step number, time limit in seconds (a safety net by SIGALRM on top of
# each part's own bounded waits: a misbehaving runner gives "timed out after N s", never a hang).
# They run in this order whatever --only selects; the claim step last (it leaves a million
# history rows and a 100,000-row backlog behind).
PARTS = (
    ("render", "1", 180),
    ("enqueue", "2", 400),
    ("throughput", "3", 400),
    ("latency", "4", 400),
    ("dead", "5", 300),
    ("isolation_timeout", "7a", 1500),  # ~60 s to build the queue, then ~10 s per run, 2 runs per pair
    ("isolation_drip", "7b", 1500),
    ("isolation_two", "7c", 1500),
    ("kill", "8", 300),
    ("scale_lines", "10a", 600),
    ("scale_triggers", "10b", 400),
    ("scale_endpoints", "10c", 600),
    ("webhook", "9", 600),
    ("claim", "6", 900),
)
PART_NUMBERS = {name: number for name, number, _limit in PARTS}
PART_LIMITS = {name: limit for name, _number, limit in PARTS}
# --only: step numbers or names (and a few groups) -> parts
SELECTORS = {
    **{number: [name] for name, number, _limit in PARTS},
    **{name: [name] for name, _number, _limit in PARTS},
    "7": ["isolation_timeout", "isolation_drip", "isolation_two"],
    "isolation": ["isolation_timeout", "isolation_drip", "isolation_two"],
    "10": ["scale_lines", "scale_triggers", "scale_endpoints"],
    "scaling": ["scale_lines", "scale_triggers", "scale_endpoints"],
}
NEEDS_THROUGHPUT = {"dead", "claim"}


def part_order(part):
    """Sort key of a part's rows in the table: its step number (7a before 7b before 8, 10 last)."""
    number = PART_NUMBERS.get(part or "", "99")
    digits = re.match(r"\d+", number)
    return (int(digits.group()) if digits else 99, number)


class PartTimeout(Exception):
    pass


class Bench:
    def __init__(self, args):
        self.args = args
        self.db = args.db
        self.setup = None
        self.rows = []  # (order, metric, measured, target, ok)
        self.scale = {}  # scaling table: row label -> {column: text}
        self.part = None
        self.throughput_receiver = None
        self.notes = []
        self.details = {}
        self.receiver = None
        self.ports = None
        self.logdir = Path(args.logdir or f"/tmp/postback_bench_logs/{args.db}")
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.throughput = None
        self.throughput_scenario = None

    # -- helpers -----------------------------------------------------------------
    def log(self, message):
        sys.stderr.write("[bench %6.1fs] %s\n" % (time.monotonic() - STARTED, message))
        sys.stderr.flush()

    def row(self, metric, measured, target, ok):
        order = part_order(self.part)
        self.rows.append((order, metric, measured, target, "n/a" if ok is None else ("yes" if ok else "**NO**")))

    def action(self, name, spec=None, timeout=600):
        return self.setup.run_action(self.db, name, spec, timeout=timeout, script=BENCH_ACTIONS)

    def url(self, path="/hook", hang=False, port=None):
        return "http://127.0.0.1:%s%s" % (port or self.ports["hang_port" if hang else "port"], path)

    def hang_url(self, index):
        """A never-answering endpoint no earlier step used (runners may remember a cool-down)."""
        ports = self.ports.get("hang_ports") or [self.ports["hang_port"]]
        return self.url(port=ports[index % len(ports)])

    def receiver_stats(self, reset=False, path=None, port=None):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = self.url(path or ("/__reset" if reset else "/__stats"), port=port)
        with opener.open(url, timeout=10) as response:
            return json.loads(response.read())

    def receiver_times(self, port=None):
        """Arrival times (receiver clock) of the first receipt of every distinct webhook-id, in order."""
        return self.receiver_stats(path="/__times", port=port)

    def start_helper(self, name, script, *args):
        """Start a helper server process (own session); return (proc, its JSON line)."""
        out = self.logdir / f"{name}.out"
        with open(out, "w") as handle:
            proc = subprocess.Popen(
                [self.setup.python, str(script), *map(str, args)],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.setup.child_env(),
                start_new_session=True,
            )
        if not harness.wait_until(lambda: out.read_text().strip() or proc.poll() is not None, 30):
            harness.stop_process(proc)
            raise TimeoutError(f"{name} did not start within 30 s")
        try:
            return proc, harness.last_json(out.read_text())
        except ValueError:
            harness.stop_process(proc)
            raise

    def cancel_pending(self, trigger_ids):
        """Take what a step left in the queue out of it (and out of the next steps' claims)."""
        self.setup.query(
            self.db,
            "UPDATE postback_delivery SET state = 'cancelled' WHERE trigger_id = ANY(%s) AND state = 'pending'",
            [list(trigger_ids)],
        )

    def start_receiver(self):
        self.receiver, self.ports = self.start_helper("fast_receiver", HERE / "fast_receiver.py")
        self.log(f"fast receiver: pid {self.receiver.pid}, ports {self.ports}")

    def run_worker(self, name, trigger_ids, **options):
        options.setdefault("time_budget", 120)
        options.setdefault("max_seconds", 150)
        if self.args.profile:
            options["profile"] = str(self.logdir / f"{name}.prof")
        proc = self.setup.spawn_worker(
            self.db, name=name, logdir=self.logdir, trigger_ids=",".join(map(str, trigger_ids)), **options
        )
        try:
            return harness.worker_result(proc, timeout=options["max_seconds"] + 60)
        finally:
            harness.stop_process(proc)

    def print_profile(self, name, limit=25):
        path = self.logdir / f"{name}.prof"
        if not self.args.profile or not path.exists():
            return
        import io  # noqa: PLC0415
        import pstats  # noqa: PLC0415

        stream = io.StringIO()
        pstats.Stats(str(path), stream=stream).sort_stats("cumulative").print_stats(limit)
        self.details[f"profile {name}"] = stream.getvalue()

    # -- steps ------------------------------------------------------------------------
    def step_render(self):
        proc = subprocess.run(
            [self.setup.python, str(HERE / "render_bench.py"), "--seconds", "3"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        result = harness.last_json(proc.stdout)
        self.details["render"] = result
        rate = result["renders_per_s"]
        self.row(
            f"1. render, typical {result['lines']}-line mapping, 1 core ({result['bytes']} B body; best of "
            f"{len(result['rounds'])} rounds)",
            f"{rate:,.0f} renders/s ({result['us_per_render']:.1f} µs; median round "
            f"{result['median_renders_per_s']:,.0f}/s)",
            "≥ 20,000/s",
            rate >= 20000,
        )

    def step_enqueue(self):
        result = self.action(
            "enqueue_overhead", {"url": self.url(), "n": 40, "warmup": 5, "lines_per_order": 5, "condition": True}
        )
        self.details["enqueue"] = result
        assert result["deliveries_per_confirmation"] == [1], result
        assert result["condition_deliveries_per_confirmation"] == [1], result
        self.row(
            "2a. action_confirm median, customer without trigger (5 lines)",
            f"{result['median_without_ms']:.1f} ms",
            "-",
            None,
        )
        self.row(
            "2b. action_confirm median, customer with 1 active trigger", f"{result['median_with_ms']:.1f} ms", "-", None
        )
        self.row(
            "2. enqueue overhead on confirmation (median ratio)",
            f"{result['overhead_pct']:+.1f} % ({result['median_with_ms'] - result['median_without_ms']:+.2f} ms)",
            "≤ 5 %",
            result["overhead_pct"] <= 5,
        )
        record_pct = (result["record_with_ms"] - result["record_without_ms"]) / result["median_without_ms"] * 100
        self.row(
            "2c. time inside postback.event._record (+flush) per confirmation, with / without trigger",
            f"{result['record_with_ms']:.2f} / {result['record_without_ms']:.2f} ms = {record_pct:.1f} % of "
            f"the confirmation; +{result['extra_queries']} SQL queries",
            "(≤ 5 %)",
            None,
        )
        self.row(
            "2d. enqueue overhead with a condition (amount + tag + sales team, matched by the orders) over the same "
            "trigger without one (median ratio)",
            f"{result['condition_overhead_pct']:+.1f} % ({result['median_condition_ms']:.1f} vs "
            f"{result['median_with_ms']:.1f} ms; median of the {result['n']} paired ratios "
            f"{result['condition_paired_pct']:+.1f} %; vs the customer without trigger (2a): "
            f"{result['condition_vs_without_pct']:+.1f} %)",
            "≤ 5 %",
            result["condition_overhead_pct"] <= 5,
        )
        condition_pct = (result["record_condition_ms"] - result["record_with_ms"]) / result["median_with_ms"] * 100
        self.row(
            "2e. time inside postback.event._record (+flush) per confirmation, with / without the condition",
            f"{result['record_condition_ms']:.2f} / {result['record_with_ms']:.2f} ms = {condition_pct:+.2f} % of "
            f"the confirmation; {result['condition_extra_queries']:+} SQL queries",
            "(≤ 5 %)",
            None,
        )

    def step_throughput(self):
        n = self.args.deliveries
        n_orders = max(1, n // 10)
        scenario = self.action(
            "scenario",
            {
                "customer": "Bench Throughput",
                "url": self.url(),
                "n_orders": n_orders,
                "events_per_order": 10,
                "lines_per_order": 3,
                "template_lines": TYPICAL_MAPPING,
            },
        )
        self.log(f"queued {scenario['deliveries']} deliveries in {scenario['seconds']}s")
        self.throughput_scenario = scenario
        self.receiver_stats(reset=True)
        result = self.run_worker("throughput", [scenario["trigger_id"]])
        stats = self.receiver_stats()
        rate = result["sent"] / result["elapsed"]
        self.throughput = rate
        # the same rate on the receiver's clock, first to last arrival: the reference of step 7
        times = self.receiver_times()
        if len(times) > 1 and times[-1] > times[0]:
            self.throughput_receiver = (len(times) - 1) / (times[-1] - times[0])
        size = self.setup.query(
            self.db,
            "SELECT avg(octet_length(payload))::int FROM postback_delivery WHERE trigger_id = %s",
            [scenario["trigger_id"]],
        )[0][0]
        states = dict(
            self.setup.query(
                self.db,
                "SELECT state, count(*) FROM postback_delivery WHERE trigger_id = %s GROUP BY state",
                [scenario["trigger_id"]],
            )
        )
        bare = subprocess.run(
            [self.setup.python, str(HERE / "bare_loop.py"), self.url(), "--body-size", str(size), "--count", str(n)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            env=self.setup.child_env(),
        )
        bare_result = harness.last_json(bare.stdout)
        self.details["throughput"] = {
            "worker": result,
            "receiver": stats,
            "states": states,
            "body_bytes": size,
            "bare": bare_result,
            "receiver_rate_first_to_last": self.throughput_receiver,
        }
        self.print_profile("throughput")
        ok_delivered = states.get("delivered") == n and stats["unique"] == n
        self.row(
            f"3. cron delivery throughput ({n:,} deliveries, batch 200, 1 runner)",
            f"{rate:,.0f} /s ({result['elapsed']:.2f} s{'' if ok_delivered else ', NOT ALL DELIVERED'})",
            "≥ 1,000/s",
            rate >= 1000 and ok_delivered,
        )
        self.row(
            f"3b. bare keep-alive requests.Session().post loop ({size} B body)",
            f"{bare_result['rate']:,.0f} /s",
            "-",
            None,
        )
        ratio = rate / bare_result["rate"] * 100
        self.row("3c. cron throughput / bare loop", f"{ratio:.1f} %", "≥ 60 %", ratio >= 60)
        if self.args.experiments:
            scenario = self.action(
                "scenario",
                {
                    "customer": "Bench Throughput urllib3",
                    "url": self.url(),
                    "n_orders": n_orders,
                    "events_per_order": 10,
                    "lines_per_order": 3,
                    "template_lines": TYPICAL_MAPPING,
                },
            )
            result = self.run_worker(
                "throughput_urllib3", [scenario["trigger_id"]], patch=f"{HERE / 'experiments.py'}:urllib3_sender"
            )
            prototype = result["sent"] / result["elapsed"]
            self.details["throughput_urllib3_prototype"] = result
            self.row(
                "3x. PROTOTYPE (bench/experiments.py urllib3_sender): cron throughput",
                f"{prototype:,.0f} /s = {prototype / bare_result['rate'] * 100:.0f} % of the bare loop",
                "(≥ 1,000/s)",
                None,
            )

    def step_latency(self):
        receivers = harness.load_receivers()
        samples = 30
        with receivers.HttpReceiver() as receiver:
            receiver.server.handle_error = lambda *args: None  # a closed keep-alive connection is not news
            scenario = self.action(
                "scenario",
                {"customer": "Bench Latency", "url": receiver.url, "n_orders": 0, "template_lines": TYPICAL_MAPPING},
            )
            orders = self.action(
                "orders", {"partner_id": scenario["partner_id"], "count": samples, "lines_per_order": 3}
            )
            harness.quiet_other_crons(self.setup, self.db)
            port = harness.free_port()
            logfile = self.logdir / "odoo-server.log"
            server = self.setup.start_server(self.db, port, logfile)
            try:
                harness.wait_http(f"http://127.0.0.1:{port}/web/login", timeout=120, proc=server)
                time.sleep(2.0)  # the cron thread's start-up pass
                confirmed = self.action("confirm", {"order_ids": orders["order_ids"], "interval": 0.3})["confirmed"]
                receiver.wait_for(samples, timeout=30)
                received = list(receiver.received)
            finally:
                harness.stop_process(server, timeout=20)
        arrivals = {}
        for item in received:
            number = json.loads(item.body)["order"]["number"]
            arrivals.setdefault(number, item.at)
        latencies = sorted(arrivals[c["name"]] - c["commit_start"] for c in confirmed if c["name"] in arrivals)
        missing = samples - len(latencies)
        p50 = statistics.median(latencies) if latencies else math.inf
        p99 = latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)] if latencies else math.inf
        self.details["latency"] = {"latencies_s": [round(x, 4) for x in latencies], "missing": missing}
        suffix = f", {missing} MISSING" if missing else ""
        self.row(
            f"4a. idle-queue latency commit → receiver, p50 ({samples} orders, 1 cron thread)",
            f"{p50 * 1000:.0f} ms{suffix}",
            "< 1 s",
            p50 < 1 and not missing,
        )
        self.row(
            "4b. idle-queue latency, p99",
            f"{p99 * 1000:.0f} ms (max {max(latencies or [math.inf]) * 1000:.0f} ms)",
            "< 3 s",
            p99 < 3 and not missing,
        )

    def dead_endpoint_run(self, label, dead_orders, dead_events_per_order, *, patch=None, total=None, hang_index=0):
        """Healthy deliveries (90 %) mixed evenly with deliveries to an endpoint that never answers (10 %)."""
        n = total or self.args.deliveries
        healthy_orders = max(1, n * 9 // 100)
        scenario = self.action(
            "scenario",
            {
                "customers": [
                    {
                        "customer": f"Bench Healthy {label}",
                        "url": self.url(),
                        "n_orders": healthy_orders,
                        "events_per_order": 10,
                        "lines_per_order": 3,
                        "template_lines": TYPICAL_MAPPING,
                    },
                    {
                        "customer": f"Bench Dead Endpoint {label}",
                        "url": self.hang_url(hang_index),
                        "timeout": 1.0,
                        "n_orders": dead_orders,
                        "events_per_order": dead_events_per_order,
                        "lines_per_order": 3,
                        "template_lines": TYPICAL_MAPPING,
                    },
                ]
            },
        )
        healthy, dead = scenario["customers"]
        self.log(
            f"queued {healthy['deliveries']} healthy + {dead['deliveries']} dead-endpoint deliveries "
            f"({dead_orders} orders x {dead_events_per_order})"
        )
        self.receiver_stats(reset=True)
        # a bounded window: with a dead endpoint the queue can take minutes to drain
        result = self.run_worker(
            f"dead_endpoint_{label}",
            [healthy["trigger_id"]],
            time_budget=DEAD_WINDOW,
            max_seconds=DEAD_WINDOW,
            patch=patch,
        )
        stats = self.receiver_stats()
        delivered = self.setup.query(
            self.db,
            "SELECT count(*) FROM postback_delivery WHERE trigger_id = %s AND state = 'delivered'",
            [healthy["trigger_id"]],
        )[0][0]
        attempts = dict(
            self.setup.query(
                self.db,
                "SELECT a.outcome, count(*) FROM postback_delivery_attempt a JOIN postback_delivery d"
                " ON d.id = a.delivery_id WHERE d.trigger_id = %s GROUP BY a.outcome",
                [dead["trigger_id"]],
            )
        )
        # take the leftovers out of the queue for the next steps
        self.setup.query(
            self.db,
            "UPDATE postback_delivery SET state = 'cancelled' WHERE trigger_id IN %s AND state = 'pending'",
            [(healthy["trigger_id"], dead["trigger_id"])],
        )
        rate = delivered / result["elapsed"]
        loss = (1 - rate / self.throughput) * 100 if self.throughput else math.nan
        self.details[f"dead_endpoint_{label}"] = {
            "worker": result,
            "receiver": stats,
            "dead_endpoint_attempts": attempts,
            "healthy": healthy["deliveries"],
            "dead": dead["deliveries"],
            "healthy_delivered": delivered,
            "healthy_received": stats["unique"],
        }
        self.print_profile(f"dead_endpoint_{label}")
        return rate, loss, result, healthy, dead

    def step_dead_endpoint(self):
        # Worst case: the dead endpoint's customer has many orders (one delivery each), so
        # batches keep holding fresh deliveries for it; 10 % of the traffic goes there.
        # A dead endpoint costs one timeout per cool-down (30 s, doubling): the steady
        # state is measured over a 4x longer run, the first seconds as a burst.
        long_total = self.args.deliveries * 4
        rate, loss, result, healthy, dead = self.dead_endpoint_run("long", long_total // 10, 1, total=long_total)
        self.row(
            f"5a. healthy throughput while 1 endpoint times out (1 s): {dead['deliveries']:,} of "
            f"{healthy['deliveries'] + dead['deliveries']:,} deliveries to it, 1 per order",
            f"{rate:,.0f} /s ({result['elapsed']:.1f} s{', window' if result['timed_out'] else ''})",
            "-",
            None,
        )
        self.row(
            "5. throughput loss vs healthy-only (step 3), steady state",
            f"{loss:.0f} %",
            "< 10 %",
            loss < 10,
        )
        rate, loss, result, healthy, dead = self.dead_endpoint_run("burst", self.args.deliveries // 10, 1, hang_index=1)
        self.row(
            f"5b. same, first {healthy['deliveries'] + dead['deliveries']:,} deliveries only (burst: includes the "
            "one 1 s timeout before the host cools down)",
            f"{rate:,.0f} /s, loss {loss:.0f} % ({result['elapsed']:.1f} s{', window' if result['timed_out'] else ''})",
            "(< 10 %)",
            None,
        )

    # -- 7. isolation: one bad endpoint among healthy ones, first 5,000 deliveries -----------------------------------
    def wait_ready(self, proc, timeout=120):
        harness.wait_workers_ready([proc], timeout=timeout)
        return time.monotonic()

    def isolation_scenario(self, label, bad_endpoints):
        """Queue, once per row, 4,500 healthy deliveries interleaved with 500 (one per order) to the bad
        endpoints ``[(url, kind), ...]``, shared out between them (timeout 1 s); every run of the row
        then replays this same queue (isolation_reset). The bad ones come back as one dict: their
        trigger ids and kinds, and their deliveries in all."""
        n = self.args.deliveries
        scenario = self.action(
            "scenario",
            {
                "customers": [
                    {
                        "customer": f"Bench Isolation Healthy {label}",
                        "url": self.url(),
                        "n_orders": max(1, n * 9 // 100),
                        "events_per_order": 10,
                        "lines_per_order": 3,
                        "template_lines": TYPICAL_MAPPING,
                    },
                    *({
                        "customer": f"Bench Isolation {kind} {label}",
                        "url": url,
                        "timeout": 1.0,
                        "n_orders": n // 10 // len(bad_endpoints),
                        "events_per_order": 1,
                        "lines_per_order": 3,
                        "template_lines": TYPICAL_MAPPING,
                    } for url, kind in bad_endpoints),
                ]
            },
        )
        healthy, *bads = scenario["customers"]
        bad = {
            "trigger_ids": [b["trigger_id"] for b in bads],
            "kinds": {b["trigger_id"]: kind for b, (_url, kind) in zip(bads, bad_endpoints, strict=True)},
            "deliveries": sum(b["deliveries"] for b in bads),
        }
        self.log(f"queued {healthy['deliveries']} healthy + {bad['deliveries']} deliveries to "
                 + " and ".join(f"the {kind} endpoint {url}" for url, kind in bad_endpoints)
                 + f" (built in {scenario['seconds']:.0f} s, replayed by every run of the row)")
        return healthy, bad

    def isolation_reset(self, healthy, bad, with_bad):
        """Put the row's queue back as it was enqueued: every delivery pending, never attempted, its
        payload not yet rendered (the runner renders it again, as on a first send), due at once in
        id order (the interleaved order of the scenario); the bad endpoint's deliveries are cancelled
        for a reference run. The endpoints meet the runner for the first time (their health is shared
        in the database), and the tables are vacuumed so that no run pays for the previous one's
        dead rows."""
        trigger_ids = [healthy["trigger_id"], *bad["trigger_ids"]]
        self.setup.query(
            self.db,
            "DELETE FROM postback_delivery_attempt WHERE delivery_id IN"
            " (SELECT id FROM postback_delivery WHERE trigger_id = ANY(%s))",
            [trigger_ids],
        )
        self.setup.query(
            self.db,
            "UPDATE postback_delivery SET state = CASE WHEN trigger_id = ANY(%s) AND NOT %s THEN 'cancelled'"
            " ELSE 'pending' END, attempt_count = 0, retry_count = 0,"
            " next_attempt_at = (now() AT TIME ZONE 'UTC') - interval '1 minute', last_attempt_at = NULL,"
            " delivered_at = NULL, last_status_code = NULL, last_error = NULL, payload = NULL, claim_token = NULL"
            " WHERE trigger_id = ANY(%s)",
            [bad["trigger_ids"], with_bad, trigger_ids],
        )
        self.setup.query(
            self.db, "UPDATE postback_trigger SET state = 'active', failing_since = NULL WHERE id = ANY(%s)",
            [trigger_ids])
        self.setup.query(self.db, "UPDATE postback_endpoint SET cooldown_until = NULL, consecutive_failures = 0,"
                         " cooldown_seconds = 0")
        for table in ("postback_delivery", "postback_delivery_attempt", "postback_endpoint"):
            self.setup.query(self.db, f"VACUUM ANALYZE {table}")

    def isolation_run(self, label, healthy, bad, with_bad):
        """One replay of the row's queue, with or without the bad endpoint's deliveries.

        The healthy throughput is measured on the receiver's clock, from the first healthy
        arrival to the 4,500th distinct one (like the step 3 reference, first to last of 5,000).
        """
        self.isolation_reset(healthy, bad, with_bad)
        target = healthy["deliveries"]
        trigger_ids = (healthy["trigger_id"], *bad["trigger_ids"])
        self.receiver_stats(reset=True)
        name = f"isolation_{label}"
        proc = self.setup.spawn_worker(
            self.db,
            name=name,
            logdir=self.logdir,
            trigger_ids=str(healthy["trigger_id"]),
            time_budget=120,
            max_seconds=ISOLATION_WINDOW,
        )
        result = None
        try:
            ready = self.wait_ready(proc)
            deadline = ready + ISOLATION_WINDOW
            stats = self.receiver_stats()
            while stats["unique"] < target and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
                stats = self.receiver_stats()
            reached = stats["unique"] >= target
            waited = time.monotonic() - ready
            ended_wall = time.time()
            count_at_end = stats["unique"]
            if proc.poll() is not None:
                with contextlib.suppress(Exception):
                    result = harness.worker_result(proc, timeout=10)
        finally:
            harness.stop_process(proc)  # SIGTERM its group, SIGKILL after 10 s
        stats = self.receiver_stats()
        times = self.receiver_times()
        states = {
            f"{'healthy' if trigger_id == healthy['trigger_id'] else bad['kinds'][trigger_id]} {state}": count
            for trigger_id, state, count in self.setup.query(
                self.db,
                "SELECT trigger_id, state, count(*) FROM postback_delivery WHERE trigger_id = ANY(%s) GROUP BY 1, 2",
                [list(trigger_ids)],
            )
        }
        bad_attempts = {
            f"{bad['kinds'][trigger_id]} {outcome}": count
            for trigger_id, outcome, count in self.setup.query(
                self.db,
                "SELECT d.trigger_id, a.outcome, count(*) FROM postback_delivery_attempt a JOIN postback_delivery d"
                " ON d.id = a.delivery_id WHERE d.trigger_id = ANY(%s) GROUP BY 1, 2",
                [bad["trigger_ids"]],
            )
        }
        self.cancel_pending(trigger_ids)
        k = min(target, len(times))
        span = (times[k - 1] - times[0]) if k > 1 else 0.0
        if reached and span > 0:
            rate = (k - 1) / span
        elif times:
            # not all there within the window: the rate over the window, from the first arrival
            rate = count_at_end / max(1e-9, ended_wall - times[0])
        else:
            rate = 0.0
        self.details[name] = {
            "worker": result,
            "receiver": stats,
            "healthy": target,
            "bad": bad["deliveries"] if with_bad else 0,
            "reached": reached,
            "healthy_received_in_window": count_at_end,
            "waited_s": round(waited, 2),
            "span_first_to_target_s": round(span, 3),
            # where the healthy stream stalled: (seconds without a new healthy arrival, after the n-th one)
            "longest_gaps": longest_gaps(times[:k]),
            "healthy_rate": rate,
            "states_at_the_end": states,
            "bad_attempts": bad_attempts,
        }
        return {
            "rate": rate,
            "reached": reached,
            "waited": waited,
            "received": count_at_end,
            "target": target,
            "bad_count": bad["deliveries"],
        }

    def isolation_paired(self, label, bad_endpoints):
        """--isolation-pairs pairs of runs over one queue: the bad endpoint's run and a reference run of
        the same healthy deliveries without it, seconds apart; the median of the per-pair losses, so that
        the loss is not the machine's noise. The order inside a pair alternates (reference first, then
        bad first: ABBA), so a drift of the machine over the row favours neither side."""
        healthy, bad = self.isolation_scenario(label, bad_endpoints)
        runs, references = [], []
        try:
            for index in range(self.args.isolation_pairs):
                order = (False, True) if index % 2 == 0 else (True, False)
                for with_bad in order:
                    if with_bad:
                        runs.append(self.isolation_run(f"{label}{index}", healthy, bad, True))
                    else:
                        references.append(
                            self.isolation_run(f"{label}_ref{index}", healthy, bad, False)["rate"])
        finally:
            self.cancel_pending((healthy["trigger_id"], *bad["trigger_ids"]))
            self.action("deactivate", {"trigger_ids": [healthy["trigger_id"], *bad["trigger_ids"]]})
        run = dict(runs[len(runs) // 2])
        run["rate"] = statistics.median(r["rate"] for r in runs)
        run["reached"] = all(r["reached"] for r in runs)
        run["reference"] = statistics.median(references)
        losses = [(1 - r["rate"] / ref) * 100 if ref else math.nan for r, ref in zip(runs, references, strict=True)]
        run["loss"] = statistics.median(losses)
        run["loss_ci"] = median_interval(losses)
        run["losses"] = [round(x, 1) for x in losses]
        run["rates"] = [round(r["rate"]) for r in runs]
        run["references"] = [round(r) for r in references]
        # the spread of the machine itself: the references against each other
        run["reference_spread"] = (round((max(references) / min(references) - 1) * 100, 1)
                                   if min(references) else math.nan)
        self.details[f"isolation_{label}_paired"] = {k: run[k] for k in (
            "rate", "reference", "loss", "loss_ci", "losses", "rates", "references", "reference_spread")}
        return run

    def isolation_rows(self, letter, what, run):
        rate, loss, reached, waited = run["rate"], run["loss"], run["reached"], run["waited"]
        received, target, bad_count = run["received"], run["target"], run["bad_count"]
        reference = run["reference"]
        head = (
            f"7{letter}. healthy throughput, first {target + bad_count:,} deliveries, while {what} "
            f"({bad_count:,} of them, 1 per order; trigger timeout 1 s); receiver clock, 1st to "
            f"{target:,}th healthy"
        )
        if reached:
            low, high = run["loss_ci"]
            measured = (
                f"loss {loss:.1f} % (90 % interval of the median {low:.1f} to {high:.1f} %; "
                f"median of {len(run['losses'])} pairs of runs replaying one queue, with the bad "
                f"endpoint and without it, seconds apart: losses {run['losses']} %; {rate:,.0f} /s vs "
                f"{reference:,.0f} /s, medians of {run['rates']} vs {run['references']}; the references alone "
                f"spread by {run['reference_spread']} %)"
            )
        else:
            measured = (
                f"timed out after {waited:.0f} s: {received:,} of {target:,} healthy delivered "
                f"({rate:,.0f} /s over the window, loss {loss:.0f} %)"
            )
        # The bar holds when the whole 90 % interval of the median is under 5 %: a median under 5 % by the
        # machine's chance alone is not enough.
        self.row(head, measured, "loss < 5 % (90 % interval of the median under 5 %)",
                 reached and run["loss_ci"][1] < 5)

    def step_isolation_timeout(self):
        result = self.isolation_paired("timeout", [(self.hang_url(2), "timing out")])
        self.isolation_rows("a", "1 endpoint accepts and never answers", result)

    def step_isolation_drip(self):
        drip = self.ports.get("drip_ports") or []
        if not drip:
            raise RuntimeError("the receiver has no drip-feeding port")
        result = self.isolation_paired("drip", [(self.url(port=drip[0]), "drip-feeding")])
        self.isolation_rows(
            "b",
            "1 endpoint drip-feeds its answer (1 byte of status line/headers every 0.2 s: only an absolute "
            "per-request deadline stops it)",
            result,
        )

    def step_isolation_two(self):
        drip = self.ports.get("drip_ports") or []
        if len(drip) < 2:
            raise RuntimeError("the receiver has fewer than 2 drip-feeding ports")
        result = self.isolation_paired(
            "two", [(self.hang_url(3), "timing out"), (self.url(port=drip[1]), "drip-feeding")])
        self.isolation_rows(
            "c",
            "2 endpoints misbehave at once, one accepting and never answering, one drip-feeding (their "
            "8 lanes each would hold all 16 workers)",
            result,
        )

    # -- 8. SIGKILL mid-run ------------------------------------------------------------------------------------------
    def step_kill(self):
        total = KILL_TOTAL
        scenario = self.action(
            "scenario",
            {
                "customer": "Bench Kill",
                "url": self.url(),
                "n_orders": total // 10,
                "events_per_order": 10,
                "lines_per_order": 3,
                "template_lines": TYPICAL_MAPPING,
            },
        )
        trigger_id = scenario["trigger_id"]
        total = scenario["deliveries"]

        def delivered():
            return self.setup.query(
                self.db,
                "SELECT count(*) FROM postback_delivery WHERE trigger_id = %s AND state = 'delivered'",
                [trigger_id],
            )[0][0]

        self.receiver_stats(reset=True)
        first = self.setup.spawn_worker(
            self.db,
            name="kill_first",
            logdir=self.logdir,
            trigger_ids=str(trigger_id),
            time_budget=120,
            max_seconds=KILL_WINDOW,
        )
        second = None
        try:
            ready = self.wait_ready(first)
            stats = self.receiver_stats()
            while stats["unique"] < total // 2 and first.poll() is None and time.monotonic() < ready + KILL_WINDOW:
                time.sleep(0.005)
                stats = self.receiver_stats()
            finished_first = first.poll() is not None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(first.pid, signal.SIGKILL)  # its whole process group, no clean-up at all
            killed = time.monotonic()
            first.wait(timeout=10)
            time.sleep(0.5)  # the receiver answers what was already on the wire; PostgreSQL ends the backend
            at_kill = self.receiver_stats()
            committed_at_kill = delivered()
            spawned = time.monotonic()
            second = self.setup.spawn_worker(
                self.db,
                name="kill_second",
                logdir=self.logdir,
                trigger_ids=str(trigger_id),
                time_budget=120,
                max_seconds=KILL_WINDOW,
            )
            second_ready = self.wait_ready(second)
            result = harness.worker_result(second, timeout=KILL_WINDOW + 30)
            all_done = time.monotonic()
        finally:
            harness.stop_process(first, sig=signal.SIGKILL)
            harness.stop_process(second)
        final = self.receiver_stats()
        committed = delivered()
        self.cancel_pending([trigger_id])
        in_flight = at_kill["unique"] - committed_at_kill
        repeated = final["repeated_ids"]
        self.details["kill"] = {
            "queued": total,
            "killed_after_received": at_kill["unique"],
            "committed_at_kill": committed_at_kill,
            "received_not_committed_at_kill": in_flight,
            "first_finished_before_kill": finished_first,
            "final_receiver": final,
            "delivered_in_db": committed,
            "second_worker": result,
            "restart_to_all_delivered_s": round(all_done - spawned, 2),
            "second_registry_load_s": round(second_ready - spawned, 2),
            "kill_to_all_delivered_s": round(all_done - killed, 2),
        }
        all_ok = committed == total and final["unique"] == total
        self.row(
            f"8. webhook-ids received more than once after a SIGKILL mid-run ({total:,} queued; killed at "
            f"{at_kill['unique']:,} received, {committed_at_kill:,} committed)",
            f"{repeated:,} repeated ({final['requests'] - final['unique']:,} extra requests); in flight at the kill "
            f"(received, not committed): {in_flight:,}"
            + (" — the first runner had FINISHED before the kill" if finished_first else ""),
            "≤ in flight (sent, outcome not committed)",
            repeated <= max(in_flight, 0) and not finished_first,
        )
        self.row(
            "8b. restarted runner: time until every delivery is delivered",
            f"{all_done - spawned:.1f} s from its start ({second_ready - spawned:.1f} s loading Odoo, "
            f"{result['sent']:,} sent); {committed:,}/{total:,} delivered, {final['unique']:,} distinct ids received",
            "all delivered",
            all_ok,
        )

    # -- 9. Odoo's own webhook vs ours ---------------------------------------------------------------------------------
    def ensure_module(self, module):
        state = self.setup.query(self.db, "SELECT state FROM ir_module_module WHERE name = %s", [module])
        if state and state[0][0] == "installed":
            return 0.0
        started = time.monotonic()
        cmd = [*self.setup.odoo_cmd(self.db), "-i", module, "--stop-after-init", "--log-level=warn", "--no-http"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=harness.INSTALL_TIMEOUT, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"installing {module} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        harness.quiet_other_crons(self.setup, self.db)  # the module may bring crons of its own
        return time.monotonic() - started

    def step_webhook(self):
        install = self.ensure_module("base_automation")
        self.log(f"base_automation installed ({install:.0f} s)")
        proc, info = self.start_helper("slow_receiver", HERE / "slow_receiver.py", "--delay", SLOW_RECEIVER_DELAY)
        try:
            base = f"http://127.0.0.1:{info['port']}"
            result = self.action(
                "webhook_compare",
                {"odoo_url": base + "/odoo", "our_url": base + "/ours", "n": 20, "warmup": 3, "lines_per_order": 5},
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(base + "/__stats", timeout=10) as response:
                received = json.loads(response.read())
        finally:
            harness.stop_process(proc)
        result["receiver"] = received
        result["base_automation_install_s"] = round(install, 1)
        self.details["webhook"] = result
        med = result["median_ms"]
        calls = received["requests"].get("/odoo", 0)
        delay_ms = SLOW_RECEIVER_DELAY * 1000
        self.row(
            f"9a. action_confirm median, committed (5 lines), with Odoo's base_automation \"Send Webhook "
            f'Notification" (on_state_set → sale) to a receiver answering in {delay_ms:.0f} ms: posted '
            "synchronously inside the transaction (ir.actions.server._run_action_webhook: requests.post, "
            "timeout 1 s, no retry, from base_automation's write() hook)",
            f"{med['odoo']:.1f} ms (of which {result['webhook_call_median_ms']['odoo']:.1f} ms in the webhook "
            f"call; {calls}/{result['confirmations_per_kind']} received)",
            "-",
            None,
        )
        self.row(
            "9b. same, customer with our trigger to the same receiver (only enqueued in the transaction; "
            "the cron sends it after the commit)",
            f"{med['ours']:.1f} ms ({received['requests'].get('/ours', 0)} sent during the measure; "
            f"{'/'.join(map(str, result['deliveries_per_confirmation']))} delivery queued per confirmation)",
            "-",
            None,
        )
        saved = med["odoo"] - med["ours"]
        self.row(
            "9. our trigger vs Odoo's webhook on confirmation (9a − 9b; 9c: neither, same order shape)",
            f"ours {saved:.0f} ms faster ({saved / med['odoo'] * 100:.0f} % of 9a); 9c {med['neither']:.1f} ms",
            "ours < Odoo's",
            med["ours"] < med["odoo"] and calls == result["confirmations_per_kind"],
        )

    # -- 10. scaling ---------------------------------------------------------------------------------------------------
    def scale_cell(self, label, column, text):
        self.scale.setdefault(label, {})[column] = text

    def step_scale_lines(self):
        points = [1, 10, 100, 1000]
        result = self.action(
            "enqueue_scaling",
            {
                "mode": "lines",
                "url": self.url(),
                "points": points,
                "reps": {"1": 9, "10": 9, "100": 5, "1000": 2},
                # 1,000 lines: no warm-up of its own (~7 s per confirmation; the caches are warm by then)
                "warmup": {"1": 1, "10": 1, "100": 1, "1000": 0},
                "only_with": [1000],  # without trigger: another ~10 s per confirmation, for a noisy figure
            },
            timeout=PART_LIMITS["scale_lines"],
        )
        self.details["scale_lines"] = result
        for point in points:
            item = result["points"][str(point)]
            self.scale_cell(
                "10a. enqueue cost per confirmation vs order lines: inside postback.event._record (+flush), "
                "1 trigger; ms, SQL queries",
                point,
                f"{item['record_ms']:.2f} ms, {item['record_queries']:.0f} q",
            )
            self.scale_cell(
                "10a′. action_confirm median of those orders, with / without trigger (for scale; n)",
                point,
                f"{item['confirm_ms']:,.0f} / "
                + ("-" if item["confirm_without_ms"] is None else f"{item['confirm_without_ms']:,.0f}")
                + f" ms (n={item['n']})",
            )

    def step_scale_triggers(self):
        points = [1, 10, 100]
        result = self.action(
            "enqueue_scaling",
            {
                "mode": "triggers",
                "url": self.url(),
                "points": points,
                "reps": {"1": 9, "10": 7, "100": 5},
                "warmup": 1,
                "lines_per_order": 5,
            },
            timeout=PART_LIMITS["scale_triggers"],
        )
        self.details["scale_triggers"] = result
        for point in points:
            item = result["points"][str(point)]
            self.scale_cell(
                "10b. enqueue cost per confirmation vs matching triggers of the customer (5 lines): ms, SQL "
                "queries, deliveries queued",
                point,
                f"{item['record_ms']:.2f} ms, {item['record_queries']:.0f} q, "
                f"{'/'.join(map(str, item['deliveries_per_confirmation']))} d",
            )
        self.scale_cell(
            "10b. enqueue cost per confirmation vs matching triggers of the customer (5 lines): ms, SQL "
            "queries, deliveries queued",
            1000,
            "-",
        )

    def step_scale_endpoints(self):
        extra = max(ENDPOINT_POINTS) - 1
        proc, info = self.start_helper(
            "many_receiver", HERE / "fast_receiver.py", "--extra-ports", extra, "--hang-ports", 1, "--drip-ports", 0
        )
        ports = [info["port"], *info["extra_ports"]]
        results = {}
        try:
            for count in ENDPOINT_POINTS:
                urls = [f"http://127.0.0.1:{port}/hook" for port in ports[:count]]
                scenario = self.action(
                    "endpoint_scenario",
                    {
                        "urls": urls,
                        "total": ENDPOINT_TOTAL,
                        # the same shape at every point: 1,000 (trigger, order) sequences of 3 deliveries,
                        # so only the number of endpoints changes (per-order ordering holds each next one)
                        "events_per_order": ENDPOINT_CHAIN,
                        "customer": f"Bench Endpoints {count}",
                    },
                )
                self.log(f"queued {scenario['deliveries']} deliveries over {count} endpoints in {scenario['seconds']}s")
                self.receiver_stats(reset=True, port=info["port"])
                try:
                    result = self.run_worker(
                        f"endpoints_{count}",
                        scenario["trigger_ids"],
                        time_budget=120,
                        max_seconds=ENDPOINT_WINDOW,
                    )
                    error = None
                except (TimeoutError, RuntimeError) as exc:
                    result, error = None, str(exc)[:300]
                stats = self.receiver_stats(port=info["port"])
                self.cancel_pending(scenario["trigger_ids"])
                self.action("deactivate", {"trigger_ids": scenario["trigger_ids"]})
                results[count] = {
                    "worker": result,
                    "receiver": stats,
                    "deliveries": scenario["deliveries"],
                    "error": error,
                    "setup_s": scenario["seconds"],
                }
                label = (
                    f"10c. cron throughput vs distinct endpoints (host:port on 127.0.0.1; {ENDPOINT_TOTAL:,} "
                    f"deliveries in {ENDPOINT_TOTAL // ENDPOINT_CHAIN:,} (trigger, order) sequences of "
                    f"{ENDPOINT_CHAIN} at every point, batch 200, 1 runner)"
                )
                if result is None:
                    self.scale_cell(label, count, f"ERROR ({error[:80]})")
                    continue
                rate = result["sent"] / result["elapsed"] if result["elapsed"] else 0.0
                text = f"{rate:,.0f} /s"
                if result["timed_out"] or stats["unique"] < scenario["deliveries"]:
                    text += f" (timed out after {result['elapsed']:.0f} s: {stats['unique']:,} delivered)"
                elif stats["ports_hit"] != count:
                    text += f" ({stats['ports_hit']} ports hit)"
                self.scale_cell(label, count, text)
            self.scale_cell(label, 100, "-")
        finally:
            harness.stop_process(proc)
            self.details["scale_endpoints"] = results

    def step_claim(self):
        scenario = self.throughput_scenario
        trigger_id = scenario["trigger_id"]
        order_ids = scenario["order_ids"]
        started = time.monotonic()
        with contextlib.closing(self.setup.connect(self.db)) as conn, conn.cursor() as cr:
            cr.execute("SET session_replication_role = replica")  # skip FK triggers: the ids exist
            cr.execute(
                "INSERT INTO postback_delivery (webhook_id, event_id, trigger_id, order_id, event_type_id,"
                " partner_id, company_id, state, attempt_count, retry_count, last_status_code, next_attempt_at,"
                " last_attempt_at, delivered_at, create_uid, write_uid, create_date, write_date)"
                " SELECT 'msg_hist_' || g, d.event_id, d.trigger_id, d.order_id, d.event_type_id, d.partner_id,"
                " d.company_id, 'delivered', 1, 0, 200, ts, ts, ts, 1, 1, ts, ts"
                " FROM (SELECT * FROM postback_delivery WHERE trigger_id = %s ORDER BY id LIMIT 1) d,"
                " LATERAL (SELECT g, (now() AT TIME ZONE 'UTC') - make_interval(secs => g) AS ts"
                " FROM generate_series(1, %s) g) s",
                [trigger_id, HISTORY_ROWS],
            )
            # a few thousand due deliveries, spread over the trigger's orders (interleaved like a live queue)
            cr.execute(
                "INSERT INTO postback_delivery (webhook_id, event_id, trigger_id, order_id, event_type_id,"
                " partner_id, company_id, state, attempt_count, retry_count, next_attempt_at,"
                " create_uid, write_uid, create_date, write_date)"
                " SELECT 'msg_due_' || g, d.event_id, d.trigger_id, (%s::int[])[1 + g %% %s], d.event_type_id,"
                " d.partner_id, d.company_id, 'pending', 0, 0, (now() AT TIME ZONE 'UTC') - interval '1 minute',"
                " 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'"
                " FROM (SELECT * FROM postback_delivery WHERE trigger_id = %s ORDER BY id LIMIT 1) d,"
                " generate_series(1, %s) g",
                [order_ids, len(order_ids), trigger_id, PENDING_ROWS],
            )
            cr.execute("RESET session_replication_role")
            cr.execute("VACUUM ANALYZE postback_delivery")
        self.log(
            f"inserted {HISTORY_ROWS:,} delivered + {PENDING_ROWS:,} pending rows in {time.monotonic() - started:.1f}s"
        )
        result = self.action("claim_timing", {"runs": 20, "limit": 200})
        self.details["claim"] = result
        self.row(
            f"6. claim next batch of 200 ({result['rows']:,} rows, {result['pending']:,} pending), median",
            f"{result['median_ms']:.2f} ms (p90 {result['p90_ms']:.2f} ms)",
            "< 5 ms",
            result["median_ms"] < 5 and result["batch_sizes"] == [200],
        )
        self.row(
            "6b. claim query uses postback_delivery_due_idx (EXPLAIN)",
            "yes" if result["uses_due_index"] else "no (reads all pending rows, then sorts)",
            "yes",
            result["uses_due_index"],
        )
        # a backlog (e.g. after an outage of the runner): the cost must not grow with the number of pending rows
        with contextlib.closing(self.setup.connect(self.db)) as conn, conn.cursor() as cr:
            cr.execute("SET session_replication_role = replica")
            cr.execute(
                "INSERT INTO postback_delivery (webhook_id, event_id, trigger_id, order_id, event_type_id,"
                " partner_id, company_id, state, attempt_count, retry_count, next_attempt_at,"
                " create_uid, write_uid, create_date, write_date)"
                " SELECT 'msg_backlog_' || g, d.event_id, d.trigger_id, (%s::int[])[1 + g %% %s], d.event_type_id,"
                " d.partner_id, d.company_id, 'pending', 0, 0, (now() AT TIME ZONE 'UTC') - interval '1 minute',"
                " 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'"
                " FROM (SELECT * FROM postback_delivery WHERE trigger_id = %s ORDER BY id LIMIT 1) d,"
                " generate_series(1, %s) g",
                [order_ids, len(order_ids), trigger_id, BACKLOG_ROWS - PENDING_ROWS],
            )
            cr.execute("RESET session_replication_role")
            cr.execute("VACUUM ANALYZE postback_delivery")
        backlog = self.action("claim_timing", {"runs": 10, "limit": 200})
        self.details["claim_backlog"] = backlog
        self.row(
            f"6c. claim with a backlog of {backlog['pending']:,} pending rows, median",
            f"{backlog['median_ms']:.2f} ms (due index {'used' if backlog['uses_due_index'] else 'NOT used'}; "
            f"JIT compilation {backlog['jit_ms']:.0f} ms)",
            "(< 5 ms)",
            backlog["median_ms"] < 5 and backlog["uses_due_index"],
        )

    # -- run ----------------------------------------------------------------------------
    def selected_parts(self):
        tokens = [t.strip().lower() for t in self.args.only.split(",") if t.strip()]
        if not tokens:
            return [name for name, _number, _limit in PARTS]
        wanted = set()
        for token in tokens:
            if token not in SELECTORS:
                raise SystemExit(f"--only: unknown step {token!r} (known: {', '.join(SELECTORS)})")
            wanted.update(SELECTORS[token])
        if wanted & NEEDS_THROUGHPUT:
            wanted.add("throughput")  # their reference (and the claim step's queue)
        return [name for name, _number, _limit in PARTS if name in wanted]

    def run_part(self, part, step):
        limit = PART_LIMITS.get(part, 600)

        def alarm(_signum, _frame):
            raise PartTimeout(f"timed out after {limit} s")

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.alarm(limit)
        started = time.monotonic()
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - report it and go on with the other steps
            traceback.print_exc()
            text = str(exc) if isinstance(exc, PartTimeout) else f"ERROR: {type(exc).__name__}: {str(exc)[:200]}"
            self.row(f"{PART_NUMBERS.get(part, '?')}. {part}", text, "-", False)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            self.timings[part] = round(time.monotonic() - started, 1)
            self.log(f"step {part}: {self.timings[part]} s")

    def run(self):
        parts = self.selected_parts()
        try:
            self.setup = harness.detect()
        except harness.Unavailable as exc:
            sys.stderr.write(f"benchmark needs Odoo: {exc}\n")
            return 2
        self.versions = versions(self.setup)
        self.timings = {}
        reuse = self.args.reuse_db and self.setup.db_exists(self.db)
        if reuse:
            self.log(f"reusing database {self.db}")
        else:
            self.log(f"creating database {self.db}")
            self.setup.create_db(self.db, log=self.log)
        harness.quiet_other_crons(self.setup, self.db)
        try:
            self.start_receiver()
            steps = {
                "render": self.step_render,
                "enqueue": self.step_enqueue,
                "throughput": self.step_throughput,
                "latency": self.step_latency,
                "dead": self.step_dead_endpoint,
                "isolation_timeout": self.step_isolation_timeout,
                "isolation_drip": self.step_isolation_drip,
                "isolation_two": self.step_isolation_two,
                "kill": self.step_kill,
                "scale_lines": self.step_scale_lines,
                "scale_triggers": self.step_scale_triggers,
                "scale_endpoints": self.step_scale_endpoints,
                "webhook": self.step_webhook,
                "claim": self.step_claim,  # last: it leaves 1,000,000 history rows and a 100,000-row backlog
            }
            for part in parts:
                self.part = part
                self.log(f"step: {part}")
                self.run_part(part, steps[part])
        finally:
            harness.stop_process(self.receiver)
            if not (self.args.keep or self.args.reuse_db):
                self.log(f"dropping database {self.db}")
                self.setup.drop_db(self.db)
        self.details["step seconds"] = self.timings
        self.report()
        return 0 if all(row[4] != "**NO**" for row in self.rows) else 1

    def report(self):
        command = " ".join(["python bench/benchmark.py", *sys.argv[1:]])
        table = []
        if self.rows or not self.scale:
            table = ["| metric | measured | target | ok |", "|---|---|---|---|"]
            table += ["| %s | %s | %s | %s |" % row[1:] for row in sorted(self.rows, key=lambda row: row[0])]
        if self.scale:
            columns = [1, 10, 100, 1000]
            table += [
                "",
                "How it scales (same run; `-`: not measured):",
                "",
                "| scaling | 1 | 10 | 100 | 1,000 |",
                "|---|---|---|---|---|",
            ]
            table += [
                "| %s | %s |" % (label, " | ".join(cells.get(c, "-") for c in columns))
                for label, cells in self.scale.items()
            ]
        series = ".".join(str(self.versions["odoo"]).split(".")[:2]).split("-")[0]
        head = [
            f"# postback_connector benchmark — Odoo {series}",
            "",
            f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}; "
            f"load average at start {LOAD_AT_START}",
            f"- Python {self.versions['python']}, Odoo {self.versions['odoo']} (odoo.release.version of "
            f"{self.setup.odoo_src}), PostgreSQL {self.versions['postgres']}",
            f"- run time: {time.monotonic() - STARTED:.0f} s (`{command}`)",
            "",
        ]
        text = "\n".join([*head, *table, ""])
        print(text)
        extra = ["", "## Details", ""]
        for key, value in self.details.items():
            if isinstance(value, dict) and "plan" in value:
                shown = {k: v for k, v in value.items() if k != "plan"}
                extra += [f"### {key}", "", "```", json.dumps(shown, indent=1), "", value["plan"], "```", ""]
            elif key.startswith("profile"):
                extra += [f"### {key}", "", "```", value.strip(), "```", ""]
            else:
                extra += [f"### {key}", "", "```", json.dumps(value, indent=1), "```", ""]
        if not self.args.no_results:
            results = HERE / f"RESULTS-{series}.md"  # one file per Odoo version
            results.write_text(text + "\n".join(extra))
            self.log(f"wrote {results}")


def median_interval(values, level=0.90, resamples=2000, seed=7):
    """Bootstrap interval of the median of ``values`` (percentile method, fixed seed: reproducible)."""
    import random  # noqa: PLC0415 - only here

    values = list(values)
    if len(values) < 3:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - level) / 2
    return (medians[int(tail * resamples)], medians[min(resamples - 1, int((1 - tail) * resamples))])


def longest_gaps(times, count=5):
    gaps = sorted(((b - a, index + 1) for index, (a, b) in enumerate(itertools.pairwise(times))), reverse=True)
    return [{"seconds": round(gap, 3), "after_nth": nth} for gap, nth in gaps[:count]]


def versions(setup):
    python = subprocess.run(
        [setup.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True, check=False
    ).stdout.strip()
    try:  # release.py is plain assignments: run it alone, without importing the odoo package
        odoo = runpy.run_path(str(setup.odoo_src / "odoo" / "release.py"))["version"]
    except Exception:  # noqa: BLE001 - the header then says so
        odoo = "?"
    postgres = setup.query("postgres", "SHOW server_version")[0][0]
    return {"python": python, "odoo": odoo, "postgres": postgres}


STARTED = time.monotonic()
LOAD_AT_START = "%.2f %.2f %.2f" % os.getloadavg()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--db", default="postback_bench")
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the cron runs (in the results file; slows them)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated steps, by number or name: 1 render, 2 enqueue, 3 throughput, 4 latency, 5 dead, "
        "6 claim, 7 isolation (7a timeout, 7b drip, 7c both at once), 8 kill, 9 webhook, "
        "10 scaling (10a lines, 10b triggers, 10c endpoints); 5, 6 and 7 also run 3 (their reference)",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="use --db as it is when it exists (piecewise runs while developing; implies --keep)",
    )
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also measure the prototypes of bench/experiments.py (proposed addon changes)",
    )
    parser.add_argument("--isolation-pairs", type=int, default=ISOLATION_PAIRS,
                        help=f"paired runs per isolation row 7a/7b/7c (default {ISOLATION_PAIRS}; ~20 s each pair)")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS-<version>.md")
    parser.add_argument("--logdir", default="", help="default: /tmp/postback_bench_logs/<db>")
    args = parser.parse_args()
    sys.exit(Bench(args).run())


if __name__ == "__main__":
    main()
