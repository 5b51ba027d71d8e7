"""`make chaos`: the full chaos run (`python -m tests.chaos [--small]`); exits 1 when an invariant fails."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from tests.chaos.run import FULL, SMALL, main

parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
parser.add_argument("--small", action="store_true", help="the small run `make test` makes")
parser.add_argument("--seed", type=int, help="the random seed of the stories and faults")
parser.add_argument("--settle-timeout", type=float, help="seconds to wait for the retries to settle")
parser.add_argument("--bookings", type=int, help="how many bookings (a medium run: 300)")
parser.add_argument("--creators", type=int, help="across how many creators (a medium run: 20)")
parser.add_argument("--kills", type=int, help="how many times a worker is killed")
args = parser.parse_args()
config = SMALL if args.small else FULL
given = {name: getattr(args, name) for name in ("seed", "settle_timeout", "bookings", "creators", "kills")}
config = dataclasses.replace(config, **{name: value for name, value in given.items() if value is not None})
sys.exit(main(config))
