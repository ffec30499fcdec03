"""The lemgrid browser app: ``lemgrid viz`` (or ``solara run lemgrid.viz.app``).

This module is what solara imports before its server listens, so it imports
nothing heavy: the model and the panels (:mod:`viz.panels`, with pandapower,
Mesa and plotly: 10-20 s of imports on a busy 2-core machine) load in a
background thread, which then builds the first visitor's model while the
browser is still fetching the page. Until a session has its model, the page
says what it is waiting for.
"""

import threading
from typing import TYPE_CHECKING

import solara

if TYPE_CHECKING:
    from lemgrid.viz.panels import VizModel


def _load() -> None:
    from lemgrid.viz import panels

    panels.build_ahead()


def _session_model(cancel: threading.Event) -> "VizModel":
    from lemgrid.viz import panels  # waits for the import under way in the thread below, if any

    return panels.session_model()


threading.Thread(target=_load, name="lemgrid-load", daemon=True).start()


@solara.component
def Page() -> None:
    """The page of a session, for its own model; a note while the model is being built."""
    solara.Title("lemgrid")
    model = solara.use_thread(_session_model, dependencies=[], intrusive_cancel=False)
    if model.state == solara.ResultState.FINISHED and model.value is not None:
        from lemgrid.viz.panels import Main

        Main(model.value)
    elif model.state == solara.ResultState.ERROR:
        solara.Error(f"the model could not be built: {model.error}")
    else:
        solara.HTML(tag="h3", unsafe_innerHTML="lemgrid: building this session's model ...")
