"""Serving the pushed models over TF Serving's protocols.

- ``versions``: the version-folder layout and the atomic push into it;
- ``server`` (+ ``manager``, ``batching``, ``json_tensor``, ``tensors``,
  ``errors``): a local server speaking TF Serving's gRPC and REST APIs;
- ``client``: gRPC and REST clients (real TF Serving or ours);
- ``cli``: ``tfxp serve`` and ``tfxp predict``;
- ``deploy``: models.config, Kubernetes and Docker files for real TF Serving.
"""
