"""A delivery runner process: calls the cron method in a loop until the queue is empty.

    python odoo_worker.py --db DB [--name A] [--batch-size N] [--time-budget S]
                          [--max-seconds T] [--trigger-ids 1,2] [--go-file F] [--call-log 1]
                          [--trigger-ids-file F]

Each call is ``env['postback.delivery']._cron_send_due_deliveries(...)`` on a
fresh cursor, exactly what the Odoo cron runs (it commits after every
batch). The loop ends when no delivery of the given triggers (all triggers
when omitted) is pending any more, or after ``--max-seconds``. An empty
claim does not end the loop: another runner may hold the rows (or the head
of an order's sequence), so the worker waits a little and claims again.

The last stdout line is a JSON summary: ``{"name", "sent", "calls",
"elapsed", "pending", "timed_out"}`` where ``sent`` counts the deliveries
this process handled. With ``--call-log 1`` every call also prints a line
``{"event": "call", "name", "started", "duration", "done"}`` (wall-clock
start, seconds) as soon as it returns, so a test can check that no call ran
past its time budget even when the process is killed later. With
``--trigger-ids-file F`` the trigger ids are read from ``F`` (comma
separated) once the go file exists, so a runner can load its registry while
the test is still creating the triggers.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import odoo_boot

IDLE_SLEEP = 0.05
GO_TIMEOUT = 120


def pending_count(env, trigger_ids):
    if trigger_ids:
        env.cr.execute(
            "SELECT count(*) FROM postback_delivery WHERE state = 'pending' AND trigger_id = ANY(%s)",
            [trigger_ids],
        )
    else:
        env.cr.execute("SELECT count(*) FROM postback_delivery WHERE state = 'pending'")
    return env.cr.fetchone()[0]


def apply_patch(spec):
    """Load FILE.py and call one of its functions (benchmark experiments: monkeypatches)."""
    import importlib.util  # noqa: PLC0415

    path, _, function = spec.rpartition(":")
    module_spec = importlib.util.spec_from_file_location("_worker_patch_%s" % function, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    getattr(module, function)()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--name", default="worker")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--time-budget", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--trigger-ids", default="")
    parser.add_argument("--log-level", default="warn")
    parser.add_argument("--go-file", default="", help="after loading, wait until this file exists (start barrier)")
    parser.add_argument("--patch", default="", help="FILE.py:function[,FILE.py:function]: apply experiments first")
    parser.add_argument("--profile", default="", help="write a cProfile dump of the sending loop here")
    parser.add_argument("--call-log", type=int, default=0, help="1: print a JSON line per cron call (its duration)")
    parser.add_argument("--trigger-ids-file", default="", help="read --trigger-ids from this file after the go file")
    args = parser.parse_args(argv)
    trigger_ids = [int(x) for x in args.trigger_ids.split(",") if x.strip()]

    odoo, registry = odoo_boot.load_registry(args.db, args.log_level)
    for patch in filter(None, args.patch.split(",")):
        apply_patch(patch)
    profiler = None
    if args.profile:
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()
    sent = calls = 0
    pending = None
    timed_out = False
    first_sent_at = last_sent_at = None
    print(json.dumps({"event": "ready", "name": args.name, "pid": os.getpid()}), flush=True)
    if args.go_file:
        deadline = time.monotonic() + GO_TIMEOUT
        while not os.path.exists(args.go_file) and time.monotonic() < deadline:
            time.sleep(0.01)
    if args.trigger_ids_file:
        with open(args.trigger_ids_file) as ids_file:
            trigger_ids = [int(x) for x in ids_file.read().split(",") if x.strip()]
    started = time.monotonic()
    while True:
        with odoo_boot.environment(odoo, registry) as env:
            if profiler:
                profiler.enable()
            call_started = time.monotonic()
            call_wall = time.time()
            done = env["postback.delivery"]._cron_send_due_deliveries(
                batch_size=args.batch_size, time_budget=args.time_budget
            )
            if profiler:
                profiler.disable()
        calls += 1
        if args.call_log:
            duration = round(time.monotonic() - call_started, 3)
            call = {"event": "call", "name": args.name, "started": call_wall, "duration": duration, "done": done}
            print(json.dumps(call), flush=True)
        if done:
            sent += done
            first_sent_at = first_sent_at or call_started
            last_sent_at = time.monotonic()
            print(json.dumps({"event": "progress", "name": args.name, "sent": sent}), flush=True)
        with odoo_boot.environment(odoo, registry) as env:
            pending = pending_count(env, trigger_ids)
        if not pending:
            break
        if time.monotonic() - started > args.max_seconds:
            timed_out = True
            break
        if not done:
            time.sleep(IDLE_SLEEP)
    if profiler:
        profiler.dump_stats(args.profile)
    summary = {
        "event": "done",
        "name": args.name,
        "sent": sent,
        "calls": calls,
        "elapsed": round(time.monotonic() - started, 3),
        # from the start of the first call that sent something to the end of the last one
        "busy": round((last_sent_at - first_sent_at) if first_sent_at else 0.0, 3),
        "pending": pending,
        "timed_out": timed_out,
    }
    print(json.dumps(summary), flush=True)
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
