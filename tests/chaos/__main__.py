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
args = parser.parse_args()
config = SMALL if args.small else FULL
if args.seed is not None:
    config = dataclasses.replace(config, seed=args.seed)
if args.settle_timeout is not None:
    config = dataclasses.replace(config, settle_timeout=args.settle_timeout)
sys.exit(main(config))
