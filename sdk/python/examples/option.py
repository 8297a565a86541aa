"""Prices a European call by Monte Carlo on ALPCRUN.CH workers written in
Python with numpy, next to its Black-Scholes price.

    option.py worker [--processes N]     run a worker (numpy in N processes)
    option.py client [--tasks N --paths P]

The option's terms go to every worker once, as the session's shared data;
each task is a random seed and a path count, and its result the sum and
sum of squares of the discounted payoffs, so the client can give the price
with its standard error. Needs the queue manager, the central cache and a
node cache (go run ./cmd/alpcrun up --workers 0 runs them all).
"""

import argparse
import json
import math
import sys
import time

import numpy as np

import alpcrun
import alpcrun.worker


def price_paths(task: alpcrun.worker.Task):
    """One task: `paths` terminal prices under geometric Brownian motion."""
    o = task.shared_data
    rng = np.random.default_rng(task.payload["seed"])
    z = rng.standard_normal(task.payload["paths"])
    st = o["spot"] * np.exp((o["rate"] - 0.5 * o["vol"] ** 2) * o["years"] + o["vol"] * math.sqrt(o["years"]) * z)
    pay = math.exp(-o["rate"] * o["years"]) * np.maximum(st - o["strike"], 0.0)
    return {"n": len(pay), "sum": float(pay.sum()), "sq": float((pay * pay).sum())}


def black_scholes(spot, strike, rate, vol, years):
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol ** 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    return spot * cdf(d1) - strike * math.exp(-rate * years) * cdf(d2)


def client(args):
    terms = dict(spot=100.0, strike=105.0, rate=0.03, vol=0.2, years=1.0)
    with alpcrun.Client() as c, alpcrun.SharedData() as sd, \
            c.session("option-py", codec=alpcrun.Json(), shared_data_level=1) as s:
        sd.set(s.id, 1, json.dumps(terms).encode(), ttl=600)
        start = time.monotonic()
        n = total = sq = 0.0
        tasks = ({"seed": i, "paths": args.paths} for i in range(args.tasks))
        for r in alpcrun.track(s.map(tasks), args.tasks):
            n, total, sq = n + r.payload["n"], total + r.payload["sum"], sq + r.payload["sq"]
        elapsed = time.monotonic() - start
        failed = s.dead_letters()
    mean = total / n
    stderr = math.sqrt(max(sq / n - mean * mean, 0.0) / n)
    bs = black_scholes(**terms)
    print(f"{args.tasks} tasks, {int(n):,} paths in {elapsed:.2f}s, {len(failed)} failed")
    print(f"Monte Carlo {mean:.4f} ± {stderr:.4f}   Black-Scholes {bs:.4f}   ({(mean - bs) / stderr:+.1f} σ)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="role", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--processes", type=int, default=0, help="run the handler in N processes (0: threads)")
    c = sub.add_parser("client")
    c.add_argument("--tasks", type=int, default=200)
    c.add_argument("--paths", type=int, default=100_000, help="paths per task")
    args = ap.parse_args()
    if args.role == "client":
        client(args)
        return
    print("worker: serving; Ctrl-C stops", file=sys.stderr)
    alpcrun.worker.run(price_paths, codec=alpcrun.Json(), shared_decoder=json.loads,
                       processes=args.processes > 0, concurrency=args.processes or None)


if __name__ == "__main__":
    main()
