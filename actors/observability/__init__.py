"""Observability: Prometheus metrics, readiness checks, the control endpoint, logging."""

from actors.observability.control import ControlPlane as ControlPlane
from actors.observability.control import ControlServer as ControlServer
from actors.observability.control import open_control_server as open_control_server
from actors.observability.health import ReadinessChecks as ReadinessChecks
from actors.observability.metrics import DB_WRITER_FIELDS as DB_WRITER_FIELDS
from actors.observability.metrics import LOG_FIELDS as LOG_FIELDS
from actors.observability.metrics import Metrics as Metrics
from actors.observability.metrics import StatField as StatField
