"""Ready-made low-voltage feeders, each a pandapower net plus its households.

A :class:`Feeder` is read-only data: solvers copy the net before they change it.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from random import Random

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandapower.networks.kerber_networks as kerber_networks
import pandas as pd

from lemgrid.grid.simbench import DATA
from lemgrid.grid.validation import feeder_problems

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

    def describe(self) -> dict[str, object]:
        """Size and rating, as ``lemgrid feeders`` prints them."""
        net = self.net
        counts = self.households.phase.value_counts()
        return {
            "feeder": self.name,
            "buses": len(net.bus),
            "households": len(self.households),
            "phases a/b/c": "/".join(str(counts.get(p, 0)) for p in PHASES),
            "line km": round(float(net.line.length_km.sum()), 2),
            "transformer kVA": round(float(net.trafo.sn_mva.sum() * 1000), 0),
        }

    @property
    def lv_buses(self) -> pd.Index:
        """Buses of the low-voltage feeder (below 1 kV), where limits apply."""
        return self.net.bus.index[self.net.bus.vn_kv < 1.0]

    @property
    def bus_ids(self) -> np.ndarray:
        """The pandapower index of every bus, in the solvers' bus order."""
        return self.net.bus.index.to_numpy()

    def bus_positions(self, buses: "pd.Index | np.ndarray | pd.Series") -> np.ndarray:
        """Positions of the given bus ids in the solvers' bus order (-1 where a bus is unknown)."""
        return self.net.bus.index.get_indexer(buses)

    @property
    def lv_bus_positions(self) -> np.ndarray:
        """Positions of the low-voltage buses in the solvers' bus order."""
        return self.bus_positions(self.lv_buses)

    @property
    def n_lines(self) -> int:
        """Number of lines (the solvers' line results have one row each)."""
        return len(self.net.line)

    @property
    def line_ids(self) -> np.ndarray:
        """The pandapower index of every line, in table order."""
        return self.net.line.index.to_numpy()

    @property
    def line_from_bus_ids(self) -> np.ndarray:
        """The bus id at each line's from-side (where its ``p_from`` flow is measured)."""
        return self.net.line.from_bus.to_numpy()

    @property
    def trafo_ids(self) -> np.ndarray:
        """The pandapower index of every transformer, in table order."""
        return self.net.trafo.index.to_numpy()


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


# Zero-sequence data for feeders whose source has only positive-sequence data.
# Cables: the return runs through the fourth core of the same size, so R0 = R + 3 R_N = 4 R;
# X0 / X1 = 1.2 as for the IEEE European LV feeder's 4-core cables (4c_70: 0.083 / 0.071);
# C0 = C. The upstream grid as the IEEE feeder's source: 10 GVA short-circuit power, R/X 0.1,
# X0/X1 = 1, R0/X0 = 0.1, i.e. a stiff MV network. The backends treat a weaker source
# differently: power-grid-model puts its impedance in the positive sequence too (the MV
# voltage sags under load), runpp_3ph holds the slack voltage and uses it only for the
# negative and zero sequence. At 100 MVA this gave up to 1.3e-3 p.u. between them on
# kerber_vorstadtnetz; at 10 GVA 1.4e-5 p.u.
R0_PER_R1 = 4.0
X0_PER_X1 = 1.2
SOURCE_SC_MVA = 10000.0


def make_three_phase(net: pp.pandapowerNet) -> None:
    """Derive the zero-sequence data ``runpp_3ph`` needs for a balanced net (in place).

    The assumptions (module constants above): cable R0 = 4 R, X0 = 1.2 X, C0 = C; every
    transformer a Dyn unit (the usual MV/LV vector group, Dyn5 or Dyn11: the clock number
    stays in ``shift_degree``; a net without a vector group gets ``Dyn``, one that names
    another group keeps its letters) with zero-sequence impedance equal to its
    short-circuit impedance and an open zero-sequence magnetising branch; the no-load
    current at least its loss component; a stiff 10 GVA upstream grid. Existing
    zero-sequence data is replaced.
    """
    net.line["r0_ohm_per_km"] = net.line.r_ohm_per_km * R0_PER_R1
    net.line["x0_ohm_per_km"] = net.line.x_ohm_per_km * X0_PER_X1
    net.line["c0_nf_per_km"] = net.line.c_nf_per_km
    net.line["g0_us_per_km"] = 0.0
    # runpp_3ph knows the winding connection "Dyn"; the clock number stays in shift_degree
    given = net.trafo["vector_group"] if "vector_group" in net.trafo else pd.Series(None, net.trafo.index)
    letters = given.astype("string").str.extract(r"^([A-Za-z]+)", expand=False)
    net.trafo["vector_group"] = letters.fillna("Dyn").astype(object)
    # the no-load current can't be smaller than its loss component (some Kerber data is)
    net.trafo["i0_percent"] = np.maximum(
        net.trafo.i0_percent, net.trafo.pfe_kw / (net.trafo.sn_mva * 1000) * 100
    )
    net.trafo["vk0_percent"] = net.trafo.vk_percent
    net.trafo["vkr0_percent"] = net.trafo.vkr_percent
    net.trafo["mag0_percent"] = 1e8  # open magnetising branch, as for the IEEE feeder (see there)
    net.trafo["mag0_rx"] = 0.0
    net.trafo["si0_hv_partial"] = 0.9
    net.trafo["tap_dependency_table"] = False
    for side in ("max", "min"):
        net.ext_grid[f"s_sc_{side}_mva"] = SOURCE_SC_MVA
        net.ext_grid[f"rx_{side}"] = 0.1
        net.ext_grid[f"x0x_{side}"] = 1.0
        net.ext_grid[f"r0x0_{side}"] = 0.1


def assign_phases(n: int, rule: str, rng: np.random.Generator | None = None) -> list[str]:
    """Phases for ``n`` single-phase households by a documented rule.

    ``round_robin``: a, b, c, a, ... in the feeder's household order; ``random``: each
    phase with probability 1/3; ``unbalanced``: a, b, c with probabilities 0.6, 0.3, 0.1
    (a deliberately unbalanced case).
    """
    if rule == "round_robin":
        return [PHASES[i % 3] for i in range(n)]
    if rng is None:
        raise ValueError(f"phase assignment {rule!r} draws at random and needs the model's rng")
    weights = {"random": [1 / 3, 1 / 3, 1 / 3], "unbalanced": [0.6, 0.3, 0.1]}[rule]
    return list(rng.choice(np.array(PHASES), size=n, p=weights))


def households_per_load(net: pp.pandapowerNet) -> pd.DataFrame:
    """One single-phase household per load of ``net``, in table order, phases round robin.

    The default mapping for a net that comes without a household table. A load stands
    for one connection point whatever its size: an aggregate load (CIGRE LV's 190 kW
    block of flats) becomes one household like any other.
    """
    on = net.load[net.load.in_service.astype(bool)] if "in_service" in net.load else net.load
    return pd.DataFrame(
        {
            "household": [f"H{i + 1}" for i in range(len(on))],
            "bus": on.bus.to_numpy(dtype=np.int64),
            "phase": assign_phases(len(on), "round_robin"),
        }
    )


def _from_symmetric(name: str, net: pp.pandapowerNet) -> Feeder:
    """A feeder from a symmetric pandapower net: one household per load, phases round robin.

    The net's own loads and generators become the households (their devices are drawn
    from the scenario), so both tables are emptied.
    """
    make_three_phase(net)
    households = households_per_load(net)
    net.load = net.load.iloc[0:0]
    net.sgen = net.sgen.iloc[0:0]
    return Feeder(name=name, net=net, households=households)


KERBER_CABLE_SEED = 0


def _kerber(build: Callable[[], pp.pandapowerNet]) -> pp.pandapowerNet:
    """A Kerber net whose house-connection cable types are the same in every process.

    pandapower draws each house connection's cable type of the Kerber village and
    suburban nets at random (50 % each of two types) from Python's global ``random``
    module, unseeded, so without this every process built another feeder (line
    loading up to 2 points apart on kerber_substation). While it builds, its module
    draws from a generator of its own seeded with ``KERBER_CABLE_SEED``; the global
    random state is neither read nor changed.
    """
    module_random = kerber_networks.rd
    kerber_networks.rd = Random(KERBER_CABLE_SEED)  # type: ignore[assignment]
    try:
        return build()
    finally:
        kerber_networks.rd = module_random


def _kerber_landnetz() -> Feeder:
    """Kerber rural overhead-line network 1: 13 households on 0.27 km, 160 kVA (Kerber, 2011)."""
    return _from_symmetric("kerber_landnetz", _kerber(pn.create_kerber_landnetz_freileitung_1))


def _kerber_dorfnetz() -> Feeder:
    """Kerber village cable network: 57 households on 3.4 km of cable, 400 kVA (Kerber, 2011)."""
    return _from_symmetric("kerber_dorfnetz", _kerber(pn.create_kerber_dorfnetz))


def _kerber_vorstadtnetz() -> Feeder:
    """Kerber suburban cable network 1: 146 households on 4.5 km of cable, 630 kVA (Kerber, 2011)."""
    return _from_symmetric("kerber_vorstadtnetz", _kerber(pn.create_kerber_vorstadtnetz_kabel_1))


def _simbench(name: str) -> Feeder:
    """A SimBench LV grid as converted into ``grid/data/`` (see :mod:`lemgrid.grid.simbench`)."""
    return _from_symmetric(name, pp.from_json(str(DATA / f"{name}.json")))


def _cigre_lv() -> Feeder:
    """CIGRE LV benchmark (Strunz et al., 2014, CIGRE TF C6.04.02), via pandapower.

    Residential, industrial and commercial sub-networks, each with its own 20/0.4 kV transformer.
    """
    return _from_symmetric("cigre_lv", pn.create_cigre_network_lv())


def substation(base: Feeder, copies: int, name: str) -> Feeder:
    """``copies`` of a feeder, each with its own MV/LV transformer, on the base feeder's MV bus.

    Households are renamed ``F<k>_<name>``; everything else is the base feeder's data.
    """
    net = copy.deepcopy(base.net)
    mv_bus = int(net.ext_grid.bus.iloc[0])
    bus_offset = int(net.bus.index.max()) + 1
    line_offset = int(net.line.index.max()) + 1
    trafo_offset = int(net.trafo.index.max()) + 1
    buses, lines, trafos = [net.bus], [net.line], [net.trafo]
    households = [base.households.assign(household="F1_" + base.households.household)]
    for k in range(1, copies):
        bus = base.net.bus.drop(index=mv_bus)
        bus.index = bus.index + k * bus_offset
        line = base.net.line.copy()
        line.index = line.index + k * line_offset
        line[["from_bus", "to_bus"]] += k * bus_offset
        trafo = base.net.trafo.copy()
        trafo.index = trafo.index + k * trafo_offset
        trafo["lv_bus"] += k * bus_offset
        buses.append(bus)
        lines.append(line)
        trafos.append(trafo)
        households.append(
            base.households.assign(
                household=f"F{k + 1}_" + base.households.household, bus=base.households.bus + k * bus_offset
            )
        )
    net.bus = pd.concat(buses)
    net.line = pd.concat(lines)
    net.trafo = pd.concat(trafos)
    return Feeder(name=name, net=net, households=pd.concat(households, ignore_index=True))


def _kerber_substation() -> Feeder:
    """Seven Kerber suburban networks (1,022 households), each with its 630 kVA transformer, on one MV bus."""
    return substation(_kerber_vorstadtnetz(), 7, "kerber_substation")


FEEDERS: dict[str, Callable[[], Feeder]] = {
    "ieee_european_lv": _ieee_european_lv,
    "kerber_landnetz": _kerber_landnetz,
    "kerber_dorfnetz": _kerber_dorfnetz,
    "kerber_vorstadtnetz": _kerber_vorstadtnetz,
    "kerber_substation": _kerber_substation,
    "simbench_rural1": partial(_simbench, "simbench_rural1"),
    "simbench_semiurb4": partial(_simbench, "simbench_semiurb4"),
    "simbench_urban6": partial(_simbench, "simbench_urban6"),
    "cigre_lv": _cigre_lv,
}

REQUIRED_3PH = {
    "line": ["r0_ohm_per_km", "x0_ohm_per_km", "c0_nf_per_km"],
    "trafo": ["vector_group", "vk0_percent", "vkr0_percent", "mag0_percent", "mag0_rx", "si0_hv_partial"],
    "ext_grid": ["s_sc_max_mva", "rx_max", "x0x_max", "r0x0_max"],
}


def feeder_from_files(
    net_json: str, households_csv: str | None = None, derive_three_phase: bool = False
) -> Feeder:
    """A user's feeder: a pandapower net saved as JSON, optionally with a household table.

    With ``derive_three_phase`` the net may be balanced data: :func:`make_three_phase`
    derives its zero-sequence data by the documented assumptions; without it the net
    must carry that data. The CSV has columns ``household``, ``bus`` (pandapower bus
    index) and ``phase`` (a, b or c), and the net's own loads stay as background load;
    without a CSV each load of the net becomes one household (:func:`households_per_load`)
    and the net's loads and generators are taken out.

    Raises:
        ValueError: naming the file, the field and what is wrong.
    """
    try:
        net = pp.from_json(net_json)
    except Exception as exc:  # pandapower raises many types for a bad file
        raise ValueError(f"feeder.file {net_json!r}: not a pandapower JSON net ({exc})") from None
    if derive_three_phase:
        try:
            make_three_phase(net)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"feeder.file {net_json!r}: cannot derive three-phase data (feeder.three_phase: derive) "
                f"from it: {type(exc).__name__} {exc}; it needs line r/x/c per km and transformer "
                "sn_mva, vk_percent, vkr_percent, pfe_kw and i0_percent"
            ) from None
    for table, columns in REQUIRED_3PH.items():
        missing = [c for c in columns if len(net[table]) and c not in net[table].columns]
        if missing:
            raise ValueError(
                f"feeder.file {net_json!r}: table {table!r} lacks three-phase columns {missing}; "
                "add zero-sequence data, or set feeder.three_phase: derive to derive it from the "
                "balanced data (assumptions: grid.feeders.make_three_phase)"
            )
    if households_csv is None:
        if not len(net.load):
            raise ValueError(
                f"feeder.file {net_json!r}: has no loads to put households on; give "
                "feeder.households_file (CSV: household, bus, phase)"
            )
        households = households_per_load(net)
        net.load = net.load.iloc[0:0]
        net.sgen = net.sgen.iloc[0:0]
    else:
        households = _read_households(households_csv, net)
    problems = feeder_problems(net, households)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ValueError(f"feeder.file {net_json!r}: {problems[0]}{more}")
    net.trafo["tap_dependency_table"] = False
    return Feeder(name="custom", net=net, households=households)


def _read_households(households_csv: str, net: pp.pandapowerNet) -> pd.DataFrame:
    """The household table of a user's feeder, checked against its net."""
    try:
        households = pd.read_csv(households_csv, dtype={"household": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"feeder.households_file {households_csv!r}: cannot read it ({exc})") from None
    if list(households.columns) != ["household", "bus", "phase"]:
        raise ValueError(
            f"feeder.households_file {households_csv!r}: columns must be household, bus, phase; "
            f"got {list(households.columns)}"
        )
    if households.empty:
        raise ValueError(f"feeder.households_file {households_csv!r}: holds no households, only a header")
    if households.bus.isna().any() or not pd.api.types.is_integer_dtype(households.bus):
        raise ValueError(f"feeder.households_file {households_csv!r}: every bus must be a whole bus index")
    bad_bus = sorted(set(households.bus) - set(net.bus.index))
    if bad_bus:
        raise ValueError(f"feeder.households_file {households_csv!r}: buses {bad_bus} are not in the net")
    bad_phase = sorted(set(households.phase) - set(PHASES))
    if bad_phase:
        raise ValueError(f"feeder.households_file {households_csv!r}: phases {bad_phase} not in a, b, c")
    if households.household.duplicated().any():
        raise ValueError(f"feeder.households_file {households_csv!r}: household names must be unique")
    return households


@cache
def load_feeder(name: str) -> Feeder:
    """Return the feeder registered under ``name`` (built once per process).

    Raises:
        ValueError: if no feeder has that name.

    """
    if name not in FEEDERS:
        raise ValueError(f"feeder {name!r} does not exist; available: {sorted(FEEDERS)}")
    return FEEDERS[name]()
