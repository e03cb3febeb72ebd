"""Serving the pushed models over TF Serving's protocols.

- ``versions``: the version-folder layout and the atomic push into it;
- the local server speaking TF Serving's gRPC and REST APIs, split as
  TF Serving's model_servers/ is: ``server`` (wiring and lifecycle, server.cc /
  server_core.cc), ``inference`` (request rules shared by both APIs),
  ``grpc_service`` (prediction_service_impl.cc, model_service_impl.cc),
  ``rest`` (http_rest_api_handler.cc), ``http_server`` (http_server.cc),
  ``flags`` and ``main`` (main.cc: ``python -m tfxp.serving.main``); below
  them ``manager`` (with ``session_model`` for TF1 SavedModels),
  ``batching``, ``json_tensor``, ``tensors``, ``errors``;
- ``client``: gRPC and REST clients (real TF Serving or ours);
- ``deploy``: models.config, Kubernetes and Docker files for real TF Serving.

``tfxp serve`` and ``tfxp predict`` live in ``cli/serving.py``.
"""
