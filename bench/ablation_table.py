"""The AMGAN ablations in the paper's form (its Table 3), from an ``eval compare`` folder's reports.json.

    python bench/ablation_table.py WORKDIR/compare-s50/reports.json

The paper removes one part at a time, each row keeping the removals above it: D_C, then L_p, then L_a; and
separately uses the CAM itself as the mask. It reports the attribute-manipulation accuracy and the drop of
each row from the row above (from full AMGAN for the CAM row). This prints the same for our runs, under every
evaluator of the comparison, next to the paper's drops (DeepFashion-Synthesis / Shopping100k), plus the edit
gain (share of edits closer to the exact truth) that the paper could not measure. The rows are found by the
labels `bench/edit_comparison.sh` gives them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# (label in the comparison, the row it is compared with, the paper's drop: DeepFashion-Synthesis, Shopping100k)
CHAIN = [
    ("AMGAN", None, None),
    ("AMGAN w/o D_C", "AMGAN", (5.43, 6.34)),
    ("AMGAN w/o D_C, L_p", "AMGAN w/o D_C", (4.21, 7.68)),
    ("AMGAN w/o D_C, L_p, L_a", "AMGAN w/o D_C, L_p", (2.50, 9.97)),
    ("AMGAN, CAM as mask", "AMGAN", (6.97, 9.34)),
]


def ablation_table(reports: list[dict]) -> str:
    """Markdown: per ablation row, manipulation (mean, %) under each evaluator and its drop from the row it is
    compared with, the paper's drops, and the edit gain's "closer" share."""
    by_name = {r["name"]: r for r in reports}
    missing = [name for name, _, _ in CHAIN if name not in by_name]
    if missing:
        raise SystemExit(f"reports.json has no row named {', '.join(missing)} (rows: {', '.join(by_name)})")
    evaluators = list(by_name["AMGAN"]["by_evaluator"])
    head = ["row"]
    for e in evaluators:
        short = e.removeprefix("asset:")
        head += [f"manipulation ({short})", "drop"]
    head += ["paper's drop (DeepFashion-Synthesis / Shopping100k)", "closer to the truth"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def manipulation(name: str, evaluator: str) -> float:
        return 100 * by_name[name]["by_evaluator"][evaluator]["manipulation"]["mean"]

    for name, reference, paper in CHAIN:
        row = [name]
        for e in evaluators:
            m = manipulation(name, e)
            row += [f"{m:.1f}", "-" if reference is None else f"{manipulation(reference, e) - m:+.1f}"]
        row.append("-" if paper is None else f"{paper[0]:+.2f} / {paper[1]:+.2f}")
        closer = (by_name[name].get("gt") or {}).get("closer", {}).get("mean")
        row.append("-" if closer is None else f"{100 * closer:.1f}%")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", type=Path, help="reports.json of `fashionlab eval compare`")
    args = ap.parse_args()
    if not args.reports.is_file():
        sys.exit(f"{args.reports}: no such file (the reports.json that `fashionlab eval compare --out DIR` writes)")
    print(ablation_table(json.loads(args.reports.read_text())))
    print("\nA drop is the row it is compared with minus this row, in points (positive: the removal costs).")


if __name__ == "__main__":
    main()
