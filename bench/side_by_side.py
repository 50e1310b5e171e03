"""One table from the benchmark runs of several Odoo versions, a column per version.

    python bench/side_by_side.py [bench/RESULTS-18.0.md bench/RESULTS-19.0.md]

Reads the Markdown tables that bench/benchmark.py writes (one file per Odoo
version), matches the rows by their number ("3.", "7a.", "10b."), and prints
``| metric | Odoo 18.0 | Odoo 19.0 | target | ok |`` then the scaling table the
same way. The metric text is the first file's; each run's own header (date,
machine, run time) is listed above the table.
"""

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROW = re.compile(r"^\| (?P<label>(?P<key>\d+[a-z]?′?)\. .*?) \| (?P<rest>.*) \|$")


def parse(path):
    """(version, header lines, {key: (label, cells)}, [keys in order], {scale key: ...}, [scale keys])."""
    text = Path(path).read_text()
    version = re.search(r"^# postback_connector benchmark — Odoo (\S+)", text, re.MULTILINE)
    header = [line for line in text.splitlines()[:8] if line.startswith("- ")]
    rows, order, scale, scale_order = {}, [], {}, []
    in_scale = False
    for line in text.split("\n## Details")[0].splitlines():
        if line.startswith("| scaling |"):
            in_scale = True
        match = ROW.match(line)
        if not match:
            continue
        cells = [cell.strip() for cell in match["rest"].split(" | ")]
        target, book = (rows, order) if not in_scale else (scale, scale_order)
        target[match["key"]] = (match["label"], cells)
        book.append(match["key"])
    return (version[1] if version else Path(path).stem), header, rows, order, scale, scale_order


def main(paths):
    runs = [parse(path) for path in paths]
    versions = [run[0] for run in runs]
    out = []
    for version, header, *_rest in runs:
        out.append(f"Odoo {version}:")
        out.extend(f"  {line}" for line in header)
    out += ["", "| metric | " + " | ".join(f"Odoo {v}" for v in versions) + " | target | ok |",
            "|---|" + "---|" * len(versions) + "---|---|"]
    first = runs[0]
    keys = first[3] + [key for run in runs[1:] for key in run[3] if key not in first[3]]
    for key in keys:
        # the fullest label and a real target (a run whose step failed prints only its name)
        label = max((run[2][key][0] for run in runs if key in run[2]), key=len)
        measured = [run[2][key][1][0] if key in run[2] else "-" for run in runs]
        targets = [run[2][key][1][1] for run in runs if key in run[2]]
        target = next((t for t in targets if t != "-"), targets[0])
        oks = [run[2][key][1][2] if key in run[2] else "-" for run in runs]
        ok = oks[0] if len(set(oks)) == 1 else " / ".join(oks)
        out.append(f"| {label} | " + " | ".join(measured) + f" | {target} | {ok} |")
    scale_keys = first[5] + [key for run in runs[1:] for key in run[5] if key not in first[5]]
    if scale_keys:
        out += ["", "| scaling | points | " + " | ".join(f"Odoo {v}" for v in versions) + " |",
                "|---|---|" + "---|" * len(versions)]
        points = ["1", "10", "100", "1,000"]
        for key in scale_keys:
            label = next(run[4][key][0] for run in runs if key in run[4])
            for index, point in enumerate(points):
                values = [run[4][key][1][index] if key in run[4] and index < len(run[4][key][1]) else "-"
                          for run in runs]
                if all(value == "-" for value in values):
                    continue
                out.append(f"| {label if index == 0 else '〃'} | {point} | " + " | ".join(values) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1:] or [HERE / "RESULTS-18.0.md", HERE / "RESULTS-19.0.md"])
