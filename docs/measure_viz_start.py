"""Measure how fast ``lemgrid viz`` starts (the README's numbers): python docs/measure_viz_start.py.

Starts ``lemgrid viz`` on a free port, opens the page in the Debian Chromium
through Playwright (as tests/test_viz.py does) and prints, from the command's
start: when the server listens, when the page first shows, when it shows
interval 0 with its four plotly figures drawn, and the server's CPU seconds at
each point (on a busy machine the wall time is mostly waiting for a core). Then
a second browser session, whose model was built ahead. Ends with Ctrl-C to
``lemgrid viz``, as a user would.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from playwright.sync_api import sync_playwright

from lemgrid.viz.serve import find_chromium

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
started = time.time()
command = [sys.executable, "-m", "lemgrid.experiments.cli", "viz", "--port", str(port)]
cli = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_s() -> float:
    """CPU seconds of lemgrid viz and its solara server so far."""
    total = 0.0
    children = open(f"/proc/{cli.pid}/task/{cli.pid}/children").read().split()
    for pid in [cli.pid, *map(int, children)]:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def mark(what: str) -> None:
    """Print the wall and CPU time since the command started."""
    print(f"{time.time() - started:5.1f} s (server CPU {cpu_s():4.1f} s): {what}", flush=True)


while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
mark("the server listens")
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{port}/", timeout=180_000, wait_until="commit")
    mark("the page's HTML arrived")
    page.get_by_text("building this session").or_(page.get_by_text("interval 0 of")).first.wait_for(
        timeout=180_000
    )
    mark("the page shows (the model still being built, or ready)")
    page.get_by_text("interval 0 of").wait_for(timeout=180_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=180_000)
    mark("interval 0 with its four figures drawn")
    second = browser.new_context().new_page()
    begun = time.time()
    second.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
    second.locator(".js-plotly-plot").nth(3).wait_for(timeout=180_000)
    print(f"a second session: its figures drawn {time.time() - begun:.1f} s after it opened the page")
    browser.close()
os.kill(cli.pid, signal.SIGINT)
print(f"lemgrid viz stopped with exit code {cli.wait(timeout=30)}")
print(f"page or console errors: {errors or 'none'}")
print("load average (1, 5, 15 min):", " ".join(open("/proc/loadavg").read().split()[:3]))
