"""Serving the browser app: the command ``lemgrid viz`` runs, and a throwaway server for tests.

Imports neither solara nor the model, so the command line stays quick.
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def viz_command(host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve the browser app: offline, no telemetry."""
    plotly = importlib.util.find_spec("plotly")
    assert plotly is not None and plotly.submodule_search_locations is not None
    # plotly's widget JavaScript, fetched by the page as /static/assets/widgetbundle.js (viz.panels)
    widget_js = f"{plotly.submodule_search_locations[0]}/package_data"
    assets = [os.environ.get("SOLARA_ASSETS_EXTRA_LOCATIONS", ""), widget_js]
    env = {
        **os.environ,
        "SOLARA_ASSETS_EXTRA_LOCATIONS": ",".join(a for a in assets if a),
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # solara would report usage to mixpanel
        "SOLARA_THEME_SHOW_BANNER": "False",
    }
    command = [sys.executable, "-m", "solara", "run", "lemgrid.viz.app", "--host", host, "--port", str(port)]
    return [*command, "--production", "--no-open", "--no-check-version"], env


def find_chromium() -> str | None:
    """The Chromium from the Debian package (``.ci/install-browser``), if there is one."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def running_app(timeout_s: float = 90.0) -> Iterator[int]:
    """Serve the app on a free loopback port until the block ends; yields the port once it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command, env = viz_command("127.0.0.1", port)
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the app did not start listening on port {port}") from None
                time.sleep(0.3)
        yield port
    finally:
        stop(server)


def stop(server: subprocess.Popen, grace_s: float = 5.0) -> int:
    """End the app's server: ask it to stop, and kill it if it is still there after ``grace_s``.

    uvicorn's graceful shutdown waits for every open browser connection, so a
    plain terminate can leave the server running after ``lemgrid viz`` returned.
    """
    if server.poll() is None:
        server.terminate()
        try:
            return server.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            server.kill()
    return server.wait()
