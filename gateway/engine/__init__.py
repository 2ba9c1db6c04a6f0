"""The fever decision engine: calibration, validity and the re-check protocol over numpy
columns, shared by the gateway and ``thermogate replay`` (docs/detection.md)."""

from thermogate.gateway.engine.calibration import Calibrator
from thermogate.gateway.engine.codes import DECISION_LABELS, REASON_LABELS, Decision, Reason
from thermogate.gateway.engine.engine import (
    DecisionEngine,
    EngineEvent,
    EngineInput,
    EngineOutput,
    EventKind,
)

__all__ = [
    "DECISION_LABELS",
    "REASON_LABELS",
    "Calibrator",
    "Decision",
    "DecisionEngine",
    "EngineEvent",
    "EngineInput",
    "EngineOutput",
    "EventKind",
    "Reason",
]
