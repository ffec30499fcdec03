"""The Mesa model, its SimPy clock, the scenario schema, market clearing and settlement."""

from model.model import Model, PowerFlowError
from model.scenario import Scenario, ScenarioError

__all__ = ["Model", "PowerFlowError", "Scenario", "ScenarioError"]
