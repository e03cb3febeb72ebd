"""Hyperparameters and Trainer settings that make no sense fail in
``RunConfig.validate`` (before any component runs), naming the field."""
import pytest

from tfxp.models.registry import FAMILIES, validate_hparams
from tfxp.pipeline.config import RunConfig


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_familys_defaults_are_valid(family):
    validate_hparams(FAMILIES[family])
    RunConfig(model=family).validate()


@pytest.mark.parametrize("model, fields, message", [
    ("resnet", {"hparams": {"augmentation": {"rotate": 15}}},
     r"hparams\['augmentation'\]: unknown augmentation 'rotate'; expected some of: "
     r"horizontal_flip, shift_pixels"),
    ("resnet", {"hparams": {"augmentation": {"shift_pixels": 20}}},
     r"hparams\['augmentation'\]\['shift_pixels'\] has a bad value 20"),
    ("resnet", {"hparams": {"augmentation": {"horizontal_flip": "yes"}}},
     r"hparams\['augmentation'\]\['horizontal_flip'\]"),
    ("cnn", {"hparams": {"augmentation": ["flip"]}}, r"hparams\['augmentation'\] must be a mapping"),
    ("dense", {"hparams": {"augmentation": {"horizontal_flip": True}}},
     r"unknown hparam 'augmentation' for model family 'dense'"),
    ("resnet", {"hparams": {"lr_schedule": {"name": "step"}}}, r"hparams\['lr_schedule'\]"),
    ("resnet", {"hparams": {"lr_schedule": {"name": "cosine", "warmup_steps": -5}}},
     r"hparams\['lr_schedule'\]\['warmup_steps'\] must be an int >= 0, got -5"),
    ("dense", {"hparams": {"learning_rate": 0}}, r"hparams\['learning_rate'\] must be a number in \(0, 1\)"),
    ("dense", {"hparams": {"dropout": 1.5}}, r"hparams\['dropout'\] must be a number in \[0, 1\)"),
    ("dense", {"hparams": {"hidden_units": [64, 0]}}, r"hparams\['hidden_units'\]"),
    ("resnet", {"hparams": {"blocks_per_stage": 0}}, r"hparams\['blocks_per_stage'\] must be an int >= 1"),
    ("dense", {"hparams": {"categorical_embedding_dim": -8}},
     r"hparams\['categorical_embedding_dim'\] must be an int >= 0 \(0: one-hot\), got -8"),
    ("transformer", {"hparams": {"weight_decay": 50}},
     r"hparams\['weight_decay'\] must be a number in \[0, 10\], got 50"),
    ("transformer", {"hparams": {"embedding_dropout": 1.0}},
     r"hparams\['embedding_dropout'\] must be a number in \[0, 1\), got 1.0"),
    ("lstm", {"hparams": {"embedding_dropout": 0.1}},
     r"unknown hparam 'embedding_dropout' for model family 'lstm'"),
    ("lstm", {"hparams": {"learning_rat": 1e-3}}, r"unknown hparam 'learning_rat' for model family 'lstm'"),
    ("dense", {"early_stopping_patience": -1}, r"early_stopping_patience must be >= 1, got -1"),
    ("dense", {"early_stopping_patience": 0}, r"early_stopping_patience must be >= 1, got 0"),
    ("dense", {"early_stopping_patience": 2.5}, r"early_stopping_patience must be an int >= 1, got 2.5"),
    ("dense", {"epochs": 0}, r"epochs must be >= 1, got 0"),
    ("dense", {"seed": -1}, r"seed must be an int in \[0, 2\*\*32 - 1\], got -1"),
    ("dense", {"seed": 2 ** 32}, r"seed must be an int in \[0, 2\*\*32 - 1\], got 4294967296"),
    ("dense", {"seed": True}, r"seed must be an int in \[0, 2\*\*32 - 1\], got True"),
])
def test_nonsense_settings_fail_naming_the_field(model, fields, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(model=model, **fields).validate()


def test_patience_reaches_the_trainer_and_round_trips_through_json():
    config = RunConfig(model="dense", early_stopping_patience=2)
    config.validate()
    assert config.trainer_config()["early_stopping_patience"] == 2
    assert RunConfig.from_json(config.to_json()) == config
    assert "early_stopping_patience" not in RunConfig(model="dense").trainer_config()


def test_seed_reaches_the_trainer_and_round_trips_through_json():
    config = RunConfig(model="dense", seed=0)   # 0 is a seed, not "unset"
    config.validate()
    assert config.trainer_config()["seed"] == 0
    assert RunConfig.from_json(config.to_json()) == config
    assert "seed" not in RunConfig(model="dense").trainer_config()
    with pytest.raises(ValueError, match=r"config key 'seed' must be an integer or null"):
        RunConfig.from_json('{"seed": 1.5}')


def test_saved_config_paths_are_absolute_and_uris_unchanged(tmp_path, monkeypatch):
    """A run's config.json (``with_absolute_paths``) repeats from any folder."""
    import os

    monkeypatch.chdir(tmp_path)
    config = RunConfig(model="dense", workspace="ws", data_dir="data", csv="trips/x.csv")
    saved = RunConfig.from_json(config.with_absolute_paths().to_json())
    assert (saved.workspace, saved.data_dir, saved.csv) == (
        os.path.join(str(tmp_path), "ws"), os.path.join(str(tmp_path), "data"),
        os.path.join(str(tmp_path), "trips", "x.csv"))
    assert saved.model == "dense" and saved.hparams == config.hparams
    remote = RunConfig(model="dense", workspace="gs://bucket/ws", data_dir="gs://bucket/data",
                       csv=None).with_absolute_paths()
    assert (remote.workspace, remote.data_dir, remote.csv) == (
        "gs://bucket/ws", "gs://bucket/data", None)
