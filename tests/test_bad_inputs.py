"""The bad-input corpus: every input a user can get wrong ends in exit code 2 and one clear message.

Each case feeds one bad scenario, experiment, feeder or results file, or one
``--set`` override, to the ``lemgrid`` command and checks the exit code (2),
that the message names the file or field and the rule, and that no traceback
is printed. The fault cases (read-only or full disk, a second sweep into the
same folder) also check that nothing half-written is left behind.
"""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandapower as pp
import pandas as pd
import pytest

from lemgrid.experiments.cli import main
from lemgrid.experiments.experiment import Experiment
from lemgrid.experiments.sweep import lock_results
from lemgrid.grid.feeders import load_feeder
from tests.helpers import TINY_EXPERIMENT, write_file

QUICK = ["--set", "interval_minutes=1440"]  # one interval, should a bad input ever slip through


def refused(capsys: pytest.CaptureFixture[str], args: list[str], *needles: str) -> str:
    """Run ``lemgrid args``; assert exit 2, a ``lemgrid:`` message holding every needle, no traceback."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code} for {args}: {err}"
    assert err.startswith("lemgrid: "), err
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    return err


BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)

# --- scenario files ------------------------------------------------------------------------

SCENARIO_FILES: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "duplicate key": ("seed: 1\nseed: 2\n", ("line 2", "'seed' is given twice")),
    "duplicate section": ("pv: {kwp: 3}\npv: {kwp: 4}\n", ("'pv' is given twice",)),
    "duplicate nested key": (
        "market:\n  pricing: uniform\n  pricing: zonal\n",
        ("'pricing' is given twice",),
    ),
    "billion laughs": (BOMB, ("alias",)),
    "recursive alias": ("pv: &a {kwp: *a}\n", ("recursive alias",)),
    "not UTF-8": (b"seed: 1\nname: caf\xe9\n", ("not UTF-8", "offset")),
    "UTF-16": ("seed: 1\n".encode("utf-16"), ("not UTF-8",)),
    "binary": (b"\x00\x01\x02\x03PK\x03\x04", ("NUL", "binary")),
    "a list": ("- seed\n- days\n", ("must hold a mapping", "list")),
    "a number": ("42\n", ("must hold a mapping", "int")),
    "broken YAML": ("seed: [1, 2\n", ("not valid YAML", "line")),
    "tab indentation": ("pv:\n\tkwp: 3\n", ("not valid YAML",)),
    "keys not text": ("1: 2\n", ("keys must be text",)),
    "impossible date": ("start: 2026-02-30\n", ("'start'", "2026-02-30")),
    "date far ahead": ("start: 9999-12-31\n", ("'start'", "9999-12-31", "2199-12-31")),
    "date long ago": ("start: 0001-01-01\n", ("'start'", "1900-01-01")),
    "NaN PV size": ("pv: {kwp: .nan}\n", ("'pv.kwp", "finite")),
    "infinite consumption": (
        "households: {annual_consumption_kwh: .inf}\n",
        ("annual_consumption_kwh", "finite"),
    ),
    "NaN strategy share": ("households: {strategy: {truthful: .nan}}\n", ("households.strategy", "finite")),
    "infinite retail price": ("market: {retail_price_eur_per_kwh: .inf}\n", ("retail_price_eur_per_kwh",)),
    "NaN distribution bound": (
        "pv: {kwp: {dist: normal, mean: 3, std: 1, low: .nan}}\n",
        ("pv.kwp.low", "NaN"),
    ),
    "NaN uniform bound": ("pv: {kwp: {dist: uniform, low: .nan, high: 4}}\n", ("pv.kwp.low", "finite")),
    "unknown tariff kind": ("tariff: {kind: flat}\n", ("'tariff.kind' = 'flat'", "'volumetric'")),
    "unknown attack kind": ("attack: {kind: virus}\n", ("'attack.kind' = 'virus'", "'demand'")),
    "unknown tariff field": ("tariff: {kind: none, fee: 1}\n", ("'tariff.fee'", "unknown field", "kind")),
    "dynamic tariff threshold zero": (
        "tariff: {kind: dynamic, dynamic_threshold_percent: 0}\n",
        ("'tariff.dynamic_threshold_percent' = 0", "greater than 0"),
    ),
    "network time-of-use window past 24 h": (
        "tariff: {kind: time_of_use, network_time_of_use: "
        "[{start_hour: 17, end_hour: 25, price_eur_per_kwh: 0.2}]}\n",
        ("network_time_of_use", "end_hour", "less than or equal to 24"),
    ),
    "unknown section": ("weather_station: {}\n", ("'weather_station'", "unknown field")),
    "negative days": ("days: -1\n", ("'days'",)),
    "huge file": ("#" + "x" * 1_100_000 + "\n", ("larger than",)),
}


@pytest.mark.parametrize("case", list(SCENARIO_FILES))
def test_bad_scenario_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, needles = SCENARIO_FILES[case]
    path = write_file(tmp_path, text, "scenario.yaml")
    started = time.perf_counter()
    refused(capsys, ["run", "--quiet", "--scenario", str(path), *QUICK], *needles)
    assert time.perf_counter() - started < 30


def test_scenario_file_that_is_a_folder_or_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(capsys, ["run", "--scenario", str(tmp_path)], str(tmp_path), "folder")
    refused(capsys, ["scenario", "--scenario", str(tmp_path / "nope.yaml")], "nope.yaml", "No such file")


# --- --set overrides -----------------------------------------------------------------------

OVERRIDES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "broken YAML value": (["seed=[1,"], ("override 'seed=[1,'", "not valid YAML")),
    "broken mapping value": (["households.strategy={truthful: 1"], ("not valid YAML",)),
    "recursive alias value": (["pv.kwp=&a [*a]"], ("recursive alias",)),
    "impossible date": (["start=2026-02-30"], ("'start'", "2026-02-30")),
    "date beyond range": (["start=9999-12-31"], ("'start'", "2199-12-31")),
    "NaN strategy share": (["households.strategy={truthful: .nan}"], ("households.strategy", "finite")),
    "NaN and a share": (["households.strategy={truthful: .nan, zip: 1.0}"], ("households.strategy",)),
    "infinite PV": (["pv.kwp=.inf"], ("pv.kwp", "finite")),
    "NaN penetration": (["penetration.pv=.nan"], ("penetration.pv", "finite")),
    "no equals sign": (["seed"], ("must look like key.path=value",)),
    "no key": (["=5"], ("must look like key.path=value",)),
    "empty key part": (["market..pricing=zonal"], ("empty part",)),
    "value is not a section": (["seed.x=1"], ("'seed' = {'x': 1}", "integer")),
    "zero days": (["days=0"], ("'days' = 0",)),
    "interval not dividing a day": (["interval_minutes=7"], ("'interval_minutes' = 7", "divide a day")),
    "unknown strategy": (["households.strategy=genius"], ("households.strategy", "unknown strategy")),
    "shares not summing to one": (["households.strategy={truthful: 0.5}"], ("sum to 1",)),
    "unknown feeder": (["feeder.name=atlantis"], ("'feeder.name' = 'atlantis'",)),
    "unknown solver": (["grid.solver=magic"], ("'grid.solver' = 'magic'",)),
    "mechanism not of the design": (["market.pricing=zonal", "market.mechanism=p2p"], ("p2p", "zonal")),
    "unknown tariff kind": (["tariff.kind=flat"], ("'tariff.kind' = 'flat'",)),
    "unknown field of a kind": (["tariff.fees=1"], ("'tariff.fees'", "unknown field")),
    "more zones than households": (
        ["market.pricing=zonal", "market.zonal.n_zones=500"],
        ("'market.zonal.n_zones' = 500", "at most 55"),
    ),
    "zonal tariff, more zones than households": (
        ["tariff.kind=zonal", "market.zonal.n_zones=56"],
        ("'market.zonal.n_zones' = 56",),
    ),
    "attack on an unknown household": (
        ["attack.kind=demand", "attack.households=[nobody]"],
        ("'attack.households'", "nobody", "no such households"),
    ),
    "missing learning file": (
        ["strategies.learning_file=/nonexistent/learning.json"],
        ("'strategies.learning_file'", "/nonexistent/learning.json", "No such file"),
    ),
    "zero trading rounds": (
        ["market.cda.rounds=0"],
        ("'market.cda.rounds' = 0", "greater than or equal to 1"),
    ),
    "NaN preference weight": (["market.p2p.green_weight=.nan"], ("market.p2p.green_weight", "finite")),
    "negative preference weight": (
        ["market.p2p.green_weight={dist: uniform, low: -1, high: 1}"],
        ("market.p2p.green_weight", "within [0.0, 100.0]"),
    ),
    "k outside [0, 1]": (
        ["market.pay_as_clear_k=1.5"],
        ("'market.pay_as_clear_k' = 1.5", "less than or equal to 1"),
    ),
    "Q-learning rate of zero": (["strategies.q_alpha=0"], ("'strategies.q_alpha' = 0", "greater than 0")),
    "Q-learning discount of one": (["strategies.q_gamma=1"], ("'strategies.q_gamma' = 1", "less than 1")),
    "exploration above one": (
        ["strategies.q_epsilon=2"],
        ("'strategies.q_epsilon' = 2", "less than or equal to 1"),
    ),
    "negative reference weight": (
        ["strategies.roth_erev_reference_weight=-0.1"],
        ("'strategies.roth_erev_reference_weight' = -0.1", "greater than or equal to 0"),
    ),
    "phase override of an unknown household": (["feeder.phase_overrides.nobody=a"], ("phase_overrides",)),
    "custom feeder without files": (["feeder.name=custom"], ("needs file",)),
    "day-ahead stage with fixed bids": (
        ["bidding.mode=fixed", "bidding.day_ahead=true"],
        ("day_ahead", "mode: curves"),
    ),
    "unknown price forecast": (["bidding.forecast=crystal_ball"], ("'bidding.forecast' = 'crystal_ball'",)),
    "negative forecast error": (["bidding.pv_forecast_error=-0.1"], ("'bidding.pv_forecast_error' = -0.1",)),
    "comfort band min above max": (
        ["heat_pump.comfort_min_c=22", "heat_pump.comfort_max_c=21"],
        ("'heat_pump'", "comfort_min_c (22.0) must be below comfort_max_c (21.0)"),
    ),
    "tank band min equal to max": (
        ["heat_pump.tank_min_c=50", "heat_pump.tank_max_c=50"],
        ("'heat_pump'", "tank_min_c (50.0) must be below tank_max_c (50.0)"),
    ),
    "zero UA": (["heat_pump.ua_kw_per_k=0"], ("'heat_pump.ua_kw_per_k'", "must be positive")),
    "negative heat capacity": (
        ["heat_pump.heat_capacity_kwh_per_k={dist: uniform, low: -1, high: 5}"],
        ("'heat_pump.heat_capacity_kwh_per_k'", "[0.0, 500.0]"),
    ),
    "zero heat capacity": (["heat_pump.heat_capacity_kwh_per_k=0"], ("heat_capacity_kwh_per_k", "positive")),
    "COP below 1": (
        ["heat_pump.cop_coefficients=[2.0, -0.05, 0.0]"],
        ("'heat_pump'", "cop_coefficients", "COP must be at least 1"),
    ),
    "missing temperature file": (
        ["weather.temperature_file=/nonexistent/t.csv"],
        ("temperature file '/nonexistent/t.csv'", "No such file"),
    ),
    "flexibility request on an element that does not exist": (
        ["dso.flexibility.enabled=true", "dso.flexibility.elements=[LINE1, nowhere]"],
        ("'dso.flexibility.elements' = ['nowhere']", "no such line or transformer", "allowed"),
    ),
    "negative flexibility price limit": (
        ["dso.flexibility.max_price_eur_per_kwh=-0.5"],
        ("'dso.flexibility.max_price_eur_per_kwh' = -0.5", "greater than or equal to 0"),
    ),
    "negative flexibility premium": (
        ["dso.flexibility.offer_premium_eur_per_kwh=-0.01"],
        ("'dso.flexibility.offer_premium_eur_per_kwh' = -0.01", "greater than or equal to 0"),
    ),
    "non-positive flexibility loading limit": (
        ["dso.flexibility.loading_limit_percent=0"],
        ("'dso.flexibility.loading_limit_percent' = 0", "greater than 0"),
    ),
    "flexibility margin at or above its loading limit": (
        ["dso.flexibility.loading_limit_percent=1"],
        ("'dso.flexibility'", "margin_percent (2) must be below loading_limit_percent (1)"),
    ),
    "community manager under DSO cuts": (
        ["community.enabled=true", "market.constraint_mode=post_check"],
        ("'community.enabled' = true", "market.constraint_mode: post_check", "allowed"),
    ),
    "flexibility market with fixed bids": (
        ["dso.flexibility.enabled=true", "bidding.mode=fixed"],
        ("'dso.flexibility.enabled'", "bidding.mode: curves", "'fixed'"),
    ),
    "three_phase on a named feeder": (["feeder.three_phase=derive"], ("only for name 'custom'",)),
    "three_phase unknown": (["feeder.three_phase=guess"], ("'feeder.three_phase' = 'guess'", "derive")),
}


@pytest.mark.parametrize("case", list(OVERRIDES))
def test_bad_override(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sets, needles = OVERRIDES[case]
    args = ["run", "--quiet", "--out", str(tmp_path / "out"), *QUICK]
    for item in sets:
        args += ["--set", item]
    refused(capsys, args, *needles)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("rows", "needles"),
    [
        (["2026-06-01T00:00:00+00:00,12", "2026-06-01T02:00:00+00:00,12"], ("row 3", "without gaps")),
        (["2026-06-01T00:00:00+00:00,12", "2026-06-01T01:00:00+00:00,nan"], ("row 3", "'nan'")),
        (["2026-06-01T00:00:00,12", "2026-06-01T01:00:00,12"], ("row 2", "no time zone")),
        (["2026-06-01T00:00:00+00:00,12", "2026-06-01T01:00:00+00:00,12"], ("covers", "the run needs")),
    ],
    ids=["gap", "NaN", "no time zone", "too short"],
)
def test_bad_temperature_file(
    rows: list[str], needles: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_file(tmp_path, "timestamp,temperature_c\n" + "\n".join(rows) + "\n", "temperature.csv")
    args = [
        "run",
        "--quiet",
        "--out",
        str(tmp_path / "out"),
        *QUICK,
        "--set",
        f"weather.temperature_file={path}",
    ]
    refused(capsys, args, "temperature.csv", *needles)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"this is not json", "not a learning file"),
        (b"[1, 2, 3]", "not a learning file"),
        (b"\xff\xfe\x00garbage", "not a learning file"),
        (b'{"LOAD1": 3}', "not a learning file"),
        (b'{"LOAD1": {"strategy": "zip", "state": {}}}', "older lemgrid (no 'lemgrid_learning' version)"),
        (b'{"lemgrid_learning": 99, "households": {}}', "learning-file version 99; allowed: version 2"),
        (
            b'{"lemgrid_learning": 2, "households": {"LOAD1": {"strategy": "zip", "state": {}}}}',
            "saved by households trading with ['zip'], but every household here trades with 'truthful'",
        ),
    ],
    ids=[
        "text",
        "a JSON list",
        "binary",
        "entries not mappings",
        "old version",
        "future version",
        "other strategy",
    ],
)
def test_bad_learning_file(
    content: bytes, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_file(tmp_path, content, "learning.json")
    refused(capsys, ["run", *QUICK, "--set", f"strategies.learning_file={path}"], "learning_file", needle)


# --- feeder files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landnetz() -> pp.pandapowerNet:
    return load_feeder("kerber_landnetz").net


def _custom_args(tmp_path: Path, net: pp.pandapowerNet | bytes, rows: str | bytes) -> list[str]:
    net_file = tmp_path / "net.json"
    if isinstance(net, bytes):
        net_file.write_bytes(net)
    else:
        pp.to_json(net, str(net_file))
    csv = write_file(tmp_path, rows if isinstance(rows, bytes) else "household,bus,phase\n" + rows, "hh.csv")
    return [
        "run",
        "--quiet",
        *QUICK,
        "--set",
        "feeder.name=custom",
        "--set",
        f"feeder.file={net_file}",
        "--set",
        f"feeder.households_file={csv}",
    ]


def _households(net: pp.pandapowerNet) -> str:
    buses = load_feeder("kerber_landnetz").households.bus
    return "".join(f"home{i},{bus},{'abc'[i % 3]}\n" for i, bus in enumerate(buses))


def _disconnected(net: pp.pandapowerNet) -> None:
    net.line.loc[net.line.index[0], "in_service"] = False  # cuts the feeder off below its first line


def _meshed(net: pp.pandapowerNet) -> None:
    a, b = load_feeder("kerber_landnetz").households.bus.iloc[[0, -1]]
    pp.create_line_from_parameters(
        net, a, b, 0.1, r_ohm_per_km=0.2, x_ohm_per_km=0.08, c_nf_per_km=0, max_i_ka=0.2,
        r0_ohm_per_km=0.8, x0_ohm_per_km=0.3, c0_nf_per_km=0,
    )  # fmt: skip


def _set(column: str, value: float) -> object:
    def change(net: pp.pandapowerNet) -> None:
        net.line.loc[net.line.index[3], column] = value

    return change


def _zero_impedance(net: pp.pandapowerNet) -> None:
    net.line.loc[net.line.index[2], ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0


FEEDERS_BAD = {
    "disconnected": (_disconnected, None, ("no path to the source",)),
    "meshed": (_meshed, None, ("meshed",)),
    "zero impedance": (_zero_impedance, None, ("zero impedance",)),
    "negative length": (_set("length_km", -0.1), None, ("length_km", "positive")),
    "zero length": (_set("length_km", 0.0), None, ("length_km", "positive")),
    "NaN resistance": (_set("r_ohm_per_km", float("nan")), None, ("r_ohm_per_km", "finite")),
    "negative reactance": (_set("x_ohm_per_km", -0.1), None, ("x_ohm_per_km",)),
    "infinite zero-sequence resistance": (_set("r0_ohm_per_km", float("inf")), None, ("r0_ohm_per_km",)),
    "household on the MV bus": (None, "h1,{mv},a\n", ("on bus", "kV", "low-voltage")),
    "household on a bus with no line": (None, "h1,{isolated},a\n", ("no line",)),
    "header only": (None, "", ("no households",)),
    "bus not in the net": (None, "h1,99999,a\n", ("99999", "not in the net")),
    "unknown phase": (None, "h1,{lv},d\n", ("phases", "'d'")),
    "bus not a number": (None, "h1,bus7,a\n", ("bus",)),
    "empty bus": (None, "h1,,a\n", ("whole bus index",)),
    "duplicate household": (None, "h1,{lv},a\nh1,{lv},b\n", ("unique",)),
}


@pytest.mark.parametrize("case", list(FEEDERS_BAD))
def test_bad_feeder(
    case: str, landnetz: pp.pandapowerNet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, rows, needles = FEEDERS_BAD[case]
    net = pp.from_json_string(pp.to_json(landnetz))
    isolated = pp.create_bus(net, vn_kv=0.4) if "no line" in case else -1
    if change is not None:
        change(net)
    mv = int(net.bus.index[net.bus.vn_kv >= 1.0][0])
    lv = int(load_feeder("kerber_landnetz").households.bus.iloc[0])
    households = _households(net) if rows is None else rows.format(mv=mv, isolated=isolated, lv=lv)
    refused(capsys, _custom_args(tmp_path, net, households), "feeder", *needles)


@pytest.mark.parametrize(
    ("net", "rows", "needles"),
    [
        (b"not json at all", None, ("not a pandapower JSON net",)),
        (b"\x00\x01\x02binary", None, ("not a pandapower JSON net",)),
        (b"{}", None, ("not a pandapower JSON net",)),
        (None, b"\xff\xfe\x00\x01", ("households_file",)),
        (None, b"name;bus;phase\nh1;3;a\n", ("columns must be household, bus, phase",)),
        (None, b"", ("households_file",)),
    ],
    ids=[
        "net text",
        "net binary",
        "net empty JSON",
        "households binary",
        "households wrong columns",
        "households empty",
    ],
)
def test_bad_feeder_files(
    net: bytes | None,
    rows: bytes | None,
    needles: tuple[str, ...],
    landnetz: pp.pandapowerNet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _custom_args(
        tmp_path, landnetz if net is None else net, _households(landnetz) if rows is None else rows
    )
    refused(capsys, args, *needles)


def test_a_symmetric_net_lacks_zero_sequence_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    symmetric = pp.networks.create_kerber_landnetz_kabel_1()
    refused(capsys, _custom_args(tmp_path, symmetric, "h1,3,a\n"), "three-phase columns")


# --- experiment files ----------------------------------------------------------------------

EXPERIMENTS: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "duplicate axis value": (
        TINY_EXPERIMENT.replace("[uniform, zonal]", "[uniform, zonal, uniform]"),
        ("market.pricing", "'uniform' twice"),
    ),
    "duplicate numeric axis value": (
        TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: [1, 2]\nzip:\n  penetration.pv: [0.2, 0.2]"),
        ("zip (penetration.pv)", "{'penetration.pv': 0.2} twice"),
    ),
    "duplicate numeric value on an axis": (
        TINY_EXPERIMENT.replace("axes:\n", "axes:\n  penetration.pv: [0.3, 0.5, 0.3]\n"),
        ("axis 'penetration.pv'", "0.3 twice"),
    ),
    "duplicate zipped row": (
        TINY_EXPERIMENT.replace(
            "seeds: [1, 2]", "seeds: [1]\nzip:\n  penetration.pv: [0.2, 0.4, 0.2]\n  pv.kwp: [3, 3, 3]"
        ),
        ("zip (penetration.pv, pv.kwp)", "twice"),
    ),
    "duplicate mix in a zip": (
        TINY_EXPERIMENT.replace(
            "seeds: [1, 2]", "seeds: [1]\nzip:\n  households.strategy: [{zip: 1}, {zip: 1}]"
        ),
        ("households.strategy", "twice"),
    ),
    "duplicate key": (TINY_EXPERIMENT + "seeds: 3\n", ("'seeds' is given twice",)),
    "duplicate axis key": (
        TINY_EXPERIMENT.replace("axes:\n", "axes:\n  market.pricing: [zonal]\n"),
        ("'market.pricing' is given twice",),
    ),
    "not UTF-8": (TINY_EXPERIMENT.encode() + b"# \xe9\xe8\n", ("experiment file", "not UTF-8")),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", ("experiment file", "not UTF-8")),
    "binary ASCII": (b"name: x\x00\x00\x00", ("experiment file", "NUL")),
    "billion laughs": (BOMB, ("experiment file", "alias")),
    "a list": ("- name\n- base\n", ("experiment file", "must hold a mapping")),
    "broken YAML": ("name: x\naxes: {a: [1,\n", ("experiment file", "not valid YAML")),
    "impossible date in base": (
        TINY_EXPERIMENT.replace("base:\n", "base:\n  start: 2026-02-30\n"),
        ("start",),
    ),
    "NaN in base": (TINY_EXPERIMENT.replace("base:\n", "base:\n  pv: {kwp: .nan}\n"), ("pv.kwp", "finite")),
    "NaN on an axis": (
        TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: [1]\nzip:\n  penetration.pv: [.nan, 0.3]"),
        ("penetration.pv", "finite"),
    ),
    "bad axis value": (TINY_EXPERIMENT.replace("zonal]", "nodal]"), ("market.pricing", "nodal")),
    "empty axis": (TINY_EXPERIMENT.replace("[uniform, zonal]", "[]"), ("has no values",)),
    "zip of unequal lengths": (
        TINY_EXPERIMENT.replace(
            "seeds: [1, 2]", "seeds: [1]\nzip:\n  penetration.pv: [0.1, 0.2]\n  pv.kwp: [3]"
        ),
        ("equal lengths",),
    ),
    "baseline not swept": (TINY_EXPERIMENT.replace("{market.pricing: uniform}", "{days: 2}"), ("not swept",)),
    "no seeds": (TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: 0"), ("seeds",)),
    "negative seed": (TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: [-1]"), ("seeds",)),
    "unknown metric": (TINY_EXPERIMENT + "metrics: [happiness]\n", ("unknown metrics", "happiness")),
    "unknown analysis": (TINY_EXPERIMENT + "analyses: [astrology]\n", ("unknown analyses",)),
    "unknown top-level key": (TINY_EXPERIMENT + "axis: {}\n", ("axis",)),
    "seed as an axis": (TINY_EXPERIMENT.replace("axes:\n", "axes:\n  seed: [1, 2]\n"), ("seed",)),
    "absurd run count": (
        "name: huge\naxes:\n"
        + "".join(
            f"  penetration.{k}: [{', '.join(str(i / 100) for i in range(100))}]\n"
            for k in ("pv", "battery", "ev", "flexible_load")
        )
        + "seeds: 10\n",
        ("asks for 1000000000 runs", "100 penetration.pv", "10 seeds", "LEMGRID_MAX_RUNS"),
    ),  # fmt: skip
    "runs over the limit by seeds": (
        TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: 6000"),
        ("asks for 12000 runs", "limit of 10000"),
    ),
}


@pytest.mark.parametrize("case", list(EXPERIMENTS))
def test_bad_experiment_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, needles = EXPERIMENTS[case]
    path = write_file(tmp_path, text)
    started = time.perf_counter()
    refused(capsys, ["sweep", str(path), "--dry-run", "--results", str(tmp_path / "r")], *needles)
    assert time.perf_counter() - started < 30


BASE_FILES: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "a list": ("- days\n- seed\n", ("base_file", "must hold a mapping")),
    "not UTF-8": (b"days: 1\n# \xff\n", ("base_file", "not UTF-8")),
    "binary": (b"\x00\x00\x00", ("base_file", "NUL")),
    "duplicate key": ("days: 1\ndays: 2\n", ("base_file", "'days' is given twice")),
    "broken YAML": ("days: [\n", ("base_file", "not valid YAML")),
    "bad value": ("days: 0\n", ("'days' = 0",)),
}


@pytest.mark.parametrize("case", list(BASE_FILES))
def test_bad_base_file(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, needles = BASE_FILES[case]
    write_file(tmp_path, text, "base.yaml")
    path = write_file(tmp_path, TINY_EXPERIMENT + "base_file: base.yaml\n")
    refused(capsys, ["sweep", str(path), "--dry-run"], *needles)


def test_missing_base_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_file(tmp_path, TINY_EXPERIMENT + "base_file: nowhere.yaml\n")
    refused(capsys, ["sweep", str(path), "--dry-run"], "base_file", "nowhere.yaml", "No such file")


@pytest.mark.parametrize(
    ("sets", "needles"),
    [
        (["days=["], ("override 'days=['", "not valid YAML")),
        (["start=2026-02-30"], ("'start'", "2026-02-30")),
        (["market.pricing=zonal"], ("swept",)),
        (["days"], ("key.path=value",)),
        (["households.strategy={zip: .nan}"], ("households.strategy", "finite")),
    ],
    ids=["broken YAML", "impossible date", "a swept key", "no value", "NaN share"],
)
def test_bad_sweep_override(
    sets: list[str], needles: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sweep", str(write_file(tmp_path, TINY_EXPERIMENT)), "--dry-run"]
    for item in sets:
        args += ["--set", item]
    refused(capsys, args, *needles)


@pytest.mark.parametrize(
    ("base", "needles"),
    [
        ("  attack: {kind: demand, households: [ghost]}\n", ("run market.pricing=", "ghost")),
        ("  market: {zonal: {n_zones: 400}}\n", ("n_zones", "400")),
        ("  strategies: {learning_file: /nonexistent.json}\n", ("learning_file", "No such file")),
    ],
    ids=["attack on an unknown household", "more zones than households", "missing learning file"],
)
def test_a_sweep_checks_its_runs_before_starting(
    base: str, needles: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_file(tmp_path, TINY_EXPERIMENT.replace("base:\n", "base:\n" + base))
    refused(capsys, ["sweep", str(path), "--results", str(tmp_path / "r")], *needles)
    assert not (tmp_path / "r").exists()


def test_bad_seed_and_worker_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(write_file(tmp_path, TINY_EXPERIMENT))
    refused(capsys, ["sweep", path, "--dry-run", "--seeds", "0"], "seeds")
    refused(capsys, ["sweep", path, "--workers", "0"], "--workers")


def test_the_run_limit_can_be_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(write_file(tmp_path, TINY_EXPERIMENT.replace("seeds: [1, 2]", "seeds: 3")))
    monkeypatch.setenv("LEMGRID_MAX_RUNS", "5")
    refused(capsys, ["sweep", path, "--dry-run"], "asks for 6 runs", "limit of 5")
    monkeypatch.setenv("LEMGRID_MAX_RUNS", "lots")
    refused(capsys, ["sweep", path, "--dry-run"], "LEMGRID_MAX_RUNS='lots'")
    monkeypatch.setenv("LEMGRID_MAX_RUNS", "6")
    assert main(["sweep", path, "--dry-run"]) == 0


def test_dry_run_of_4096_combinations_lists_every_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wide grid expands and validates without running anything (its time is a benchmark matter)."""
    values = ", ".join(str(i / 1000) for i in range(64))
    text = f"name: wide\naxes:\n  penetration.pv: [{values}]\n  penetration.battery: [{values}]\nseeds: 1\n"
    assert (
        main(["sweep", str(write_file(tmp_path, text)), "--dry-run", "--results", str(tmp_path / "r")]) == 0
    )
    assert capsys.readouterr().out.strip().endswith(f"4096 runs in {tmp_path / 'r'}")


# --- results folders for the report --------------------------------------------------------


def _results(tmp_path: Path, rows: list[dict[str, object]] | None = None) -> Path:
    """A results folder of TINY_EXPERIMENT with runs.parquet from ``rows`` (default: all four done)."""
    results = tmp_path / "results"
    results.mkdir()
    experiment = Experiment.model_validate(
        {"name": "tiny", "axes": {"market.pricing": ["uniform", "zonal"]}, "seeds": [1, 2],
         "baseline": {"market.pricing": "uniform"}}
    )  # fmt: skip
    (results / "experiment.json").write_text(experiment.model_dump_json())
    if rows is None:
        rows = [
            {"market.pricing": p, "seed": s, "run_id": f"{p}{s}", "folder": f"{p}/seed={s}", "status": "done"}
            for p in ("uniform", "zonal")
            for s in (1, 2)
        ]
    for row in rows:
        folder = results / str(row["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.json").write_text(json.dumps({"status": row["status"]}))
    pd.DataFrame(rows, columns=["market.pricing", "seed", "run_id", "folder", "status"]).to_parquet(
        results / "runs.parquet"
    )
    return results


def _garbage_runs(results: Path) -> None:
    (results / "runs.parquet").write_bytes(b"PAR1 garbage that is not parquet")


def _truncated_runs(results: Path) -> None:
    data = (results / "runs.parquet").read_bytes()
    (results / "runs.parquet").write_bytes(data[: len(data) // 2])


def _empty_runs(results: Path) -> None:
    pd.DataFrame(columns=["market.pricing", "seed", "run_id", "folder", "status"]).to_parquet(
        results / "runs.parquet"
    )


def _no_status(results: Path) -> None:
    pd.read_parquet(results / "runs.parquet").drop(columns=["status"]).to_parquet(results / "runs.parquet")


def _foreign_runs(results: Path) -> None:
    runs = pd.read_parquet(results / "runs.parquet")
    runs["market.pricing"] = "nodal"
    runs.to_parquet(results / "runs.parquet")


def _half_written(results: Path) -> None:
    (results / "zonal" / "seed=2" / "run.json").unlink()


def _all_failed(results: Path) -> None:
    runs = pd.read_parquet(results / "runs.parquet")
    runs["status"] = "failed"
    runs.to_parquet(results / "runs.parquet")


REPORTS = {
    "runs.parquet garbage": (_garbage_runs, ("runs.parquet", "not a readable Parquet table")),
    "runs.parquet truncated": (_truncated_runs, ("runs.parquet", "not a readable Parquet table")),
    "runs.parquet empty file": (lambda r: (r / "runs.parquet").write_bytes(b""), ("not a readable Parquet",)),
    "runs.parquet zero rows": (_empty_runs, ("runs.parquet", "holds no runs")),
    "runs.parquet without status": (_no_status, ("lacks the columns", "status")),
    "runs.parquet of another experiment": (_foreign_runs, ("different experiments",)),
    "runs.parquet missing": (lambda r: (r / "runs.parquet").unlink(), ("no runs.parquet",)),
    "experiment.json missing": (
        lambda r: (r / "experiment.json").unlink(),
        ("experiment.json", "No such file"),
    ),
    "experiment.json garbage": (
        lambda r: (r / "experiment.json").write_bytes(b"\x00garbage{"),
        ("experiment.json", "not an experiment"),
    ),
    "experiment.json empty mapping": (
        lambda r: (r / "experiment.json").write_text("{}"),
        ("experiment.json", "not an experiment"),
    ),
    "half-written run": (_half_written, ("zonal/seed=2", "half written")),
    "every run failed": (_all_failed, ("no run finished",)),
}


@pytest.mark.parametrize("case", list(REPORTS))
def test_bad_results_folder(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damage, needles = REPORTS[case]
    results = _results(tmp_path)
    damage(results)
    refused(capsys, ["report", str(results)], *needles)
    assert not list(results.glob("*.tmp")) and not (results / "report.html").exists()


def test_report_on_a_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, ["report", str(tmp_path / "nothing")], "does not exist")


def test_report_warns_of_failed_runs_and_missing_seeds(tmp_path: Path) -> None:
    from lemgrid.experiments.report import check_results

    results = _results(
        tmp_path,
        [
            {"market.pricing": "uniform", "seed": 1, "run_id": "u1", "folder": "u/seed=1", "status": "done"},
            {"market.pricing": "zonal", "seed": 1, "run_id": "z1", "folder": "z/seed=1", "status": "failed"},
        ],
    )
    warnings = check_results(results)
    assert any("1 of 2 runs failed" in w for w in warnings)
    assert any("fewer than the experiment's 2 seeds" in w for w in warnings)


# --- faults: read-only and full disks, two sweeps at once ----------------------------------


def _mount_tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:  # an ordinary user: permissions make a folder read-only
        if "ro" in options.split(","):
            path.chmod(0o555)
            yield path
            path.chmod(0o755)
            return
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root")
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "lemgrid-test", str(path)], check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """An empty folder that cannot be written (a read-only tmpfs as root, mode 555 otherwise)."""
    yield from _mount_tmpfs(tmp_path / "ro", "ro,size=1m")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 64 kB file system: the first large write fails with 'No space left on device'."""
    yield from _mount_tmpfs(tmp_path / "full", "size=64k")


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")) or ".partial" in p.parts]


def test_run_into_a_read_only_folder(read_only: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, ["run", "--quiet", *QUICK, "--out", str(read_only / "out")], str(read_only / "out"))


def test_sweep_into_a_read_only_folder(
    read_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_file(tmp_path, TINY_EXPERIMENT))
    refused(capsys, ["sweep", path, "--results", str(read_only / "r")], str(read_only / "r"))


def test_report_into_a_read_only_folder(
    read_only: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _results(tmp_path)
    refused(capsys, ["report", str(results), "--out", str(read_only / "report.html")], str(read_only))


def test_run_onto_a_full_disk_leaves_no_temporary_files(
    full_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        capsys,
        ["run", "--quiet", "--set", "interval_minutes=60", "--out", str(full_disk / "out")],
        "No space left on device",
    )
    assert not _leftovers(full_disk)


def test_a_second_sweep_into_the_same_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_file(tmp_path, TINY_EXPERIMENT))
    results = tmp_path / "r"
    lock = lock_results(results)  # as a first sweep holds it
    try:
        refused(capsys, ["sweep", path, "--results", str(results)], "another lemgrid sweep", str(os.getpid()))
    finally:
        lock.close()
    assert not list(results.glob("*/seed=*"))


# --- run folders ---------------------------------------------------------------------------


def test_run_folders_never_collide_and_stay_readable(tmp_path: Path) -> None:
    from lemgrid.experiments.experiment import expand, load_experiment

    long_a = {
        "truthful": 0.1,
        "zip": 0.1,
        "q_learning": 0.1,
        "roth_erev": 0.1,
        "zi_c": 0.1,
        "lp_optimiser": 0.5,
    }
    long_b = {**long_a, "lp_optimiser": 0.4, "time_of_use": 0.1}  # same first 60 characters
    text = (
        "name: mixes\nbase: {interval_minutes: 240}\naxes:\n"
        f"  households.strategy: [{json.dumps(long_a)}, {json.dumps(long_b)}, truthful]\n"
        "  market.pricing: [uniform, zonal]\nseeds: 1\n"
    )
    experiment, base = load_experiment(write_file(tmp_path, text))
    folders = [run.folder for run in expand(experiment, base, tmp_path / "r")]
    assert len(set(folders)) == len(folders) == 6
    names = {f.relative_to(tmp_path / "r").parts[0] for f in folders}
    assert "households.strategy=truthful" in names  # a short, safe value is its own name
    assert sum("~" in n for n in names) == 2  # the mixes: a readable prefix and a hash of the whole value
    assert all(len(n) < 100 for n in names)


def test_a_run_marked_done_without_its_files_is_run_again(tmp_path: Path) -> None:
    from lemgrid.experiments.experiment import expand, load_experiment
    from lemgrid.experiments.sweep import RUN_FILE, is_finished

    experiment, base = load_experiment(write_file(tmp_path, TINY_EXPERIMENT))
    run = expand(experiment, base, tmp_path / "r")[0]
    run.folder.mkdir(parents=True)
    record = {"status": "done", "run_id": run.run_id, "files": ["intervals.parquet", "summary.json"]}
    (run.folder / RUN_FILE).write_text(json.dumps(record))
    (run.folder / "summary.json").write_text("{}")
    assert not is_finished(run)  # intervals.parquet is missing
    (run.folder / "intervals.parquet").write_bytes(b"")
    assert is_finished(run)


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sigkill_mid_sweep_leaves_no_process_and_resume_loses_no_run(tmp_path: Path) -> None:
    import signal
    import sys

    path = str(write_file(tmp_path, TINY_EXPERIMENT.replace("interval_minutes: 240", "interval_minutes: 60")))
    results = tmp_path / "r"
    command = [sys.executable, "-m", "lemgrid.experiments.cli", "sweep", path, "--results", str(results)]
    sweep = subprocess.Popen(
        [*command, "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while not list(results.glob("*/seed=*/run.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    workers = _children(sweep.pid)
    assert workers, "the sweep started no workers"
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "workers outlived their sweep"
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    runs = pd.read_parquet(results / "runs.parquet")
    assert len(runs) == 4 and (runs.status == "done").all()
    assert not _leftovers(results)


def test_a_balanced_net_without_derive_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net_file = tmp_path / "cigre.json"
    pp.to_json(pp.networks.create_cigre_network_lv(), str(net_file))
    args = ["run", "--quiet", *QUICK, "--set", "feeder.name=custom", "--set", f"feeder.file={net_file}"]
    refused(capsys, args, "feeder.file", "lacks three-phase columns", "feeder.three_phase: derive")


def test_a_net_without_loads_and_without_households_file_is_refused(
    tmp_path: Path, landnetz: pp.pandapowerNet, capsys: pytest.CaptureFixture[str]
) -> None:
    net_file = tmp_path / "net.json"
    pp.to_json(landnetz, str(net_file))  # the ready-made feeder's net: its loads are now households
    args = ["run", "--quiet", *QUICK, "--set", "feeder.name=custom", "--set", f"feeder.file={net_file}"]
    refused(capsys, args, "feeder.file", "no loads", "feeder.households_file")


def test_png_figures_without_chromium_are_refused_before_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lemgrid.viz.serve.find_chromium", lambda: None)
    refused(capsys, ["report", str(tmp_path / "nowhere"), "--png", str(tmp_path / "png")], "needs Chromium")
    assert not (tmp_path / "png").exists()
