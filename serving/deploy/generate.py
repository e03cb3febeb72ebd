"""Deployment files for the real TensorFlow Serving, from a workspace's pushed models.

The Pusher writes each model to ``<workspace>/serving/<model name>/<version>/``,
the layout TF Serving reads. From that folder this module writes:

- ``models.config``: a ``ModelServerConfig`` text proto (tensorflow_serving/
  config/model_server_config.proto) naming every model, with base paths under
  the container mount ``/models`` (``--model_config_file``);
- ``models.local.config``: the same with this machine's absolute paths, for
  ``tfxp serve --model_config_file`` or a local ``tensorflow_model_server``;
- ``monitoring.config``: a ``MonitoringConfig`` text proto
  (tensorflow_serving/config/monitoring_config.proto) turning on TF Serving's
  Prometheus exporter at ``/monitoring/prometheus/metrics`` on the REST port
  (``--monitoring_config_file``; ``tfxp serve`` takes the same file);
- ``kubernetes.yaml``: ConfigMap (both configs) + Deployment of
  ``tensorflow/serving`` mounting the model folder from a PersistentVolumeClaim,
  its pods annotated for Prometheus' ``kubernetes_sd`` scraping
  (``prometheus.io/scrape``, ``/port``, ``/path``) + Service (gRPC 8500,
  REST 8501);
- ``docker_run.sh``: the equivalent ``docker run`` line.

``python -m tfxp.serving.deploy --workspace WS [--out DIR]`` (default DIR:
``WS/deploy``).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Dict, Mapping, Optional, Sequence

import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

# The TF Serving release matching tensorflow-serving-api 2.16.1 (requirements.lock).
TF_SERVING_IMAGE = "tensorflow/serving:2.16.1"
CONTAINER_MODEL_ROOT = "/models"
CONTAINER_CONFIG_DIR = "/config"
CONFIG_FILE = "models.config"
MONITORING_FILE = "monitoring.config"
LOCAL_CONFIG_FILE = "models.local.config"
GRPC_PORT, REST_PORT = 8500, 8501
PLATFORM = "tensorflow"


def find_models(serving_dir: str) -> Dict[str, str]:
    """``{model name: absolute base path}`` for each model folder in
    ``serving_dir`` (one model per subfolder; hidden folders skipped).

    Raises:
      FileNotFoundError: ``serving_dir`` does not exist.
    """
    from tfxp.serving.manager import MODEL_NAME_PATTERN

    if not os.path.isdir(serving_dir):
        raise FileNotFoundError(f"no serving folder {serving_dir!r}; run the pipeline first")
    return {name: os.path.abspath(os.path.join(serving_dir, name))
            for name in sorted(os.listdir(serving_dir))
            if os.path.isdir(os.path.join(serving_dir, name)) and MODEL_NAME_PATTERN.match(name)}


def models_config(models: Mapping[str, str], *, root: Optional[str] = None,
                  num_versions: int = 1,
                  labels: Optional[Mapping[str, Mapping[str, int]]] = None,
                  log_prefixes: Optional[Mapping[str, str]] = None,
                  sampling_rate: float = 1.0
                  ) -> model_server_config_pb2.ModelServerConfig:
    """A ``ModelServerConfig`` for ``models`` ({name: base path}).

    Args:
      root: when given, each base path becomes ``root/<name>`` (the
        container's view of the model folder).
      num_versions: the ``latest`` policy's version count (>= 1).
      labels: optional ``{model: {label: version}}``.
      log_prefixes: optional ``{model: filename prefix}``: those models log
        requests (``logging_config``, serving/request_log.py) ...
      sampling_rate: ... this share of them, in [0, 1].
    Raises:
      ValueError: no models, ``num_versions`` < 1, a rate outside [0, 1].
    """
    if not models:
        raise ValueError("no models to configure")
    if num_versions < 1:
        raise ValueError(f"num_versions must be >= 1, got {num_versions}")
    if not 0.0 <= sampling_rate <= 1.0:
        raise ValueError(f"request log sampling rate must be in [0, 1], got {sampling_rate}")
    config = model_server_config_pb2.ModelServerConfig()
    for name, base in sorted(models.items()):
        model = config.model_config_list.config.add()
        model.name = name
        model.base_path = f"{root.rstrip('/')}/{name}" if root else os.path.abspath(base)
        model.model_platform = PLATFORM
        model.model_version_policy.latest.num_versions = num_versions
        for label, version in (labels or {}).get(name, {}).items():
            model.version_labels[label] = version
        prefix = (log_prefixes or {}).get(name)
        if prefix:
            model.logging_config.log_collector_config.filename_prefix = prefix
            model.logging_config.sampling_config.sampling_rate = sampling_rate
    return config


def config_text(config: model_server_config_pb2.ModelServerConfig) -> str:
    """The config as the text proto ``--model_config_file`` reads."""
    return text_format.MessageToString(config)


def monitoring_text() -> str:
    """The ``MonitoringConfig`` text proto enabling Prometheus at TF Serving's
    default path (``serving.metrics.DEFAULT_PATH``)."""
    from tfxp.serving.metrics import DEFAULT_PATH, MonitoringConfig

    config = MonitoringConfig()
    config.prometheus_config.enable = True
    config.prometheus_config.path = DEFAULT_PATH
    return text_format.MessageToString(config)


def _server_args() -> list:
    """The ``tensorflow_model_server`` flags both deployments pass."""
    return [f"--model_config_file={CONTAINER_CONFIG_DIR}/{CONFIG_FILE}",
            "--model_config_file_poll_wait_seconds=60",
            f"--monitoring_config_file={CONTAINER_CONFIG_DIR}/{MONITORING_FILE}"]


def kubernetes_manifests(config: model_server_config_pb2.ModelServerConfig, *,
                         name: str = "tf-serving", image: str = TF_SERVING_IMAGE,
                         claim_name: str = "tfx-models", replicas: int = 1,
                         namespace: Optional[str] = None) -> str:
    """ConfigMap + Deployment + Service YAML serving ``config`` (container paths).

    The model folder (the workspace's ``serving/``) is expected on the
    PersistentVolumeClaim ``claim_name``, mounted read-only at ``/models``;
    the Deployment polls it every second, so a push is picked up without a
    restart, and re-reads the config every 60 s. Pods export Prometheus
    metrics on the REST port (``monitoring_text``) and carry the
    ``prometheus.io/*`` annotations that Prometheus' Kubernetes service
    discovery examples relabel on.
    """
    from tfxp.serving.metrics import DEFAULT_PATH

    names = [m.name for m in config.model_config_list.config]
    meta = {"name": name, "labels": {"app": name}}
    if namespace:
        meta["namespace"] = namespace
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta),
                  "data": {CONFIG_FILE: config_text(config),
                           MONITORING_FILE: monitoring_text()}}
    container = {
        "name": "tensorflow-serving",
        "image": image,
        "command": ["tensorflow_model_server"],
        "args": [f"--port={GRPC_PORT}", f"--rest_api_port={REST_PORT}", *_server_args(),
                 "--file_system_poll_wait_seconds=1"],
        "ports": [{"name": "grpc", "containerPort": GRPC_PORT},
                  {"name": "http", "containerPort": REST_PORT}],
        "volumeMounts": [{"name": "models", "mountPath": CONTAINER_MODEL_ROOT, "readOnly": True},
                         {"name": "config", "mountPath": CONTAINER_CONFIG_DIR,
                          "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{names[0]}", "port": REST_PORT},
                           "initialDelaySeconds": 5, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": GRPC_PORT},
                          "initialDelaySeconds": 15, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                      "limits": {"memory": "4Gi"}},
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": dict(meta),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(REST_PORT),
                    "prometheus.io/path": DEFAULT_PATH}},
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {"name": "models", "persistentVolumeClaim": {
                            "claimName": claim_name, "readOnly": True}},
                        {"name": "config", "configMap": {"name": name}}],
                }}}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": dict(meta),
               "spec": {"type": "ClusterIP", "selector": {"app": name},
                        "ports": [{"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc"},
                                  {"name": "http", "port": REST_PORT, "targetPort": "http"}]}}
    return yaml.safe_dump_all([config_map, deployment, service], sort_keys=False)


def docker_run_command(serving_dir: str, config_path: str, *,
                       image: str = TF_SERVING_IMAGE) -> str:
    """The ``docker run`` line serving ``serving_dir`` with ``config_path``
    (a config written with ``root=/models``) and the ``monitoring.config``
    beside it. Binds the ports on localhost only."""
    config_dir = os.path.dirname(os.path.abspath(config_path))
    return " \\\n  ".join([
        "docker run --rm --name tf-serving",
        f"-p 127.0.0.1:{GRPC_PORT}:{GRPC_PORT} -p 127.0.0.1:{REST_PORT}:{REST_PORT}",
        f"-v {shlex.quote(os.path.abspath(serving_dir))}:{CONTAINER_MODEL_ROOT}:ro",
        f"-v {shlex.quote(os.path.abspath(config_path))}:"
        f"{CONTAINER_CONFIG_DIR}/{CONFIG_FILE}:ro",
        f"-v {shlex.quote(os.path.join(config_dir, MONITORING_FILE))}:"
        f"{CONTAINER_CONFIG_DIR}/{MONITORING_FILE}:ro",
        image, *_server_args()])


def write_deployment(workspace: str, out_dir: Optional[str] = None, *,
                     num_versions: int = 1, claim_name: str = "tfx-models",
                     image: str = TF_SERVING_IMAGE) -> Dict[str, str]:
    """Writes the five files for ``<workspace>/serving``; returns their paths.

    Raises:
      FileNotFoundError: no serving folder; ValueError: no models in it.
    """
    serving_dir = os.path.join(workspace, "serving")
    models = find_models(serving_dir)
    if not models:
        raise ValueError(f"no model folders in {serving_dir!r}; run the pipeline first")
    out_dir = out_dir or os.path.join(workspace, "deploy")
    os.makedirs(out_dir, exist_ok=True)
    container_config = models_config(models, root=CONTAINER_MODEL_ROOT,
                                     num_versions=num_versions)
    paths = {"config": os.path.join(out_dir, CONFIG_FILE),
             "local_config": os.path.join(out_dir, LOCAL_CONFIG_FILE),
             "monitoring": os.path.join(out_dir, MONITORING_FILE),
             "kubernetes": os.path.join(out_dir, "kubernetes.yaml"),
             "docker": os.path.join(out_dir, "docker_run.sh")}
    contents = {
        "config": config_text(container_config),
        "local_config": config_text(models_config(models, num_versions=num_versions)),
        "monitoring": monitoring_text(),
        "kubernetes": kubernetes_manifests(container_config, claim_name=claim_name,
                                           image=image),
        "docker": "#!/bin/sh\n# Serves the pushed models with the real TF Serving.\n"
                  + docker_run_command(serving_dir, paths["config"], image=image) + "\n",
    }
    for key, path in paths.items():
        with open(path, "w") as f:
            f.write(contents[key])
    os.chmod(paths["docker"], 0o755)
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfxp.serving.deploy",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", default="workspace", help="pipeline workspace")
    parser.add_argument("--out", help="output folder (default: WORKSPACE/deploy)")
    parser.add_argument("--num-versions", type=int, default=1,
                        help="versions served per model (latest policy)")
    parser.add_argument("--claim-name", default="tfx-models",
                        help="PersistentVolumeClaim holding the serving folder")
    parser.add_argument("--image", default=TF_SERVING_IMAGE)
    args = parser.parse_args(argv)
    try:
        paths = write_deployment(args.workspace, args.out, num_versions=args.num_versions,
                                 claim_name=args.claim_name, image=args.image)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0
