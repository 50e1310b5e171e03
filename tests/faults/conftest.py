"""Fixtures of the fault-injection tests: their own database, a hostile receiver process, runner processes.

Like tests/e2e they skip (with the reason) when no Odoo 18 tree, config file
or base database is available; see tests/e2e/harness.py for the knobs. The
database is ``postback_faults`` (``POSTBACK_FAULTS_DB``), dropped at the end
(kept for a look when ``POSTBACK_FAULTS_KEEP_DB=1``).
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import faultlib
import harness

FAULTS_DB = os.environ.get("POSTBACK_FAULTS_DB", "postback_faults")


@pytest.fixture(scope="session")
def odoo_setup():
    try:
        return harness.detect()
    except harness.Unavailable as exc:
        pytest.skip(f"fault-injection tests need Odoo: {exc}")


@pytest.fixture(scope="session")
def faults_db(odoo_setup):
    """Base database + the addon, private targets allowed; dropped at the end."""
    odoo_setup.create_db(FAULTS_DB, log=lambda msg: sys.stderr.write(msg + "\n"))
    try:
        yield FAULTS_DB
    finally:
        if os.environ.get("POSTBACK_FAULTS_KEEP_DB") != "1":
            odoo_setup.drop_db(FAULTS_DB)


@pytest.fixture
def hostile(tmp_path):
    """A hostile receiver process (one port per behaviour) of its own for each test: fresh ports, so what
    the runner remembers about an endpoint (a cool-down after a timeout) never leaks into the next test."""
    receiver = faultlib.HostileReceiver(tmp_path, healthy=4, slow=4, slow_delay=0.1, hold=30)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def faults(odoo_setup, faults_db, hostile, tmp_path):
    """Everything a fault-injection test works with, in one object. At the end its runner processes are
    killed (whole process group) and its triggers disabled with their pending rows held, so a test's
    leftovers (retries of hostile endpoints) never reach the next test's runners."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    ctx = faultlib.Context(odoo_setup, faults_db, hostile, logdir, processes=[], retire_after=[])
    try:
        yield ctx
    finally:
        try:
            for runner in ctx.processes:
                harness.stop_process(runner.proc, timeout=10)
        finally:
            faultlib.retire(odoo_setup, faults_db, ctx.retire_after)
