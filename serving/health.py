"""The gRPC health service (``grpc.health.v1.Health``) of the model server.

Follows model_servers/server.cc: with ``--enable_grpc_healthcheck_service``
the server registers gRPC's standard health service and marks the services
``ModelService`` and ``PredictionService``. TF Serving starts its gRPC
server only after the first load, so it never answers before models are
up; this server opens its ports once the first poll is done whatever it
loaded, so the statuses follow availability instead:

- ``""`` (the whole server) and ``PredictionService``: SERVING once every
  configured model has an available version, NOT_SERVING before (and again
  if a model loses all its versions, e.g. a config reload added one that did
  not load);
- ``ModelService``: SERVING while the server runs (GetModelStatus answers
  whatever is loaded);
- each model's name: SERVING while that model has an available version
  (ours, for per-model probes).

The servicer is ``grpc_health.v1.health.HealthServicer`` from
``grpcio-health-checking`` (1.48.x, the release that fits protobuf 3.20).
"""
from __future__ import annotations

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PREDICTION_SERVICE, MODEL_SERVICE = "PredictionService", "ModelService"


class HealthReporter:
    """A ``ModelManager`` observer that keeps the health statuses current."""

    def __init__(self):
        self.servicer = health.HealthServicer()
        self.servicer.set(MODEL_SERVICE, SERVING)
        for service in ("", PREDICTION_SERVICE):
            self.servicer.set(service, NOT_SERVING)
        self._models: set = set()

    def add_to_server(self, server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def availability_changed(self, manager) -> None:
        status = SERVING if manager.all_models_available() else NOT_SERVING
        for service in ("", PREDICTION_SERVICE):
            self.servicer.set(service, status)
        names = set(manager.model_names())
        for name in names:
            self.servicer.set(name, SERVING if manager.has_available(name) else NOT_SERVING)
        for gone in self._models - names:
            self.servicer.set(gone, NOT_SERVING)
        self._models = names

    def load_attempted(self, *args) -> None:
        pass

    def shutdown(self) -> None:
        """NOT_SERVING everywhere (gRPC's ``enter_graceful_shutdown``)."""
        self.servicer.enter_graceful_shutdown()
