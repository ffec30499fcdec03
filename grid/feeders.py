"""Ready-made low-voltage feeders, each a pandapower net plus its households.

A :class:`Feeder` is read-only data: solvers copy the net before they change it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pandapower as pp
import pandapower.networks as pn
import pandas as pd

PHASES = ("a", "b", "c")


@dataclass(frozen=True)
class Feeder:
    """A three-phase LV feeder and where its households connect.

    Attributes:
        name: registry name of the feeder.
        net: pandapower net without household loads (solvers add their own).
        households: one row per household connection point, in a fixed order,
            with columns ``household`` (name), ``bus`` (pandapower bus index)
            and ``phase`` (``'a'``, ``'b'`` or ``'c'``).

    """

    name: str
    net: pp.pandapowerNet
    households: pd.DataFrame

    @property
    def lv_buses(self) -> pd.Index:
        """Buses of the low-voltage feeder (below 1 kV), where limits apply."""
        return self.net.bus.index[self.net.bus.vn_kv < 1.0]


def _ieee_european_lv() -> Feeder:
    """IEEE European LV test feeder (906 LV buses, 55 single-phase loads).

    Source: IEEE PES Distribution Test Feeders, "European Low Voltage Test
    Feeder" (2015), as converted by pandapower
    (``networks.ieee_european_lv_asymmetric``). The household phases are the
    ones the original data gives (21 on a, 19 on b, 15 on c).
    """
    net = pn.ieee_european_lv_asymmetric("on_peak_566")
    loads = net.asymmetric_load
    p = loads[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy()
    if not ((p > 0).sum(axis=1) == 1).all():
        raise RuntimeError("IEEE European LV data changed: each load must sit on exactly one phase")
    households = pd.DataFrame(
        {
            "household": loads["name"].to_numpy(),
            "bus": loads["bus"].to_numpy(),
            "phase": [PHASES[i] for i in p.argmax(axis=1)],
        }
    )
    net.asymmetric_load = net.asymmetric_load.iloc[0:0]
    # The converted data predates pandapower 3's tap-dependency column; without it every
    # power flow warns. Its transformer has no tap-dependent impedance.
    net.trafo["tap_dependency_table"] = False
    # pandapower's conversion gives the Dyn transformer a zero-sequence magnetising impedance
    # equal to its short-circuit impedance (mag0_percent=100, 90 % of the leakage on the HV
    # side). With the delta closed, that lowers the zero-sequence impedance seen from the LV
    # side to about 57 % of the short-circuit impedance. The original OpenDSS model and
    # power-grid-model take it equal to the short-circuit impedance: an open magnetising
    # branch does the same here. Measured effect: backends differed by up to 7.9e-4 p.u.
    # before, 2.3e-6 p.u. after (see README, "Solvers").
    net.trafo["mag0_percent"] = 1e8
    for table in ("res_asymmetric_load", "res_asymmetric_load_3ph"):
        if table in net:
            net[table] = net[table].iloc[0:0]
    return Feeder(name="ieee_european_lv", net=net, households=households)


FEEDERS: dict[str, Callable[[], Feeder]] = {
    "ieee_european_lv": _ieee_european_lv,
}


@cache
def load_feeder(name: str) -> Feeder:
    """Return the feeder registered under ``name`` (built once per process).

    Raises:
        ValueError: if no feeder has that name.

    """
    if name not in FEEDERS:
        raise ValueError(f"feeder {name!r} does not exist; available: {sorted(FEEDERS)}")
    return FEEDERS[name]()
