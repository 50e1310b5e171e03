"""Fixtures of the end-to-end tests: one real database, real runner processes, real receivers.

The tests skip (with the reason) when no Odoo 18 tree, config file or base
database is available; see harness.py for the environment knobs.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

E2E_DB = os.environ.get("POSTBACK_E2E_DB", "postback_e2e")


@pytest.fixture(scope="session")
def odoo_setup():
    try:
        return harness.detect()
    except harness.Unavailable as exc:
        pytest.skip(f"end-to-end tests need Odoo: {exc}")


@pytest.fixture(scope="session")
def e2e_db(odoo_setup):
    """The database ``postback_e2e``: base database + the addon, private targets allowed; dropped at the end."""
    odoo_setup.create_db(E2E_DB, log=lambda msg: sys.stderr.write(msg + "\n"))
    try:
        yield E2E_DB
    finally:
        odoo_setup.drop_db(E2E_DB)


@pytest.fixture
def receivers():
    return harness.load_receivers()


@pytest.fixture
def logdir(tmp_path):
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def processes():
    """Child processes registered here are killed (whole process group) when the test ends."""
    started = []
    yield started
    for proc in started:
        harness.stop_process(proc, timeout=10)
