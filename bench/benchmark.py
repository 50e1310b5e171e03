"""postback_connector benchmark: six measurements side by side in one run.

    python bench/benchmark.py [--keep] [--db postback_bench] [--deliveries 5000] [--profile] [--experiments]

Sets up its own database (a copy of $POSTBACK_TEST_BASE_DB, default
postback_test_base, + the addon; dropped at the end unless --keep), a fast
asyncio receiver in a separate process (bench/fast_receiver.py), and
measures:

1. render throughput of a typical 20-line mapping on one core (engine only);
2. the enqueue overhead on order confirmation (customer with a trigger vs
   without);
3. the cron delivery throughput vs a bare keep-alive requests loop;
4. the idle-queue latency from the confirmation commit to the receiver,
   through a real Odoo server with one cron thread;
5. the healthy throughput while one endpoint always times out;
6. the time to claim the next batch with 1,000,000 rows in the table.

Prints a Markdown table (metric | measured | target | ok) and writes it to
bench/RESULTS.md with the date, the machine and the versions. Uses the
same environment knobs as the e2e tests (tests/e2e/harness.py).
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
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
        cache = Path(os.environ.get("POSTBACK_CACHE", Path.home() / ".cache" / "postback_connector"))
        venv_python = Path(os.environ.get("POSTBACK_VENV", cache / "venv")) / "bin" / "python"
        if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
            os.execv(str(venv_python), [str(venv_python), *sys.argv])


_reexec_in_venv()

import harness  # noqa: E402
from mapping import TYPICAL_MAPPING  # noqa: E402

BENCH_ACTIONS = HERE / "bench_actions.py"
HISTORY_ROWS = 1_000_000
PENDING_ROWS = 3_000
BACKLOG_ROWS = 100_000
DEAD_WINDOW = 40  # seconds the dead-endpoint runs may take at most


class Bench:
    def __init__(self, args):
        self.args = args
        self.db = args.db
        self.setup = None
        self.rows = []  # (metric, measured, target, ok)
        self.notes = []
        self.details = {}
        self.receiver = None
        self.ports = None
        self.logdir = Path(args.logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.throughput = None
        self.throughput_scenario = None

    # -- helpers -----------------------------------------------------------------
    def log(self, message):
        sys.stderr.write("[bench %6.1fs] %s\n" % (time.monotonic() - STARTED, message))
        sys.stderr.flush()

    def row(self, metric, measured, target, ok):
        self.rows.append((metric, measured, target, "n/a" if ok is None else ("yes" if ok else "**NO**")))

    def action(self, name, spec=None, timeout=600):
        return self.setup.run_action(self.db, name, spec, timeout=timeout, script=BENCH_ACTIONS)

    def url(self, path="/hook", hang=False):
        return "http://127.0.0.1:%s%s" % (self.ports["hang_port" if hang else "port"], path)

    def receiver_stats(self, reset=False):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url("/__reset" if reset else "/__stats"), timeout=10) as response:
            return json.loads(response.read())

    def start_receiver(self):
        out = self.logdir / "fast_receiver.out"
        with open(out, "w") as handle:
            self.receiver = subprocess.Popen(
                [self.setup.python, str(HERE / "fast_receiver.py")],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.setup.child_env(),
                start_new_session=True,
            )
        assert harness.wait_until(lambda: out.read_text().strip() or self.receiver.poll() is not None, 20)
        self.ports = harness.last_json(out.read_text())
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
        result = self.action("enqueue_overhead", {"url": self.url(), "n": 40, "warmup": 5, "lines_per_order": 5})
        self.details["enqueue"] = result
        assert result["deliveries_per_confirmation"] == [1], result
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
        self.row("3c. cron throughput / bare loop", f"{ratio:.1f} %", "≥ 50 %", ratio >= 50)
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

    def dead_endpoint_run(self, label, dead_orders, dead_events_per_order, patch=None, total=None):
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
                        "url": self.url(hang=True),
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
        rate, loss, result, healthy, dead = self.dead_endpoint_run("burst", self.args.deliveries // 10, 1)
        self.row(
            f"5b. same, first {healthy['deliveries'] + dead['deliveries']:,} deliveries only (burst: includes the "
            "one 1 s timeout before the host cools down)",
            f"{rate:,.0f} /s, loss {loss:.0f} % ({result['elapsed']:.1f} s{', window' if result['timed_out'] else ''})",
            "(< 10 %)",
            None,
        )

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
    def run(self):
        try:
            self.setup = harness.detect()
        except harness.Unavailable as exc:
            sys.stderr.write(f"benchmark needs Odoo: {exc}\n")
            return 2
        self.versions = versions(self.setup)
        self.log(f"creating database {self.db}")
        self.setup.create_db(self.db, log=self.log)
        harness.quiet_other_crons(self.setup, self.db)
        try:
            self.start_receiver()
            for name, step in (
                ("render", self.step_render),
                ("enqueue", self.step_enqueue),
                ("throughput", self.step_throughput),
                ("latency", self.step_latency),
                ("dead endpoint", self.step_dead_endpoint),
                ("claim", self.step_claim),
            ):
                only = set(filter(None, self.args.only.split(",")))
                if only and name.split()[0] not in only:
                    # the dead-endpoint and claim steps need the queue and the rate of the throughput step
                    if not (name == "throughput" and only & {"dead", "claim"}):
                        continue
                self.log(f"step: {name}")
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - report it and go on with the other steps
                    traceback.print_exc()
                    self.row(f"{name}", f"ERROR: {type(exc).__name__}: {str(exc)[:200]}", "-", False)
        finally:
            harness.stop_process(self.receiver)
            if not self.args.keep:
                self.log(f"dropping database {self.db}")
                self.setup.drop_db(self.db)
        self.report()
        return 0 if all(row[3] != "**NO**" for row in self.rows) else 1

    def report(self):
        command = " ".join(["python bench/benchmark.py", *sys.argv[1:]])
        table = ["| metric | measured | target | ok |", "|---|---|---|---|"]
        table += ["| %s | %s | %s | %s |" % row for row in self.rows]
        head = [
            "# postback_connector benchmark",
            "",
            f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"- machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} {platform.release()}; "
            f"load average at start {LOAD_AT_START}",
            f"- Python {self.versions['python']}, Odoo {self.versions['odoo']}, PostgreSQL {self.versions['postgres']}",
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
            (HERE / "RESULTS.md").write_text(text + "\n".join(extra))
            self.log(f"wrote {HERE / 'RESULTS.md'}")


def versions(setup):
    python = subprocess.run(
        [setup.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True, check=False
    ).stdout.strip()
    release = (setup.odoo_src / "odoo" / "release.py").read_text()
    match = re.search(r"version_info\s*=\s*\(([^)]*)\)", release)
    odoo = ".".join(p.strip().strip("'\"") for p in match.group(1).split(",")[:3]) if match else "?"
    postgres = setup.query("postgres", "SHOW server_version")[0][0]
    return {"python": python, "odoo": odoo, "postgres": postgres}


STARTED = time.monotonic()
LOAD_AT_START = "%.2f %.2f %.2f" % os.getloadavg()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    parser.add_argument("--db", default="postback_bench")
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="cProfile the cron runs (in RESULTS.md; slows them)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated steps: render,enqueue,throughput,latency,dead,claim (dead and claim also run throughput)",
    )
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also measure the prototypes of bench/experiments.py (proposed addon changes)",
    )
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--logdir", default="/tmp/postback_bench_logs")
    args = parser.parse_args()
    sys.exit(Bench(args).run())


if __name__ == "__main__":
    main()
