"""Render throughput of the engine on one core: render_mapping + render_to_bytes of the typical mapping.

    python bench/render_bench.py [--seconds 3] [--rounds 5] [--sample .../order_shipped.json]

Imports the engine without Odoo (an empty ``postback_connector`` package
whose ``__path__`` is the addon directory, as tests/conftest.py does) and
prints ``{"renders_per_s" (best round), "median_renders_per_s", "us_per_render", "bytes", ...}``.
"""

import argparse
import json
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ADDON = ROOT / "postback_connector"


def import_engine():
    if "postback_connector" not in sys.modules:
        package = types.ModuleType("postback_connector")
        package.__path__ = [str(ADDON)]
        package.__file__ = str(ADDON / "__init__.py")
        sys.modules["postback_connector"] = package
    from postback_connector.engine import render  # noqa: PLC0415

    return render


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="total measuring time")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", default=str(ADDON / "data" / "samples" / "order_shipped.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from mapping import TYPICAL_MAPPING  # noqa: PLC0415

    render = import_engine()
    # the lines exactly as the Odoo model hands them to the engine (a tuple of MappingLine)
    lines = tuple(
        render.MappingLine(output_path=out, source=src, default=default, value_type=vtype, fmt=None)
        for out, src, default, vtype in TYPICAL_MAPPING
    )
    with open(args.sample, encoding="utf-8") as handle:
        data = json.load(handle)
    body = render.render_to_bytes(render.render_mapping(lines, data))  # also warms the compile cache
    # Several rounds, best one reported (like timeit): other processes on the
    # machine can only slow a round down. Chunks keep clock reads rare.
    chunk, rates = 500, []
    for _round in range(args.rounds):
        count = 0
        started = time.perf_counter()
        deadline = started + args.seconds / args.rounds
        while time.perf_counter() < deadline:
            for _ in range(chunk):
                render.render_to_bytes(render.render_mapping(lines, data))
            count += chunk
        rates.append(count / (time.perf_counter() - started))
    best = max(rates)
    # the cost of each stage, to explain the total
    stages = {}
    tree_lines = render.normalize_lines(lines)

    def stage(name, fn, n=5000):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        stages[name] = (time.perf_counter() - t0) / n * 1e6

    from postback_connector.engine import _mapper, _values  # noqa: PLC0415

    doc = render.render_mapping(lines, data)
    tree, _uses = _mapper.compile_mapping(tree_lines)
    stage("ensure_plain(input)", lambda: _values.ensure_plain(data))
    stage("normalize+compile lookup", lambda: _mapper.compile_mapping(render.normalize_lines(lines)))
    stage("render tree", lambda: _mapper.render_node(tree, data, []))
    stage("render_to_bytes", lambda: render.render_to_bytes(doc))
    sys.stdout.write(
        json.dumps(
            {
                "rounds": [round(rate) for rate in rates],
                "renders_per_s": best,
                "median_renders_per_s": sorted(rates)[len(rates) // 2],
                "us_per_render": 1e6 / best,
                "bytes": len(body),
                "lines": len(lines),
                "stages_us": stages,
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
