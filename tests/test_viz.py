"""The browser app: its panels as solara components, and the whole app in a real headless Chromium."""

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import solara

from lemgrid.viz.app import Page
from lemgrid.viz.figures import (
    VOLTAGE_RANGE_PU,
    agents_table,
    feeder_map,
    grid_figure,
    market_figure,
    order_book_figure,
)
from lemgrid.viz.frames import take_frame
from lemgrid.viz.panels import (
    AgentsPanel,
    Drawn,
    FeederMap,
    GridPanel,
    Main,
    MarketPanel,
    Status,
    VizModel,
)
from lemgrid.viz.serve import find_chromium, running_app


@pytest.fixture(scope="module")
def stepped() -> VizModel:
    model = VizModel(pv=0.6, battery=0.3, ev=0.3)
    for _ in range(48):  # to midday: PV, trades, a power flow
        model.step()
    return model


def test_panels_render_as_solara_components(stepped: VizModel) -> None:
    frame = stepped.frames[-1]
    for component in (Status, FeederMap, MarketPanel, GridPanel):
        solara.render(component(stepped, frame), handle_error=False)
    solara.render(AgentsPanel(frame), handle_error=False)
    solara.render(Main(stepped), handle_error=False)
    solara.render(Page(), handle_error=False)  # builds its model in a thread, says so meanwhile


def test_figures_carry_the_frames_state(stepped: VizModel) -> None:
    frame = stepped.frames[-1]
    assert len(stepped.frames) == 49 and frame.interval == 48
    fig = feeder_map(stepped, frame, "voltage b")
    buses = next(t for t in fig.data if t.name == "buses")
    assert len(buses.x) == len(stepped.feeder.net.bus)
    assert list(buses.marker.color) == pytest.approx(list(stepped.last_grid.vm_pu[:, 1]))
    assert (buses.marker.cmin, buses.marker.cmax, buses.marker.cmid) == (*VOLTAGE_RANGE_PU, 1.0)
    assert "V a/b/c" in buses.text[0]
    # every trade an arrow from seller to buyer, wider for more energy
    trades = [t for t in stepped.last_clearing.trades if t.energy_kwh > 1e-9]
    assert len(fig.layout.annotations) == len(trades) > 0
    widths = [a.arrowwidth for a in fig.layout.annotations]
    assert widths[int(np.argmax([t.energy_kwh for t in trades]))] == max(widths)
    households = [t for t in fig.data if t.name.startswith("households")]
    assert sum(len(t.x) for t in households) == 55
    assert "bill so far" in households[0].text[0] and "order:" in households[0].text[0]
    vuf = next(t for t in feeder_map(stepped, frame, "VUF").data if t.name == "buses")
    assert max(vuf.marker.color) == pytest.approx(stepped.last_metrics.vuf_max_percent, rel=1e-6)
    # the same traces and colour range before and after a step: the page updates them in place
    fresh = VizModel()
    for make in (feeder_map, market_figure, order_book_figure, grid_figure):
        assert len(make(fresh, fresh.frames[0]).data) == len(make(stepped, frame).data)
    before = next(t for t in feeder_map(fresh, fresh.frames[0]).data if t.name == "buses").marker
    assert (before.cmin, before.cmax) == VOLTAGE_RANGE_PU
    price = next(t for t in market_figure(stepped, frame).data if t.name == "local price")
    assert len(price.x) == 48 and str(price.x[-1]).startswith("2026-06-01T11:45")  # clock time
    earlier = next(t for t in market_figure(stepped, stepped.frames[10]).data if t.name == "local price")
    assert len(earlier.x) == 10  # the time slider's view of interval 10
    table = agents_table(frame)
    assert len(table) == 55 and table["bill EUR"].is_monotonic_decreasing
    assert table["bill EUR"].sum() == pytest.approx(
        sum(h.bill_eur for h in stepped.households),
        abs=55 * 0.0005,  # shown rounded to 0.001 EUR
    )


def test_each_session_gets_its_own_model_one_built_ahead() -> None:
    from lemgrid.viz import panels

    first = panels.session_model()
    assert panels._ahead is not None  # the next visitor's, under way
    second = panels.session_model()
    assert first is not second and first.interval == second.interval == 0
    first.step()
    assert (first.interval, second.interval) == (1, 0)
    assert len(first.frames) == 2 and len(second.frames) == 1


def test_play_waits_until_the_browser_has_drawn_the_frame() -> None:
    drawn = Drawn()
    assert not drawn.wait(0, lambda: False, 0.05)  # nothing drawn yet: Play steps on after the timeout
    threading.Timer(0.05, drawn.drawn, args=(3,)).start()  # the browser's report, from another thread
    assert drawn.wait(3, lambda: False, 30.0)
    assert drawn.wait(2, lambda: False, 0.0)  # an earlier frame: drawn already
    asked: list[bool] = []

    def paused() -> bool:  # Pause (or Reset) after a few looks
        asked.append(True)
        return len(asked) >= 3

    assert not drawn.wait(4, paused, 30.0)
    assert len(asked) == 3  # it ended on Pause, not on the timeout


def test_figures_stay_consistent_while_the_model_steps_in_another_thread() -> None:
    # the page crashed on Play: it built a table from interval_rows while they grew
    model = VizModel()
    stepper = threading.Thread(target=lambda: [model.step() for _ in range(60)])
    stepper.start()
    while stepper.is_alive():
        frame = model.frames[-1]
        grid_figure(model, frame)
        feeder_map(model, frame)
    stepper.join()
    assert model.frames[-1].interval == 60
    assert take_frame(model).n_rows == 60


CHROMIUM = find_chromium()


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium: bash .ci/install-browser (CI runs it)"
)


def _watch(page, port: int, problems: list[str]) -> None:
    """Collect every page error, console error, failed request and request leaving the machine."""

    def only_this_machine(route) -> None:  # offline: nothing may leave the machine
        url = route.request.url
        if url.startswith((f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", "data:", "blob:")):
            route.continue_()
        else:
            problems.append(f"outside: {url}")
            route.abort()

    page.route("**/*", only_this_machine)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on(
        "requestfailed",  # but the close beacon a page sends as it unloads (a reload aborts it)
        lambda r: None if "/_solara/api/close/" in r.url else problems.append(f"failed: {r.url}"),
    )
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)


def _interval(page) -> int:
    text = page.get_by_text("interval ", exact=False).filter(has_text=" of ").first.inner_text()
    return int(text.split("interval ")[1].split(" of")[0])


def _settled_interval(page) -> int:
    """The interval the page shows once it has not changed for 3 s (it must settle within 60 s)."""
    shown, since = _interval(page), 0
    for _ in range(60):
        page.wait_for_timeout(1000)
        now = _interval(page)
        shown, since = now, (since + 1 if now == shown else 0)
        if since >= 3:
            return shown
    raise AssertionError(f"the page kept stepping: interval {shown} after 60 s")


def _colour_range(page) -> list:
    """The feeder map's colour-scale range as the browser has it (cmin, cmax of the bus markers).

    It waits (up to 60 s) until plotly has drawn the map's data: on a loaded
    machine the four plot elements exist before their data does.
    """
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].some(
            p => (p.data || []).some(t => t.name === 'buses'))""",
        timeout=60_000,
    )
    return page.evaluate(
        """() => {
        const plot = [...document.querySelectorAll('.js-plotly-plot')].find(
            p => (p.data || []).some(t => t.name === 'buses'));
        const buses = plot.data.find(t => t.name === 'buses');
        return [buses.marker.cmin, buses.marker.cmax];
    }"""
    )


@pytest.mark.slow  # over 20 s; runs in make test-slow
@needs_chromium
def test_the_app_in_a_real_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with running_app() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        _watch(page, port, problems)
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=90_000)
        expect(page.get_by_text("interval 0 of 672")).to_be_visible(timeout=90_000)
        for k in range(1, 3):
            page.locator("button.v-btn", has_text="Step").click()
            expect(page.get_by_text(f"interval {k} of 672")).to_be_visible(timeout=30_000)
        # Play, 10 intervals a frame and no pause: the page keeps drawing, with one colour range
        expect(page.locator(".js-plotly-plot")).to_have_count(4, timeout=60_000)  # plotly's JS loaded
        assert _colour_range(page) == [0.9, 1.1]
        sliders = page.get_by_role("slider")
        sliders.nth(0).focus()
        page.keyboard.press("Home")
        sliders.nth(1).focus()
        for _ in range(9):
            page.keyboard.press("ArrowRight")
        page.locator("button.v-btn", has_text="Play").click()
        ranges = []
        for _ in range(60):
            page.wait_for_timeout(1000)
            ranges.append(_colour_range(page))
            if _interval(page) >= 100:
                break
        page.locator("button.v-btn", has_text="Pause").click()
        # Play waits for the browser to draw each frame, so Pause is not queued behind a backlog of
        # frames (before, the page showed Play again minutes later: the model had run on to 642)
        expect(page.locator("button.v-btn", has_text="Play")).to_be_visible(timeout=60_000)
        paused_at = _settled_interval(page)  # stopped, not still stepping behind the page's back
        assert paused_at >= 100
        page.locator("button.v-btn", has_text="Play").click()  # and again
        page.wait_for_function(
            f"() => !document.body.innerText.includes('interval {paused_at} of')", timeout=60_000
        )
        page.locator("button.v-btn", has_text="Pause").click()
        expect(page.locator("button.v-btn", has_text="Play")).to_be_visible(timeout=60_000)
        assert _settled_interval(page) > paused_at
        assert all(r == [0.9, 1.1] for r in ranges)
        assert page.locator(".scatterlayer .trace path").count() > 10
        page.screenshot(path=str(tmp_path / "viz.png"), full_page=True)
        artifacts = Path(__file__).parent / "artifacts"
        artifacts.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "viz.png", artifacts / "viz.png")
        # another pricing design, then Reset: the model is rebuilt with it
        page.locator(".v-field", has_text="pricing design").click()
        page.locator(".v-overlay--active .v-list-item", has_text="zonal").click()
        page.locator("button.v-btn", has_text="Reset").click()
        expect(page.get_by_text("interval 0 of 672")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("pricing: zonal")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("households, zone 2")).to_be_visible(timeout=60_000)  # zones on the map
        browser.close()
    assert problems == []


@pytest.mark.slow  # over 20 s; runs in make test-slow
@needs_chromium
def test_two_browser_sessions_step_their_own_models() -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with running_app() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pages = [browser.new_context().new_page() for _ in range(2)]
        for page in pages:
            _watch(page, port, problems)
            page.goto(f"http://127.0.0.1:{port}/", timeout=90_000)
            expect(page.get_by_text("interval 0 of 672")).to_be_visible(timeout=90_000)
        first, second = pages
        for k in range(1, 4):
            first.locator("button.v-btn", has_text="Step").click()
            expect(first.get_by_text(f"interval {k} of 672")).to_be_visible(timeout=30_000)
        second.locator("button.v-btn", has_text="Step").click()
        expect(second.get_by_text("interval 1 of 672")).to_be_visible(timeout=30_000)
        first.reload()  # a new session: a new model
        expect(first.get_by_text("interval 0 of 672")).to_be_visible(timeout=90_000)
        assert _interval(second) == 1
        browser.close()
    assert problems == []


@needs_chromium
def test_stopping_lemgrid_viz_leaves_no_server_behind() -> None:
    import contextlib
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = [sys.executable, "-m", "lemgrid.experiments.cli", "viz", "--port", str(port)]
    parent = subprocess.Popen(cli, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.time() + 90
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline and parent.poll() is None
            time.sleep(0.3)
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
    assert children  # the solara server
    try:
        with sync_playwright() as p:  # an open page: a websocket the server would wait for
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
            page.get_by_text("interval 0 of").wait_for(timeout=180_000)
            os.kill(parent.pid, signal.SIGINT)  # Ctrl-C to lemgrid viz alone
            assert parent.wait(timeout=90) == 130  # hang guard; over 30 s under heavy load
            browser.close()
        for child in children:
            status = Path(f"/proc/{child}/status")
            assert not status.exists() or "zombie" in status.read_text()
    finally:  # a test that failed before Ctrl-C worked leaves nothing running either
        if parent.poll() is None:  # still running: its children are still its own
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(child), signal.SIGKILL)
            parent.kill()
            parent.wait()
