"""``python -m suite calibrate``: the claim tests' error rates and power on simulated results."""

from __future__ import annotations

import sys
import time

from suite.calibration import calibrate, table_text, write
from suite.calibration.scenarios import SCENARIOS
from suite.calibration.synth import PROFILES
from suite.cli.parsers import whole_number
from suite.errors import Parser, error_line
from suite.io import check_out_folder, check_targets
from suite.number_arguments import ascii_integer
from suite.path_arguments import non_empty_folder

MAX_SIMULATIONS = 100_000  # per claim and case: the quick table takes 100 in minutes


def main(argv: list[str] | None = None) -> int:
    parser = Parser(
        prog="python -m suite calibrate",
        description="Simulate results under each claim's null and under the paper's effect, "
        "decide them with the real claim code, and report per claim the rate of 'reproduced' "
        "and of 'not reproduced' under the null and the power (overall; per family in brackets).",
    )
    parser.add_argument(
        "--profiles", nargs="+", default=["quick"], choices=sorted(PROFILES),
        help="the profiles whose sizes are simulated (default: quick)",
    )  # fmt: skip
    parser.add_argument(
        "--n-sim", type=whole_number(1, MAX_SIMULATIONS), default=100,
        help="simulations per claim and case (default: 100)",
    )  # fmt: skip
    parser.add_argument(
        "--claims", nargs="+", type=ascii_integer, choices=sorted(SCENARIOS), metavar="N",
        help=f"only these claims ({', '.join(map(str, sorted(SCENARIOS)))}; default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=non_empty_folder, help="write DIR/calibration.json and calibration.md"
    )
    args = parser.parse_args(argv)
    if args.out is not None:
        try:  # before the simulation, not after it
            check_out_folder(args.out)
            check_targets([args.out / "calibration.json", args.out / "calibration.md"])
        except ValueError as err:
            print(error_line(err), file=sys.stderr)
            return 2
    start = time.perf_counter()
    profiles = tuple(dict.fromkeys(args.profiles))  # each once, as the table states them
    claims = list(dict.fromkeys(args.claims)) if args.claims else args.claims
    result = calibrate(profiles, args.n_sim, claims)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["command"] = "python -m suite calibrate " + " ".join(argv or sys.argv[1:])
    print(table_text(result))
    if args.out is not None:
        print(f"written: {write(result, args.out)}")
    return 0
