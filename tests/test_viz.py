"""The browser app: its panels as solara components, and the whole app in a real headless Chromium."""

import shutil
from pathlib import Path

import pytest
import solara

from lemgrid.viz.app import AgentsPanel, FeederMap, GridPanel, MarketPanel, Page, Status, VizModel
from lemgrid.viz.figures import agents_table, feeder_map, grid_figure, market_figure, order_book_figure
from lemgrid.viz.serve import find_chromium, running_app


@pytest.fixture(scope="module")
def stepped() -> VizModel:
    model = VizModel(pv=0.6, battery=0.3, ev=0.3)
    for _ in range(48):  # to midday: PV, trades, a power flow
        model.step()
    return model


def test_panels_render_as_solara_components(stepped: VizModel) -> None:
    for component in (Status, FeederMap, MarketPanel, GridPanel, AgentsPanel):
        solara.render(component(stepped), handle_error=False)
    solara.render(Page(), handle_error=False)


def test_figures_carry_the_models_state(stepped: VizModel) -> None:
    fig = feeder_map(stepped, "voltage b")
    buses = next(t for t in fig.data if t.name == "buses")
    assert len(buses.x) == len(stepped.feeder.net.bus)
    assert list(buses.marker.color) == pytest.approx(list(stepped.last_grid.vm_pu[:, 1]))
    trades = next(t for t in fig.data if t.name == "trades")
    assert len(trades.x) == 3 * sum(t.energy_kwh > 0 for t in stepped.last_clearing.trades)
    households = next(t for t in fig.data if t.name == "households")
    assert len(households.x) == 55 and "truthful" in households.text[0]
    vuf = next(t for t in feeder_map(stepped, "VUF").data if t.name == "buses")
    assert max(vuf.marker.color) == pytest.approx(stepped.last_metrics.vuf_max_percent, rel=1e-6)
    # the same traces before and after a step: the page updates them in place
    fresh = VizModel()
    for make in (feeder_map, market_figure, order_book_figure, grid_figure):
        assert len(make(fresh).data) == len(make(stepped).data)
    price = next(t for t in market_figure(stepped).data if t.name == "local price")
    assert len(price.x) == 48
    table = agents_table(stepped)
    assert len(table) == 55 and table["bill EUR"].sum() == pytest.approx(
        sum(h.bill_eur for h in stepped.households),
        abs=55 * 0.0005,  # shown rounded to 0.001 EUR
    )


CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: bash .ci/install-browser (CI runs it)")
def test_the_app_in_a_real_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with running_app() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})

        def only_this_machine(route) -> None:  # offline: nothing may leave the machine
            url = route.request.url
            if url.startswith((f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", "data:", "blob:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        page.route("**/*", only_this_machine)
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=90_000)
        expect(page.get_by_text("interval 0 of 672")).to_be_visible(timeout=90_000)
        for k in range(1, 4):
            page.locator("button.v-btn", has_text="Step").click()
            expect(page.get_by_text(f"interval {k} of 672")).to_be_visible(timeout=30_000)
        # the map and the charts drew their data
        expect(page.locator(".main-svg").first).to_be_visible()
        assert page.locator(".main-svg").count() >= 4
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
        browser.close()
    assert outside == []  # no CDN, no telemetry
