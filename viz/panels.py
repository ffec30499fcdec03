"""The lemgrid browser app's page, once its modules are loaded (:mod:`viz.app` serves it).

Each browser session gets its own model (:func:`session_model`; one is built
ahead, while the server starts and after each visitor takes one). The sidebar has the controls
(Reset, Play/Pause, Step, speed, intervals per frame, a time slider back
through the recorded intervals) and the scenario; the panels are plotly
figures from :mod:`viz.figures`: the feeder map (buses on fixed voltage or VUF
scales, lines by loading band, households by zone with live hover, trades as
arrows), the market (price against retail and feed-in tariff, volume, order
book, zonal prices), the grid (transformer loading, voltage extremes with the
limits, unbalance, losses) over clock time, and a sortable household table.

The page draws only from :class:`viz.frames.Frame` snapshots taken after each
step, so a figure never sees the model half-way through a step. It uses
solara directly (no Mesa SolaraViz: importing ``mesa.visualization`` costs
seconds of start-up for altair and matplotlib, which the app does not use)
and nothing that loads from a CDN (no ``solara.Markdown``: it fetches KaTeX).
"""

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import plotly.graph_objects as go
import plotly.io as pio
import solara
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
from lemgrid.viz.frames import Frame, take_frame

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
        self.lock = threading.Lock()  # one step at a time, whichever button or thread asks
        self.frames: list[Frame] = [take_frame(self)]

    @property
    def finished(self) -> bool:
        """Every interval of the run is done."""
        return self.interval >= self.config.n_intervals

    def step(self) -> None:
        """One interval, then its frame; a finished run stays where it is."""
        with self.lock:
            if not self.finished:
                super().step()
                self.frames.append(take_frame(self))


DRAW_WAIT_S = 30.0  # Play steps on after this long without the browser's word (a closed or stuck tab)


class Drawn:
    """The newest step counter (``version``) the browser has drawn; Play waits for it.

    Without it Play steps as fast as the server renders and the browser falls
    further behind every frame (measured: a Pause clicked at interval 40 reached
    the server 7 s later, and the page did not show Play again within 30 s).
    """

    def __init__(self) -> None:
        self._version = -1
        self._changed = threading.Condition()

    def drawn(self, version: int) -> None:
        """The browser reports that it has drawn ``version``."""
        with self._changed:
            self._version = max(self._version, version)
            self._changed.notify_all()

    def wait(self, version: int, stop: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``version`` is drawn, ``stop()`` holds or ``timeout_s`` passed; whether it was drawn."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._version < version and not stop():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.05))
            return self._version >= version


@solara.component_vue("drawn.vue")
def DrawnReport(version: int, event_drawn: Callable[[int], None]) -> None:
    """An invisible element that reports each ``version`` the browser has drawn to ``event_drawn``."""


FEEDER_CHOICES = [f for f in FEEDERS if f != "kerber_substation"]
DEFAULTS = {
    "pricing": "uniform",
    "mechanism": "default",
    "tariff": "none",
    "constraint_mode": "none",
    "strategy": "truthful",
    "pv": 0.6,
    "battery": 0.3,
    "ev": 0.3,
    "feeder": "ieee_european_lv",
    "seed": 42,
}


def plain(fig: go.Figure) -> str:
    """A figure as JSON (NaN -> null): cheap to compare between renders, unlike a plotly figure."""
    return pio.to_json(fig, validate=False)


class PlotlyWidget(FigureWidget):
    """plotly's figure widget, with its 5 MB of JavaScript fetched once per page as a file.

    plotly's ``FigureWidget`` sends its whole JavaScript bundle over the
    websocket with every widget, and the browser evaluates it again for each:
    four figures made a page take most of a minute to appear. This one imports
    the bundle from the server (``viz.serve`` adds plotly's files to solara's
    assets), so the browser fetches and evaluates it once.
    """

    _esm = """
const root = `${location.origin}${window.solara?.rootPath ?? ""}`;
const bundle = await import(`${root}/static/assets/widgetbundle.js`);
export default bundle.default;
"""


@solara.component
def LiveFigure(fig_json: str) -> solara.Element:
    """A plotly figure widget that is created once and then updated in place.

    solara's ``FigurePlotly`` replaces every trace on each render (adds the new
    ones, then drops the old); this sends only the trace properties and layout
    that changed, in one batch, so the feeder's fixed lines are never resent.
    It takes the figure as JSON (see :func:`plain`): comparing plotly figures
    between renders costs more than drawing them.
    """
    element = PlotlyWidget.element()

    def update() -> None:
        widget: PlotlyWidget = solara.get_widget(element)
        # plain JSON values: numpy arrays in the widget's state break its sync
        figure = json.loads(fig_json)
        if len(widget.data) != len(figure["data"]):  # the first time, or another feeder: everything
            with widget.batch_update():
                widget.data = ()
                widget.add_traces(figure["data"])
                widget.layout = figure["layout"]
            return
        figure["layout"].pop("template", None)  # the same every time, and by far the largest part
        # the trade arrows change in number: replaced whole, outside the batch (plotly.js refuses a
        # batch that sets both the list and an item of it)
        annotations = figure["layout"].pop("annotations", [])
        with widget.batch_update():
            for shown, new in zip(widget.data, figure["data"], strict=True):
                shown.update(new)
            widget.layout.update(figure["layout"])
        if annotations or widget.layout.annotations:
            widget.layout.annotations = annotations

    solara.use_effect(update, [fig_json])
    return element


@solara.component
def Status(model: VizModel, frame: Frame) -> None:
    """What is running and when: the design, the interval and its time."""
    cfg = model.config
    solara.HTML(
        tag="div",
        unsafe_innerHTML=(
            f"<b>interval {frame.interval} of {cfg.n_intervals}</b> ({frame.time:%a %d %b %H:%M}) · "
            f"pricing: <b>{cfg.market.pricing}</b> ({cfg.market.clearing_mechanism}) · "
            f"tariff: {cfg.tariff.kind} · constraints: {cfg.market.constraint_mode} · "
            f"feeder: {cfg.feeder.name} · seed {cfg.seed}"
        ),
    )


@solara.component
def FeederMap(model: VizModel, frame: Frame) -> None:
    """The map, coloured as chosen."""
    colour_by, set_colour_by = solara.use_state("voltage a")
    solara.ToggleButtonsSingle(value=colour_by, values=list(COLOUR_BY), on_value=set_colour_by)
    LiveFigure(plain(feeder_map(model, frame, colour_by)))


@solara.component
def MarketPanel(model: VizModel, frame: Frame) -> None:
    """Prices, volume and the order book."""
    with solara.Columns([1, 1]):
        LiveFigure(plain(market_figure(model, frame)))
        LiveFigure(plain(order_book_figure(model, frame)))


@solara.component
def GridPanel(model: VizModel, frame: Frame) -> None:
    """Loading, voltages, unbalance, losses over time."""
    LiveFigure(plain(grid_figure(model, frame)))


@solara.component
def AgentsPanel(frame: Frame) -> None:
    """The households, sorted by the chosen column."""
    sort_by, set_sort_by = solara.use_state("bill EUR")
    descending, set_descending = solara.use_state(True)
    with solara.Row():
        solara.Select(
            "sort households by", value=sort_by, values=list(frame.households), on_value=set_sort_by
        )
        solara.Checkbox(label="descending", value=descending, on_value=set_descending)
    solara.DataFrame(agents_table(frame, sort_by, descending), items_per_page=15)


@solara.component
def Controls(
    model: solara.Reactive[VizModel],
    shown: solara.Reactive[int | None],
    version: solara.Reactive[int],
    params: dict,
    drawn: Drawn,
) -> None:
    """Reset, Play/Pause, Step, speed, intervals per frame and the time slider.

    Play steps the session's model in a thread; each step appends a frame and
    the page follows the newest one unless the slider holds an earlier one. The
    thread steps again only once the browser has drawn the last frame (or after
    ``DRAW_WAIT_S``), so a slow browser slows Play instead of falling behind it.
    """
    playing = solara.use_reactive(False)
    delay_ms = solara.use_reactive(100)
    per_frame = solara.use_reactive(1)
    error = solara.use_reactive("")

    halt = solara.use_memo(threading.Event, [])  # Pause and Reset stop the thread at once through it

    def play(cancel: threading.Event) -> None:
        if not playing.value:
            return
        current = model.value
        while not halt.is_set() and not cancel.is_set() and not current.finished:
            time.sleep(delay_ms.value / 1000)
            try:
                for _ in range(per_frame.value):
                    current.step()
            except Exception as exc:  # shown on the page instead of a dead thread
                error.value = f"step failed: {exc}"
                break
            version.value += 1
            drawn.wait(version.value, lambda: halt.is_set() or cancel.is_set(), DRAW_WAIT_S)
        if not halt.is_set() and not cancel.is_set():  # finished or failed: the button shows Play
            playing.value = False

    solara.use_thread(play, dependencies=[playing.value, model.value], intrusive_cancel=False)

    def play_pause() -> None:
        if playing.value:
            halt.set()
        else:
            halt.clear()
        playing.value = not playing.value

    def step() -> None:
        for _ in range(per_frame.value):
            model.value.step()
        version.value += 1

    def reset() -> None:
        halt.set()
        playing.value = False
        error.value = ""
        shown.value = None
        model.value = VizModel(**params)
        version.value += 1

    finished = model.value.finished
    with solara.Row():
        solara.Button("Reset", color="primary", on_click=reset)
        solara.Button(
            "Pause" if playing.value else "Play",
            color="primary",
            disabled=finished,
            on_click=play_pause,
        )
        solara.Button("Step", color="primary", disabled=playing.value or finished, on_click=step)
    # at least 50 ms: the server takes the clicks (Pause) in between, even on a busy machine
    solara.SliderInt("pause between frames (ms)", value=delay_ms, min=50, max=1000, step=10)
    solara.SliderInt("intervals per frame", value=per_frame, min=1, max=96)
    last = len(model.value.frames) - 1
    solara.SliderInt(
        "interval shown (left: back in time)",
        value=last if shown.value is None else min(shown.value, last),
        min=0,
        max=max(last, 1),
        on_value=lambda k: shown.set(None if k >= last else k),
    )
    if shown.value is not None:
        solara.Button("back to live", text=True, on_click=lambda: shown.set(None))
    if error.value:
        solara.Error(error.value)


@solara.component
def ScenarioForm(params: solara.Reactive[dict]) -> None:
    """The scenario of the next Reset."""

    def field(key: str):  # noqa: ANN202
        return lambda value: params.set({**params.value, key: value})

    p = params.value
    solara.Select(
        "pricing design", value=p["pricing"], values=list(PRICING_DESIGNS), on_value=field("pricing")
    )
    solara.Select(
        "mechanism (default: the design's)",
        value=p["mechanism"],
        values=["default", *MECHANISMS],
        on_value=field("mechanism"),
    )
    solara.Select("network tariff", value=p["tariff"], values=list(TARIFFS), on_value=field("tariff"))
    solara.Select(
        "constraint mode",
        value=p["constraint_mode"],
        values=list(CONSTRAINT_MODES),
        on_value=field("constraint_mode"),
    )
    solara.Select("strategy mix", value=p["strategy"], values=STRATEGY_CHOICES, on_value=field("strategy"))
    for key, label in (
        ("pv", "PV penetration"),
        ("battery", "battery penetration"),
        ("ev", "EV penetration"),
    ):
        solara.SliderFloat(label, value=p[key], min=0.0, max=1.0, step=0.1, on_value=field(key))
    solara.Select("feeder", value=p["feeder"], values=FEEDER_CHOICES, on_value=field("feeder"))
    solara.InputInt("seed", value=p["seed"], on_value=field("seed"))


_lock = threading.Lock()
_ahead: Future[VizModel] | None = None  # the next visitor's model


def build_ahead() -> None:
    """Start building the next visitor's default model in a background thread, unless one is."""
    global _ahead
    with _lock:
        if _ahead is not None:
            return
        future: Future[VizModel] = Future()
        _ahead = future
    threading.Thread(target=_build, args=(future,), name="lemgrid-model-ahead", daemon=True).start()


def _build(future: Future[VizModel]) -> None:
    try:
        future.set_result(VizModel())
    except Exception as exc:  # the session that takes it builds its own and sees the error
        future.set_exception(exc)


def session_model() -> VizModel:
    """A new session's own model: the one built ahead (then the next is started), or a new one."""
    global _ahead
    build_ahead()
    with _lock:
        ahead, _ahead = _ahead, None  # None if another session took it first
    model = None
    try:
        model = ahead.result() if ahead is not None else None
    except Exception:  # noqa: BLE001 - built again below, where the error reaches the page
        model = None
    build_ahead()
    return model if model is not None else VizModel()


@solara.component
def Main(first: VizModel) -> None:
    """The app: controls and scenario on the left, the panels beside them, for this session's model."""
    model: solara.Reactive[VizModel] = solara.use_reactive(first)
    params = solara.use_reactive(dict(DEFAULTS))
    shown: solara.Reactive[int | None] = solara.use_reactive(None)
    version = solara.use_reactive(0)  # counts steps: a change re-renders the page
    version.get()
    drawn = solara.use_memo(Drawn, [])
    current = model.value
    frames = current.frames
    frame = frames[-1] if shown.value is None else frames[min(shown.value, len(frames) - 1)]
    with solara.Columns([1, 3]):
        with solara.Column():
            solara.HTML(
                tag="h3", unsafe_innerHTML="lemgrid: a local energy market on a three-phase LV feeder"
            )
            with solara.Card("Controls"):
                Controls(model, shown, version, params.value, drawn)
            with solara.Card("Scenario (applied by Reset)"):
                ScenarioForm(params)
        with solara.Column():
            Status(current, frame)
            FeederMap(current, frame)
            MarketPanel(current, frame)
            GridPanel(current, frame)
            AgentsPanel(frame)
            DrawnReport(version=version.value, event_drawn=drawn.drawn)
