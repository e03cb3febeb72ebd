"""Kubeflow artefacts: compiled PipelineSpecs, the image's build context, submit.

No cluster can run here (no Docker engine, no Kubernetes), so these tests
check what a cluster would receive: every family is compiled through
``tfxp compile`` and parsed strictly with the kfp-pipeline-spec protos, the
build context of ``kubeflow/Dockerfile`` is materialised to check that what
the spec names exists in the image, and ``tfxp submit`` runs kfp's real
client against a loopback HTTP server.
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from tfxp.kubeflow import image, spec as kfspec
from tfxp.kubeflow.runner import IMAGE_MODULE_FILE
from tfxp.models.registry import FAMILIES
from tfxp.cli import main as cli
from tfxp.pipeline.config import DEFAULT_BEAM_ARGS, RunConfig
from tfx.utils import import_utils

ROOT = "gs://tfxp-test-bucket/pipelines"
CPU_IMAGE = "registry.example.com/tfxp:1.0"
GPU_IMAGE = "registry.example.com/tfxp-gpu:1.0"
EXECUTOR_COMMAND = ["python", "-m",
                    "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
# Executor class of each task; None: the class is project code whose path
# the image test below checks (function components get a generated class).
EXECUTORS = {
    "StatisticsGen": "tfx.components.statistics_gen.executor.Executor",
    "ImportSchemaGen": None,
    "ExampleValidator": "tfx.components.example_validator.executor.Executor",
    "DataGate": None,
    "Transform": "tfx.components.transform.executor.Executor",
    "Trainer": "tfx.components.trainer.executor.GenericExecutor",
    "Evaluator": "tfxp.components.evaluator.FloorEvaluatorExecutor",
    "InProcessInfraValidator": None,
    "Pusher": "tfxp.components.pusher.AtomicPushExecutor",
}
# ExampleGen ("EG") ... Pusher: producer -> consumer, from artifact inputs.
EDGES = {("EG", "StatisticsGen"),
         ("StatisticsGen", "ExampleValidator"), ("ImportSchemaGen", "ExampleValidator"),
         ("EG", "DataGate"), ("StatisticsGen", "DataGate"), ("ExampleValidator", "DataGate"),
         ("DataGate", "Transform"), ("ImportSchemaGen", "Transform"),
         ("Transform", "Trainer"), ("ImportSchemaGen", "Trainer"),
         ("EG", "Evaluator"), ("Trainer", "Evaluator"),
         ("EG", "InProcessInfraValidator"), ("Trainer", "InProcessInfraValidator"),
         ("Trainer", "Pusher"), ("Evaluator", "Pusher"), ("InProcessInfraValidator", "Pusher")}


def compile_cli(tmp_path, name, *flags):
    output = str(tmp_path / f"{name}.yaml")
    code = cli.main(["compile", "--pipeline-root", ROOT, "--image", CPU_IMAGE,
                     "--output", output, *flags])
    assert code == 0
    return kfspec.load_spec(output)


@pytest.fixture(scope="module", params=list(FAMILIES))
def family_spec(request, tmp_path_factory):
    """(family, PipelineSpec) compiled with a GPU Trainer, parsed strictly."""
    family = request.param
    spec, platform = compile_cli(tmp_path_factory.mktemp("spec"), family, "--model", family,
                                 "--gpu-image", GPU_IMAGE, "--trainer-gpus", "1")
    assert platform is None
    return family, spec


@pytest.fixture(scope="module")
def dense_cpu_spec(tmp_path_factory):
    """The dense spec compiled without GPU flags."""
    return compile_cli(tmp_path_factory.mktemp("spec"), "dense-cpu")[0]


def tasks(spec):
    return dict(spec.root.dag.tasks)


def example_gen_name(spec):
    names = [name for name in tasks(spec) if name.endswith("ExampleGen")]
    assert len(names) == 1, names
    assert not tasks(spec)[names[0]].dependent_tasks
    return names[0]


def container(spec, task_name):
    label = spec.components[tasks(spec)[task_name].component_ref.name].executor_label
    return kfspec.executor_specs(spec)[label]["container"]


def constant(task, name):
    return json_format.MessageToDict(
        task.inputs.parameters[name].runtime_value.constant)


def test_every_family_compiles_to_a_pipeline_spec_kfp_accepts(family_spec):
    family, spec = family_spec
    assert spec.pipeline_info.name == f"{family}-pipeline"
    assert spec.schema_version == kfspec.KFP_SCHEMA_VERSION
    assert spec.sdk_version == "tfx-1.16.0"
    assert spec.default_pipeline_root == ROOT
    kfspec.check_kfp_compatible(spec)  # raises on what KFP's API server refuses


def test_tasks_and_dag_edges_run_example_gen_to_pusher(family_spec):
    _, spec = family_spec
    eg = example_gen_name(spec)
    assert set(tasks(spec)) == {eg, *EXECUTORS}
    edges = set()
    for name, task in tasks(spec).items():
        for artifact in task.inputs.artifacts.values():
            producer = artifact.task_output_artifact.producer_task
            edges.add(("EG" if producer == eg else producer, name))
            assert producer in task.dependent_tasks
    assert edges == EDGES


def test_pusher_consumes_the_evaluator_blessing(family_spec):
    _, spec = family_spec
    pusher = tasks(spec)["Pusher"]
    blessing = pusher.inputs.artifacts["model_blessing"].task_output_artifact
    assert (blessing.producer_task, blessing.output_artifact_key) == ("Evaluator", "blessing")
    assert "Evaluator" in pusher.dependent_tasks
    model = pusher.inputs.artifacts["model"].task_output_artifact
    assert (model.producer_task, model.output_artifact_key) == ("Trainer", "model")


def test_images_commands_and_executor_classes(family_spec):
    _, spec = family_spec
    for name in tasks(spec):
        c = container(spec, name)
        assert c["image"] == (GPU_IMAGE if name == "Trainer" else CPU_IMAGE), name
        assert c["command"] == EXECUTOR_COMMAND, name
        args = c["args"]
        executor = args[args.index("--executor_class_path") + 1]
        if EXECUTORS.get(name):
            assert executor == EXECUTORS[name]
        # The image holds the same code, so what imports here imports there.
        import_utils.import_class_by_path(executor)
        assert args[args.index("--json_serialized_invocation_args") + 1] == "{{$}}"
        assert args[-len(DEFAULT_BEAM_ARGS):] == list(DEFAULT_BEAM_ARGS)


def test_trainer_requests_gpus_only_when_asked(family_spec, dense_cpu_spec):
    _, spec = family_spec
    assert container(spec, "Trainer")["resources"] == {
        "accelerator": {"type": "nvidia.com/gpu", "count": "1"}}
    for name in set(tasks(spec)) - {"Trainer"}:
        assert "resources" not in container(spec, name), name
    for name in tasks(dense_cpu_spec):
        assert "resources" not in container(dense_cpu_spec, name), name
        assert container(dense_cpu_spec, name)["image"] == CPU_IMAGE


def test_step_counts_are_runtime_parameters_with_defaults(family_spec):
    family, spec = family_spec
    config = RunConfig(model=family)
    params = kfspec.spec_parameters(spec)
    # The split names are part of the defaults: the Trainer validates on the
    # validation split, never on the held-out eval split.
    assert params == {
        "train_args": json.dumps({"num_steps": config.resolved_train_steps,
                                  "splits": ["train"]}),
        "eval_args": json.dumps({"num_steps": config.resolved_eval_steps,
                                 "splits": ["validation"]})}
    trainer = tasks(spec)["Trainer"]
    for name in params:
        assert trainer.inputs.parameters[name].component_input_parameter == name
        assert (spec.root.input_definitions.parameters[name].parameter_type
                == pipeline_spec_pb2.ParameterType.STRING)


def test_paths_in_the_spec_exist_in_the_image_build_context(family_spec, tmp_path):
    family, spec = family_spec
    text = json_format.MessageToJson(spec)
    assert str(image.PROJECT_ROOT) not in text, "a path of this checkout leaked into the spec"
    context = tmp_path / "context"
    image.build_context(context)
    image.stage_data(str(context))  # the Dockerfile's RUN stage-data step
    for name in ("Transform", "Trainer"):
        module_file = constant(tasks(spec)[name], "module_file")
        assert module_file == IMAGE_MODULE_FILE
    in_image = set(re.findall(r"/app/[^\s\"',}\\]+", text))
    assert IMAGE_MODULE_FILE in in_image
    for path in in_image:
        if path.endswith("/tfds"):
            continue  # TFDS data_dir: TfdsExampleGen prepares it at run time
        assert image.context_path(path, context).exists(), f"{path} is not in the image"
    for name in tasks(spec):
        args = container(spec, name)["args"]
        executor = args[args.index("--executor_class_path") + 1]
        if executor.startswith("tfxp."):  # project code: tfxp.<folder>... is <folder>/...
            module = executor[len("tfxp."):].rsplit(".", 1)[0].replace(".", "/") + ".py"
            assert (context / module).is_file(), executor
    dataset = RunConfig(model=family).dataset_spec
    if dataset.source == "csv":
        input_base = constant(tasks(spec)[example_gen_name(spec)], "input_base")
        assert input_base == image.IMAGE_TAXI_DIR
        assert (image.context_path(input_base, context) / "data.csv").is_file()
    else:
        raw = image.context_path(f"{image.IMAGE_DATA_DIR}/{dataset.name}", context)
        assert raw.is_dir() and any(raw.iterdir())


def test_dockerfile_copies_only_what_the_context_holds(tmp_path):
    copied = set(image.build_context(tmp_path))
    sources = image.dockerfile_copy_sources()
    assert "requirements.lock" in sources and "models" in sources
    for source in sources:
        assert (tmp_path / source).exists(), f"{source} is missing from the build context"
    assert not any(p.startswith((".venv/", ".git/", "workspace/", "tests/"))
                   or "__pycache__" in p for p in copied)
    text = image.DOCKERFILE.read_text()
    stages = text.split("\nFROM ")[1:]
    targets = {s.split()[2]: s for s in stages if " AS " in s.split("\n")[0]}
    for target in ("cpu", "gpu"):
        assert "TF_USE_LEGACY_KERAS=1" in targets[target], target
        assert "RUN pip install --no-deps -e /app" in targets[target], target
    assert targets["gpu"].startswith("${CUDA_IMAGE}") and "nvidia/cuda:" in text


def test_kfp_target_has_no_resolver_and_vertex_keeps_it(tmp_path, dense_cpu_spec):
    assert "baseline_model" not in tasks(dense_cpu_spec)["Evaluator"].inputs.artifacts
    vertex, _ = compile_cli(tmp_path, "vertex", "--target", "vertex")
    assert {"latest_blessed_model_resolver-model-resolver",
            "latest_blessed_model_resolver-model-blessing-resolver"} <= set(tasks(vertex))
    baseline = tasks(vertex)["Evaluator"].inputs.artifacts["baseline_model"]
    assert baseline.task_output_artifact.producer_task == \
        "latest_blessed_model_resolver-model-resolver"
    with pytest.raises(ValueError, match="Resolver, which open-source KFP cannot run"):
        kfspec.check_kfp_compatible(vertex)


def test_roots_are_parameters_and_pvcs_are_mounted(tmp_path):
    spec, platform = compile_cli(
        tmp_path, "roots", "--pipeline-root", "minio://mlpipeline/v2/tfxp",
        "--data-root", "/mnt/data/taxi", "--data-kind", "folder",
        "--serving-base", "/mnt/models/dense",
        "--pvc", "tfxp-data=/mnt/data", "--pvc", "tfxp-models=/mnt/models",
        "--train-steps", "7")
    assert spec.default_pipeline_root == "minio://mlpipeline/v2/tfxp"
    assert constant(tasks(spec)["CsvExampleGen"], "input_base") == "/mnt/data/taxi"
    push = json.loads(constant(tasks(spec)["Pusher"], "push_destination"))
    assert push == {"filesystem": {"base_directory": "/mnt/models/dense"}}
    assert kfspec.spec_parameters(spec)["train_args"] == '{"num_steps": 7, "splits": ["train"]}'
    executors = json_format.MessageToDict(platform)["platforms"]["kubernetes"][
        "deploymentSpec"]["executors"]
    assert set(executors) == set(kfspec.executor_specs(spec))
    for config in executors.values():
        assert config == {"pvcMount": [
            {"constant": "tfxp-data", "mountPath": "/mnt/data"},
            {"constant": "tfxp-models", "mountPath": "/mnt/models"}]}
    # The default serving base follows the pipeline root.
    default, _ = compile_cli(tmp_path, "default-serving")
    push = json.loads(constant(tasks(default)["Pusher"], "push_destination"))
    assert push["filesystem"]["base_directory"] == f"{ROOT}/serving/dense"


@pytest.mark.parametrize("flags, message", [
    (["--trainer-gpus", "1"], "needs a gpu_image"),
    (["--output", "x.json"], "expected a .yaml file"),
    (["--model", "resnt"], "unknown model family 'resnt'"),
    (["--pvc", "claim"], "--pvc 'claim': expected NAME=VALUE"),
    (["--beam-preset", "flink"], "Beam preset 'flink' needs --job_endpoint"),
])
def test_compile_reports_bad_input_on_one_line(tmp_path, capsys, flags, message):
    code = cli.main(["compile", "--pipeline-root", ROOT, "--image", CPU_IMAGE,
                     "--output", str(tmp_path / "x.yaml"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE and message in err and "\n" not in err


class FakeKfpApi(BaseHTTPRequestHandler):
    """Loopback stand-in for the KFP API server (REST v2beta1), which cannot
    run here. It answers the four calls kfp.Client makes to start a run and
    records every request; like the real server it refuses a run whose
    PipelineSpec is not schema 2.1.0."""
    requests = []  # (method, path, query, json body)

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, method):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((method, url.path, parse_qs(url.query), body))
        return url.path, body

    def do_GET(self):
        path, _ = self._record("GET")
        if path == "/apis/v2beta1/healthz":
            self._reply(200, {"multi_user": False})
        elif path == "/apis/v2beta1/experiments":
            self._reply(200, {})  # no experiment with that name yet
        else:
            self._reply(404, {"error": f"unexpected GET {path}"})

    def do_POST(self):
        path, body = self._record("POST")
        if path == "/apis/v2beta1/experiments":
            self._reply(200, {"experiment_id": "exp-1", **body})
        elif path == "/apis/v2beta1/runs":
            if body["pipeline_spec"].get("schemaVersion") != kfspec.KFP_SCHEMA_VERSION:
                self._reply(400, {"error": "KFP only supports schema version 2.1.0"})
            else:
                self._reply(200, {"run_id": "run-42", **body})
        else:
            self._reply(404, {"error": f"unexpected POST {path}"})

    def log_message(self, *args):
        pass


@pytest.fixture
def kfp_api():
    FakeKfpApi.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKfpApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", FakeKfpApi.requests
    server.shutdown()
    server.server_close()


def test_submit_uploads_the_compiled_spec_with_the_given_parameters(
        tmp_path, kfp_api, capsys, monkeypatch):
    host, requests = kfp_api
    monkeypatch.setenv("HOME", str(tmp_path))  # no local kfp context file
    package = tmp_path / "dense.yaml"
    assert cli.main(["compile", "--pipeline-root", ROOT, "--image", CPU_IMAGE,
                     "--output", str(package)]) == 0
    capsys.readouterr()
    code = cli.main(["submit", str(package), "--host", host, "--experiment", "tfxp-ci",
                     "--run-name", "ci-run", "--train-steps", "5",
                     "--param", 'eval_args={"num_steps": 2}'])
    out = capsys.readouterr().out
    assert code == 0
    assert out.strip().splitlines()[-1] == f"run run-42: {host}/#/runs/details/run-42"
    experiment = [b for m, p, _, b in requests if (m, p) == ("POST", "/apis/v2beta1/experiments")]
    assert [e["display_name"] for e in experiment] == ["tfxp-ci"]
    runs = [b for m, p, _, b in requests if (m, p) == ("POST", "/apis/v2beta1/runs")]
    assert len(runs) == 1
    run = runs[0]
    uploaded = json_format.ParseDict(run["pipeline_spec"], pipeline_spec_pb2.PipelineSpec(),
                                     ignore_unknown_fields=False)
    assert uploaded == kfspec.load_spec(str(package))[0]
    assert run["experiment_id"] == "exp-1" and run["display_name"] == "ci-run"
    assert run["runtime_config"] == {
        "parameters": {"train_args": '{"num_steps": 5, "splits": ["train"]}',
                       "eval_args": '{"num_steps": 2}'},
        "pipeline_root": ROOT}


def test_submit_rejects_unknown_parameters_before_contacting_the_server(
        tmp_path, kfp_api, capsys, dense_cpu_spec):
    host, requests = kfp_api
    package = tmp_path / "dense.yaml"
    kfspec.write_spec(str(package), dense_cpu_spec)
    code = cli.main(["submit", str(package), "--host", host, "--param", "train_step=5"])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE
    assert err == ("tfxp: error: pipeline 'dense-pipeline' has no parameter(s) "
                   "['train_step']; it declares: eval_args, train_args")
    assert requests == []


def test_submit_reports_a_refused_run_on_one_line(tmp_path, kfp_api, capsys, monkeypatch,
                                                  dense_cpu_spec):
    host, requests = kfp_api
    monkeypatch.setenv("HOME", str(tmp_path))
    old = pipeline_spec_pb2.PipelineSpec()
    old.CopyFrom(dense_cpu_spec)
    old.schema_version = "2.0.0"  # what TFX writes without use_pipeline_spec_2_1
    package = tmp_path / "old.yaml"
    kfspec.write_spec(str(package), old)
    code = cli.main(["submit", str(package), "--host", host])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_FAILED
    assert err.startswith(f"tfxp: error: submitting {package} to {host} failed: HTTP 400")
    assert "KFP only supports schema version 2.1.0" in err and "\n" not in err
    assert [p for m, p, _, _ in requests if m == "POST"] == [
        "/apis/v2beta1/experiments", "/apis/v2beta1/runs"]
