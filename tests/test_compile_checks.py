"""``tfxp compile`` refuses paths a cluster cannot use, on one line, exit 2,
writing nothing; the paths it accepts reach the spec as given.

Every path in a spec is read by pods, never by the compiling machine: a
relative path resolves in each pod's working folder, a local pipeline root
is a different disk in every pod unless a volume is mounted over it, and
whether a data path is a file or a folder cannot be looked up here.
"""
import json
import os

import pytest
from google.protobuf import json_format

from tfxp.cli import main as cli
from tfxp.kubeflow import spec as kfspec

ROOT = "gs://tfxp-test-bucket/pipelines"
IMAGE = "registry.example.com/tfxp:1.0"


def compile_args(output, *flags):
    return ["compile", "--image", IMAGE, "--output", str(output), *flags]


def with_root(flags):
    return flags if "--pipeline-root" in flags else ["--pipeline-root", ROOT, *flags]


@pytest.mark.parametrize("flags, message", [
    # A file that exists only on the cluster (a pattern '*' over it matched nothing).
    (["--data-root", "/mnt/data/taxi.csv"],
     "--data-root '/mnt/data/taxi.csv': cannot tell whether it is a CSV file or a folder "
     "of CSV files on the cluster"),
    (["--data-root", "data", "--data-kind", "folder"],
     "--data-root 'data': a relative path"),
    (["--pipeline-root", "relroot"], "--pipeline-root 'relroot': a relative path"),
    (["--serving-base", "models/dense"], "--serving-base 'models/dense': a relative path"),
    (["--pipeline-root", "/tmp/pipeline_root"],
     "--pipeline-root '/tmp/pipeline_root': a local path, which every pod has on its own "
     "disk"),
    # A volume, but not over the root (nor over a folder that is a mere prefix of it).
    (["--pipeline-root", "/tmp/pipeline_root", "--pvc", "data=/mnt/data",
      "--pvc", "p=/tmp/pipeline"],
     "--pipeline-root '/tmp/pipeline_root': a local path, which every pod has on its own "
     "disk, so what one task writes there is gone for the next. Mount a volume over it "
     "(--pvc CLAIM=/tmp/pipeline_root, or a parent folder) or give a URI"),
    (["--serving-base", "/mnt/models/dense"], "--serving-base '/mnt/models/dense': a local path"),
    (["--target", "vertex", "--pipeline-root", "/mnt/root", "--pvc", "root=/mnt"],
     "--pipeline-root '/mnt/root': a local path; Vertex AI Pipelines mounts no volumes"),
    (["--model", "cnn", "--data-root", "/mnt/data", "--data-kind", "file"],
     "--data-kind 'file': fashion_mnist is read from the folder holding it"),
    (["--data-kind", "file"], "--data-kind 'file': describes --data-root, which is not given"),
    (["--data-root", "gs://b/taxi/", "--data-kind", "file"],
     "--data-root 'gs://b/taxi/': ends in '/', a folder, but --data-kind is file"),
])
def test_compile_refuses_paths_the_cluster_cannot_use(tmp_path, capsys, flags, message):
    output = tmp_path / "spec.yaml"
    code = cli.main(compile_args(output, *with_root(flags)))
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE
    assert err.startswith("tfxp: error: --") and message in err, err  # flag and value
    assert "\n" not in err
    assert os.listdir(tmp_path) == []


def test_an_unwritable_output_fails_before_compiling_on_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    output = tmp_path / "a_file" / "spec.yaml"
    assert cli.main(compile_args(output, "--pipeline-root", ROOT)) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tfxp: error: --output {str(output)!r}: cannot write there")
    assert "\n" not in err


def test_a_failed_write_leaves_no_partial_spec_and_keeps_the_old_one(
        tmp_path, capsys, monkeypatch):
    output = tmp_path / "spec.yaml"
    output.write_text("# the previous spec\n")

    def disk_full(docs, stream, **kwargs):
        stream.write("pipelineInfo:\n  name: half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kfspec.yaml, "safe_dump_all", disk_full)
    assert cli.main(compile_args(output, "--pipeline-root", ROOT)) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err == (f"tfxp: error: --output {str(output)!r}: cannot write it: "
                   f"No space left on device")
    assert os.listdir(tmp_path) == ["spec.yaml"]
    assert output.read_text() == "# the previous spec\n"


def _tasks(spec):
    return dict(spec.root.dag.tasks)


def _constant(spec, task, name):
    return json_format.MessageToDict(
        _tasks(spec)[task].inputs.parameters[name].runtime_value.constant)


def test_a_local_root_on_a_volume_and_a_csv_file_on_a_bucket_compile(tmp_path, capsys):
    output = tmp_path / "spec.yaml"
    code = cli.main(compile_args(
        output, "--pipeline-root", "/mnt/tfxp/root", "--pvc", "tfxp=/mnt/tfxp",
        "--data-root", "gs://b/data/taxi.csv", "--data-kind", "file"))
    assert code == 0, capsys.readouterr().err
    spec, platform = kfspec.load_spec(str(output))  # strict kfp-pipeline-spec parse
    kfspec.check_kfp_compatible(spec)
    assert spec.default_pipeline_root == "/mnt/tfxp/root"
    assert _constant(spec, "CsvExampleGen", "input_base") == "gs://b/data"
    splits = json.loads(_constant(spec, "CsvExampleGen", "input_config"))["splits"]
    assert splits == [{"name": "single_split", "pattern": "taxi.csv"}]
    push = json.loads(_constant(spec, "Pusher", "push_destination"))
    assert push["filesystem"]["base_directory"] == "/mnt/tfxp/root/serving/dense"
    executors = json_format.MessageToDict(platform)["platforms"]["kubernetes"][
        "deploymentSpec"]["executors"]
    for config in executors.values():
        assert config == {"pvcMount": [{"constant": "tfxp", "mountPath": "/mnt/tfxp"}]}
    assert str(tmp_path) not in output.read_text()  # nothing of this machine baked in
    assert sorted(os.listdir(tmp_path)) == ["spec.yaml"]  # no temporary file left


def test_a_data_folder_given_with_a_trailing_slash_needs_no_kind(tmp_path, capsys):
    output = tmp_path / "spec.yaml"
    code = cli.main(compile_args(output, "--pipeline-root", ROOT,
                                 "--data-root", "gs://b/data/taxi/"))
    assert code == 0, capsys.readouterr().err
    spec, _ = kfspec.load_spec(str(output))
    assert _constant(spec, "CsvExampleGen", "input_base") == "gs://b/data/taxi"
    splits = json.loads(_constant(spec, "CsvExampleGen", "input_config"))["splits"]
    assert [s["pattern"] for s in splits] == ["*"]
