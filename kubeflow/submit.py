"""Submits a compiled PipelineSpec to a Kubeflow Pipelines API server.

Uses kfp's own client (``kfp.Client(host=...).create_run_from_pipeline_package``,
KFP REST API v2beta1): it creates or reuses the experiment, uploads the spec
inline with the run, and returns the run id. Run parameters are checked
against the spec's root input definitions before anything is sent.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Optional

from tfxp.kubeflow.spec import load_spec, spec_parameters


@dataclasses.dataclass(frozen=True)
class SubmittedRun:
    """A run the API server accepted: its id and its page in the KFP UI."""
    run_id: str
    url: str


def check_arguments(package: str, arguments: Mapping[str, str]) -> Dict[str, str]:
    """``arguments`` checked against the parameters of the spec in ``package``.

    Raises:
      ValueError: a name the pipeline does not declare (the message lists the
        declared ones), or a required parameter left out.
    """
    spec, _ = load_spec(package)
    declared = spec_parameters(spec)
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        raise ValueError(f"pipeline {spec.pipeline_info.name!r} has no parameter(s) "
                         f"{unknown}; it declares: {', '.join(sorted(declared)) or 'none'}")
    missing = sorted(n for n, default in declared.items()
                     if default is None and n not in arguments)
    if missing:
        raise ValueError(f"pipeline {spec.pipeline_info.name!r} needs parameter(s) {missing}")
    return dict(arguments)


def submit(package: str, host: str, arguments: Optional[Mapping[str, str]] = None, *,
           experiment: str = "Default", run_name: Optional[str] = None,
           pipeline_root: Optional[str] = None, namespace: Optional[str] = None,
           enable_caching: Optional[bool] = None,
           service_account: Optional[str] = None) -> SubmittedRun:
    """Creates a run of the compiled spec ``package`` on the KFP at ``host``.

    Args:
      package: a ``.yaml`` written by ``kubeflow.runner.compile_to_file``.
      host: the KFP API endpoint, e.g. ``http://localhost:8080`` after
        ``kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80``.
      arguments: pipeline parameters (name -> value).
      pipeline_root: overrides the spec's ``defaultPipelineRoot``.
      enable_caching: None keeps the compiled per-task setting.
    Returns:
      The run id and ``<host>/#/runs/details/<run id>``.
    Raises:
      ValueError: unknown or missing parameters (see ``check_arguments``).
      kfp_server_api.ApiException: the server refused a request.
    """
    import kfp

    arguments = check_arguments(package, arguments or {})
    spec, _ = load_spec(package)
    client = kfp.Client(host=host, namespace=namespace or "kubeflow")
    result = client.create_run_from_pipeline_package(
        package, arguments=arguments, run_name=run_name,
        experiment_name=experiment, namespace=namespace,
        pipeline_root=pipeline_root or spec.default_pipeline_root or None,
        enable_caching=enable_caching, service_account=service_account)
    base = host if host.startswith(("http://", "https://")) else f"http://{host}"
    return SubmittedRun(result.run_id, f"{base.rstrip('/')}/#/runs/details/{result.run_id}")
