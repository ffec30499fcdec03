"""The lemgrid browser app: ``lemgrid viz`` (or ``solara run viz/app.py``).

Mesa's SolaraViz gives the controls (Reset, Play/Pause, Step, play and render
intervals) and the model parameters; the panels are plotly figures from
:mod:`viz.figures`: the feeder map (buses coloured by a phase's voltage or by
VUF, congested lines, households by device mix and strategy, the interval's
trades), the market (price against retail and feed-in tariff, volume, order
book, zonal prices), the grid (transformer loading, voltage extremes with the
limits, unbalance, losses) and a sortable table of the households.
"""

import json

import plotly.graph_objects as go
import plotly.io as pio
import solara
from mesa.visualization.solara_viz import ModelController, ModelCreator, update_counter
from plotly.graph_objs import FigureWidget

from lemgrid.agents.strategies import STRATEGIES
from lemgrid.grid.feeders import FEEDERS
from lemgrid.model import Model, Scenario
from lemgrid.model.constraints import CONSTRAINT_MODES
from lemgrid.model.market import MECHANISMS
from lemgrid.model.pricing import PRICING_DESIGNS
from lemgrid.model.tariffs import TARIFFS
from lemgrid.viz.figures import (
    COLOUR_BY,
    agents_table,
    feeder_map,
    grid_figure,
    market_figure,
    order_book_figure,
)

STRATEGY_CHOICES = [*STRATEGIES, "mix: zip 0.3, zi_c 0.5, q_learning 0.2"]
MIXES = {"mix: zip 0.3, zi_c 0.5, q_learning 0.2": "{zip: 0.3, zi_c: 0.5, q_learning: 0.2}"}


class VizModel(Model):
    """A lemgrid model built from the app's controls (every other scenario key at its default)."""

    def __init__(
        self,
        pricing: str = "uniform",
        mechanism: str = "default",
        tariff: str = "none",
        constraint_mode: str = "none",
        strategy: str = "truthful",
        pv: float = 0.6,
        battery: float = 0.3,
        ev: float = 0.3,
        feeder: str = "ieee_european_lv",
        seed: int = 42,
    ) -> None:
        overrides = [
            f"market.pricing={pricing}",
            f"tariff.kind={tariff}",
            f"market.constraint_mode={constraint_mode}",
            f"households.strategy={MIXES.get(strategy, strategy)}",
            f"penetration.pv={pv}",
            f"penetration.battery={battery}",
            f"penetration.ev={ev}",
            f"feeder.name={feeder}",
            f"seed={int(seed)}",
            "days=7",
            "grid.solver=power_grid_model",
            "output.bus_voltages=none",
        ]
        if mechanism != "default":
            overrides.append(f"market.mechanism={mechanism}")
        super().__init__(Scenario.load(None, overrides))

    def step(self) -> None:
        """One interval; a finished run stays where it is."""
        if self.interval < self.config.n_intervals:
            super().step()


def _select(label: str, value: str, values: list[str]) -> dict:
    return {"type": "Select", "value": value, "values": values, "label": label}


MODEL_PARAMS = {
    "pricing": _select("pricing design", "uniform", list(PRICING_DESIGNS)),
    "mechanism": _select("mechanism (default: the design's)", "default", ["default", *MECHANISMS]),
    "tariff": _select("network tariff", "none", list(TARIFFS)),
    "constraint_mode": _select("constraint mode", "none", list(CONSTRAINT_MODES)),
    "strategy": _select("strategy mix", "truthful", STRATEGY_CHOICES),
    "pv": {
        "type": "SliderFloat",
        "value": 0.6,
        "min": 0.0,
        "max": 1.0,
        "step": 0.1,
        "label": "PV penetration",
    },
    "battery": {
        "type": "SliderFloat",
        "value": 0.3,
        "min": 0.0,
        "max": 1.0,
        "step": 0.1,
        "label": "battery penetration",
    },
    "ev": {
        "type": "SliderFloat",
        "value": 0.3,
        "min": 0.0,
        "max": 1.0,
        "step": 0.1,
        "label": "EV penetration",
    },
    "feeder": _select("feeder", "ieee_european_lv", [f for f in FEEDERS if f != "kerber_substation"]),
    "seed": {"type": "InputText", "value": "42", "label": "seed"},
}


@solara.component
def LiveFigure(fig: go.Figure) -> solara.Element:
    """A plotly figure widget that is created once and then updated in place.

    solara's ``FigurePlotly`` replaces every trace on each render (adds the new
    ones, then drops the old); this sends only the trace properties and layout
    that changed, in one batch, so the feeder's fixed lines are never resent.
    The figures in :mod:`viz.figures` keep the same traces from step to step.
    """
    element = FigureWidget.element()

    def update() -> None:
        widget: FigureWidget = solara.get_widget(element)
        # plain JSON values (NaN -> null): numpy arrays in the widget's state break its sync
        plain = json.loads(pio.to_json(fig, validate=False))
        if len(widget.data) != len(fig.data):  # the first time: everything
            with widget.batch_update():
                widget.add_traces(plain["data"])
                widget.layout = plain["layout"]
            return
        plain["layout"].pop("template", None)  # the same every time, and by far the largest part
        with widget.batch_update():
            for shown, new in zip(widget.data, plain["data"], strict=True):
                shown.update(new)
            widget.layout.update(plain["layout"])

    solara.use_effect(update, [fig])
    return element


@solara.component
def Status(model: Model) -> None:
    """What is running and when: the design, the interval and its time."""
    update_counter.get()
    cfg = model.config
    k = max(model.interval - 1, 0)
    solara.Markdown(
        f"**interval {model.interval} of {cfg.n_intervals}** ({model.times[k]:%a %d %b %H:%M}) · "
        f"pricing: **{cfg.market.pricing}** ({cfg.market.clearing_mechanism}) · tariff: {cfg.tariff.kind} · "
        f"constraints: {cfg.market.constraint_mode} · feeder: {cfg.feeder.name} · seed {cfg.seed}"
    )


@solara.component
def FeederMap(model: Model) -> None:
    """The map, coloured as chosen."""
    update_counter.get()
    colour_by, set_colour_by = solara.use_state("voltage a")
    solara.ToggleButtonsSingle(value=colour_by, values=list(COLOUR_BY), on_value=set_colour_by)
    LiveFigure(feeder_map(model, colour_by))


@solara.component
def MarketPanel(model: Model) -> None:
    """Prices, volume and the order book."""
    update_counter.get()
    with solara.Columns([1, 1]):
        LiveFigure(market_figure(model))
        LiveFigure(order_book_figure(model))


@solara.component
def GridPanel(model: Model) -> None:
    """Loading, voltages, unbalance, losses over time."""
    update_counter.get()
    LiveFigure(grid_figure(model))


@solara.component
def AgentsPanel(model: Model) -> None:
    """The households, sortable by any column."""
    update_counter.get()
    solara.DataFrame(agents_table(model), items_per_page=15)


model = solara.reactive(VizModel())


@solara.component
def Page() -> None:
    """The app: Mesa's SolaraViz controls and parameter form on the left, the panels beside them.

    SolaraViz's own page arranges components in a draggable grid whose tabs do
    not render with solara 1.58 (the newest release whose front-end assets ship
    in ``solara-assets``, which keeps the app offline), so this page lays the
    panels out itself and reuses SolaraViz's ``ModelController`` (Reset, Play,
    Step, play and render intervals) and ``ModelCreator`` (the parameter form).
    """
    parameters: solara.Reactive[dict] = solara.use_reactive({})
    play_interval = solara.use_reactive(50)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    solara.Title("lemgrid")
    with solara.Columns([1, 3]):
        with solara.Column():
            solara.Markdown("### lemgrid: a local energy market on a three-phase LV feeder")
            with solara.Card("Controls"):
                solara.SliderInt("Play interval (ms)", value=play_interval, min=1, max=1000)
                solara.SliderInt("Render every N steps", value=render_interval, min=1, max=96)
                ModelController(
                    model,
                    model_parameters=parameters,
                    play_interval=play_interval,
                    render_interval=render_interval,
                    use_threads=use_threads,
                )
            with solara.Card("Scenario"):
                ModelCreator(model, MODEL_PARAMS, model_parameters=parameters)
        with solara.Column():
            Status(model.value)
            FeederMap(model.value)
            MarketPanel(model.value)
            GridPanel(model.value)
            AgentsPanel(model.value)
