"""`make chaos`: the full chaos run (`python -m tests.chaos [--small]`); exits 1 when an invariant fails."""

from __future__ import annotations

import argparse
import sys

from tests.chaos.run import FULL, SMALL, main

parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
parser.add_argument("--small", action="store_true", help="the small run `make test` makes")
parser.add_argument("--seed", type=int, help="the random seed of the stories and faults")
args = parser.parse_args()
config = SMALL if args.small else FULL
if args.seed is not None:
    import dataclasses

    config = dataclasses.replace(config, seed=args.seed)
sys.exit(main(config))
