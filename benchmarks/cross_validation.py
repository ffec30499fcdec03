"""Largest differences between the power-grid-model backend and runpp_3ph on every feeder.

Usage: python benchmarks/cross_validation.py [--cases N]
Random single-phase injections (-6..4 kW per household, reactive load up to
1 kvar, a fifth of households with an extra three-phase load up to 11 kW).
"""

import argparse

import numpy as np

from lemgrid.grid import FEEDERS, PandapowerSolver, PowerGridModelSolver, load_feeder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10)
    args = parser.parse_args(argv)
    header = ["max |dV| p.u.", "max |d angle| deg", "max |d loading| %", "max |d losses| %"]  # angle vs slack
    print(f"{'feeder':<22} " + " ".join(f"{h:>18}" for h in header))
    for name in FEEDERS:
        feeder = load_feeder(name)
        n = len(feeder.households)
        phase = feeder.households.phase.map({"a": 0, "b": 1, "c": 2}).to_numpy()
        rng = np.random.default_rng(7)
        ref, fast = PandapowerSolver(feeder), PowerGridModelSolver(feeder)
        dv = da = dl = dloss = 0.0
        for _ in range(args.cases):
            p = np.zeros((n, 3))
            q = np.zeros((n, 3))
            p[np.arange(n), phase] = rng.uniform(-6.0, 4.0, n)
            q[np.arange(n), phase] = -rng.uniform(0.0, 1.0, n)
            three = rng.random(n) < 0.2
            p[three] += rng.uniform(-11.0, 0.0, (int(three.sum()), 1)) / 3
            a, b = ref.solve(p, q), fast.solve(p, q)
            dv = max(dv, float(np.abs(a.vm_pu - b.vm_pu).max()))
            rel = (a.va_degree - a.va_degree[0, 0]) - (b.va_degree - b.va_degree[0, 0])  # vs the slack
            da = max(da, float(np.abs(rel).max()))
            dl = max(dl, float(np.abs(a.line_loading_percent - b.line_loading_percent).max()))
            dloss = max(dloss, abs(a.losses_kw - b.losses_kw) / a.losses_kw * 100)
        print(f"{name:<22} {dv:>18.1e} {da:>18.1e} {dl:>18.1e} {dloss:>18.3f}")


if __name__ == "__main__":
    main()
