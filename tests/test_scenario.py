"""Scenario validation: defaults, YAML, overrides and one clear message per bad input."""

from pathlib import Path

import numpy as np
import pytest

from lemgrid.model import Model, Scenario, ScenarioError


def test_defaults_are_valid_and_round_trip_through_json() -> None:
    s = Scenario()
    assert s.n_intervals == 96 and s.interval_hours == 0.25
    assert Scenario.from_json(s.to_json()) == s
    assert s.run_id() == Scenario().run_id()
    assert s.run_id() != Scenario.load(None, ["seed=43"]).run_id()


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "seed: 7\nstart: 2026-01-15\npv:\n  kwp: {dist: choice, values: [3, 4], weights: [1, 3]}\n"
        "market:\n  retail_price_eur_per_kwh: 0.25\n"
    )
    s = Scenario.load(path, ["market.feed_in_tariff_eur_per_kwh=0.05", "penetration.pv=1"])
    assert s.seed == 7 and str(s.start) == "2026-01-15"
    assert s.market.retail_price_eur_per_kwh == 0.25 and s.market.feed_in_tariff_eur_per_kwh == 0.05
    assert s.pv.kwp.support() == (3.0, 4.0)
    assert s.penetration.pv == 1.0


@pytest.mark.parametrize(
    ("override", "field", "value", "rule"),
    [
        ("pv.kwp=-2", "pv.kwp", "-2", r"within \[0.0, 100.0\]"),
        (
            "households.annual_consumption_kwh={dist: uniform, low: -5, high: 10}",
            "households.annual_consumption_kwh",
            "{'dist': 'uniform', 'low': -5",
            r"within \[0.0, inf\]",
        ),
        ("interval_minutes=7", "interval_minutes", "7", "divide a day"),
        (
            "feeder.phase_overrides.LOAD3=d",
            "feeder.phase_overrides.LOAD3",
            "'d'",
            "'a', 'b' or 'c'",
        ),
        ("feeder.name=atlantis", "feeder.name", "'atlantis'", "ieee_european_lv"),
        ("market.mechanism=barter", "market.mechanism", "'barter'", "pay_as_clear"),
        ("grid.solver=magic", "grid.solver", "'magic'", "pandapower"),
        ("households.strategy=psychic", "households.strategy", "'psychic'", "truthful"),
        ("seed=abc", "seed", "'abc'", "valid integer"),
        ("days=0", "days", "0", "greater than or equal to 1"),
        ("penetration.pv=1.5", "penetration.pv", "1.5", "less than or equal to 1"),
        (
            "grid.on_nonconvergence=ignore",
            "grid.on_nonconvergence",
            "'ignore'",
            "'continue' or 'abort'",
        ),
        ("site.timezone=Mars/Olympus", "site.timezone", "'Mars/Olympus'", "IANA time zone"),
        (
            "market.colour=blue",
            "market.colour",
            "'blue'",
            "unknown field; allowed fields here: cda, community",
        ),
        (
            "market.pricing=nodal",
            "market.pricing",
            "'nodal'",
            "'heterogeneous', 'retail_only', 'uniform', 'zonal'",
        ),
        ("market.constraint_mode=pray", "market.constraint_mode", "'pray'", "'post_check'"),
        ("market.loss_allocation=luck", "market.loss_allocation", "'luck'", "'proportional_sharing'"),
        ("tariff.kind=flat", "tariff.kind", "'flat'", "'capacity'"),
        ("attack.kind=virus", "attack.kind", "'virus'", "'price' or 'demand'"),
        ("market.zonal.n_zones=0", "market.zonal.n_zones", "0", "greater than or equal to 1"),
        (
            "market.mechanism=p2p",
            "market",
            "{'mechanism': 'p2p'}",
            "'p2p' does not implement pricing design 'uniform'; allowed: pay_as_clear, community",
        ),
        (
            "weather.clear_day_probability=yes",
            "weather.clear_day_probability",
            "True",
            "valid number",
        ),
    ],
)
def test_invalid_inputs_name_field_value_and_rule(override: str, field: str, value: str, rule: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.load(None, [override])
    message = str(info.value)
    assert f"'{field}'" in message
    assert f"= {value}" in message
    assert len([line for line in message.splitlines() if line.strip().startswith("scenario field")]) == 1
    import re

    assert re.search(rule, message), message


def test_feed_in_above_retail_is_rejected() -> None:
    with pytest.raises(ScenarioError, match="feed_in_tariff_eur_per_kwh \\(0.5\\) must not exceed"):
        Scenario.load(None, ["market.feed_in_tariff_eur_per_kwh=0.5"])


def test_bad_override_syntax_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="key.path=value"):
        Scenario.load(None, ["seed"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ScenarioError, match="mapping"):
        Scenario.load(bad)


def test_unknown_household_in_phase_override_is_rejected_before_running() -> None:
    with pytest.raises(ScenarioError, match="LOAD99"):
        Model(Scenario.load(None, ["feeder.phase_overrides.LOAD99=a"]))


def test_distributions_stay_inside_their_support() -> None:
    rng = np.random.default_rng(0)
    s = Scenario()
    for dist in (s.pv.kwp, s.pv.tilt_deg, s.pv.azimuth_deg, s.households.annual_consumption_kwh):
        lo, hi = dist.support()
        x = dist.sample(rng, 10_000)
        assert x.min() >= lo and x.max() <= hi
    mean = s.households.annual_consumption_kwh.sample(rng, 200_000).mean()
    assert mean == pytest.approx(3500, rel=0.01)  # log-normal parameterised by its arithmetic mean
