"""How long one Step of the browser app takes to show, measured in headless Chromium.

Usage: python benchmarks/viz_step.py [--steps N]

Starts ``lemgrid viz`` on a free port, opens it in the Debian Chromium through
Playwright, and times from the Step click until the page shows the next
interval (and two animation frames later, when plotly has drawn). Target: well
under a second for the default scenario.
"""

import argparse
import statistics
import sys

from playwright.sync_api import sync_playwright

from lemgrid.viz.serve import find_chromium, running_app

STEP_AND_WAIT = """async (k) => {
    const t0 = performance.now();
    [...document.querySelectorAll('button')].find(b => b.innerText.trim().toUpperCase() === 'STEP').click();
    while (!document.body.innerText.includes('interval ' + k + ' of')) {
        await new Promise(r => setTimeout(r, 5));
    }
    const shown = performance.now() - t0;
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    return [shown, performance.now() - t0];
}"""


def main(argv: list[str] | None = None) -> list[tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        sys.exit("needs Chromium: bash .ci/install-browser")
    with running_app() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle", timeout=90_000)
        page.get_by_text("interval 0 of").wait_for(timeout=90_000)
        times = [tuple(page.evaluate(STEP_AND_WAIT, k)) for k in range(1, args.steps + 1)]
        browser.close()
    later = [t[1] for t in times[1:]]  # the first step also warms up the page
    print(
        f"first step: {times[0][1]:.0f} ms; next {len(later)}: median {statistics.median(later):.0f} ms, "
        f"max {max(later):.0f} ms (target: well under 1000 ms; ratio {statistics.median(later) / 1000:.2f})"
    )
    return times


if __name__ == "__main__":
    main()
