"""Beam presets: each one parses into Beam ``PipelineOptions`` with its runner
and the options it requires; the local default stays DirectRunner
multi-processing."""
import pytest
from apache_beam.options.pipeline_options import (DebugOptions, DirectOptions,
                                                  GoogleCloudOptions, PipelineOptions,
                                                  PortableOptions, StandardOptions,
                                                  WorkerOptions)

from tfxp.pipeline import beam_presets

from tfxp.cli import main as cli
from tfxp.pipeline.config import DEFAULT_BEAM_ARGS, RunConfig

# What a user passes with --beam-arg for each preset's required options.
CLUSTER_ARGS = {
    "dataflow": ["--project=my-project", "--region=europe-west1",
                 "--temp_location=gs://my-bucket/tmp",
                 "--sdk_container_image=europe-docker.pkg.dev/p/r/tfxp:1"],
    "flink": ["--job_endpoint=flink-jobserver.beam:8099"],
    "spark": ["--job_endpoint=spark-jobserver.beam:8099"],
}


@pytest.mark.parametrize("name", sorted(CLUSTER_ARGS))
def test_preset_parses_into_pipeline_options_with_runner_and_required_options(name):
    args = beam_presets.preset_args(name, CLUSTER_ARGS[name])
    options = PipelineOptions(args)
    assert options.view_as(StandardOptions).runner == beam_presets.PRESETS[name].runner
    if name == "dataflow":
        gcp = options.view_as(GoogleCloudOptions)
        assert (gcp.project, gcp.region, gcp.temp_location) == (
            "my-project", "europe-west1", "gs://my-bucket/tmp")
        assert options.view_as(WorkerOptions).sdk_container_image.endswith("/tfxp:1")
        # Custom SDK containers need Dataflow runner v2.
        assert "use_runner_v2" in options.view_as(DebugOptions).experiments
    else:
        portable = options.view_as(PortableOptions)
        assert portable.job_endpoint == CLUSTER_ARGS[name][0].split("=", 1)[1]
        assert portable.environment_type == "EXTERNAL"
        assert portable.environment_config == beam_presets.WORKER_POOL_ADDRESS


@pytest.mark.parametrize("name", sorted(CLUSTER_ARGS))
def test_preset_without_its_required_options_names_them(name):
    with pytest.raises(ValueError) as err:
        beam_presets.preset_args(name, [])
    for key in beam_presets.PRESETS[name].required:
        assert f"--{key}" in str(err.value)
    assert repr(name) in str(err.value)


def test_dataflow_preset_takes_image_and_gcs_temp_location_from_context():
    args = beam_presets.preset_args(
        "dataflow", ["--project=p", "--region=r"],
        image="reg/tfxp:7", temp_root="gs://bucket/root/")
    gcp = PipelineOptions(args).view_as(GoogleCloudOptions)
    assert gcp.temp_location == "gs://bucket/root/beam-tmp"
    assert PipelineOptions(args).view_as(WorkerOptions).sdk_container_image == "reg/tfxp:7"
    # A local root is no Dataflow temp location: the user must give one.
    with pytest.raises(ValueError, match="--temp_location"):
        beam_presets.preset_args("dataflow", ["--project=p", "--region=r"],
                                 image="reg/tfxp:7", temp_root="/tmp/root")


def test_user_args_override_preset_defaults_but_not_its_runner():
    args = beam_presets.preset_args(
        "flink", CLUSTER_ARGS["flink"] + ["--environment_type=DOCKER",
                                          "--environment_config=reg/tfxp:1"])
    portable = PipelineOptions(args).view_as(PortableOptions)
    assert (portable.environment_type, portable.environment_config) == ("DOCKER", "reg/tfxp:1")
    with pytest.raises(ValueError, match="FlinkRunner.*--runner=SparkRunner"):
        beam_presets.preset_args("flink", CLUSTER_ARGS["flink"] + ["--runner=SparkRunner"])


def test_direct_in_memory_is_the_local_default_and_multi_processing_a_preset():
    assert RunConfig().beam_pipeline_args == list(DEFAULT_BEAM_ARGS)
    args = beam_presets.preset_args("direct")
    assert args == list(DEFAULT_BEAM_ARGS)
    options = PipelineOptions(args)
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"
    # By name, so that DirectRunner's PrismRunner download is never tried.
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    multi = PipelineOptions(beam_presets.preset_args("direct-multiprocess"))
    assert multi.view_as(DirectOptions).direct_running_mode == "multi_processing"
    assert multi.view_as(DirectOptions).direct_num_workers == 0  # one per core
    assert (multi.view_as(StandardOptions).runner or "DirectRunner") == "DirectRunner"


def test_local_presets_run_here_and_cluster_presets_do_not():
    """``runs_locally`` (``tfxp score`` writes one ordered CSV then, shards
    otherwise) and ``runs_in_process`` (it spreads examples over workers
    unless that holds)."""
    assert beam_presets.runs_locally(DEFAULT_BEAM_ARGS)
    assert beam_presets.runs_locally([])  # Beam's default: DirectRunner
    assert beam_presets.runs_locally(beam_presets.preset_args("direct-multiprocess"))
    assert beam_presets.runs_locally(
        ["--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner"])
    for name in CLUSTER_ARGS:
        assert not beam_presets.runs_locally(beam_presets.preset_args(name, CLUSTER_ARGS[name]))
        assert not beam_presets.runs_in_process(
            beam_presets.preset_args(name, CLUSTER_ARGS[name]))
    assert beam_presets.runs_in_process(DEFAULT_BEAM_ARGS)
    assert not beam_presets.runs_in_process(beam_presets.preset_args("direct-multiprocess"))
    assert not beam_presets.runs_in_process(list(DEFAULT_BEAM_ARGS) + ["--direct_num_workers=2"])


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown Beam preset 'flnk'; expected one of: "
                       "direct, direct-multiprocess, dataflow, flink, spark"):
        beam_presets.get_preset("flnk")


def test_run_cli_merges_preset_and_beam_args(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["run", "--workspace", str(tmp_path), "--beam-preset", "spark",
                              "--beam-arg=--job_endpoint=js:8099"])
    config = cli.config_from_args(args)
    assert config.beam_pipeline_args[0] == "--runner=SparkRunner"
    assert config.beam_pipeline_args[-1] == "--job_endpoint=js:8099"


def test_run_cli_reports_missing_preset_option_on_one_line(tmp_path, capsys):
    code = cli.main(["run", "--workspace", str(tmp_path), "--beam-preset", "dataflow"])
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE
    assert err.startswith("tfxp: error: Beam preset 'dataflow' needs --project, --region")
    assert "\n" not in err
