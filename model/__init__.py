"""The Mesa model, its SimPy clock, the scenario schema, market clearing and settlement."""

from lemgrid.model.model import Model, PowerFlowError
from lemgrid.model.scenario import Scenario, ScenarioError

__all__ = ["Model", "PowerFlowError", "Scenario", "ScenarioError"]
