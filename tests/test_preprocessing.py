"""The tabular ``preprocessing_fn`` on real taxi rows, run with tft_beam and
checked against numpy on the same rows."""
from __future__ import annotations

import collections
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from tfxp.core import features as F
from tfxp.models.preprocessing import tabular_preprocessing_fn
from tests.taxi_rows import FLOAT_COLUMNS, STRING_COLUMNS, read_rows

INT_COLUMNS = ("trip_start_hour", "trip_start_day", "trip_start_month",
               "pickup_community_area", "dropoff_community_area")


def _rows_with_empty_fields():
    rows = read_rows()
    picked = rows[:40]
    # Make sure every kind of empty field the CSV has is in the sample.
    for column in ("company", "trip_seconds", "dropoff_latitude", "dropoff_community_area"):
        picked += [r for r in rows if r[column] == ""][:3]
    return picked


def _parse(row):
    out = {}
    for key in FLOAT_COLUMNS:
        out[key] = [float(row[key])] if row[key] else []
    for key in INT_COLUMNS:
        out[key] = [int(float(row[key]))] if row[key] else []
    for key in STRING_COLUMNS:
        out[key] = [row[key].encode()] if row[key] else []
    return out


@pytest.fixture(scope="module")
def transformed():
    rows = _rows_with_empty_fields()
    # Every column may be empty: all VarLen (sparse), like SchemaGen's output
    # for columns with missing values.
    spec = {k: tf.io.VarLenFeature(tf.float32) for k in FLOAT_COLUMNS}
    spec.update({k: tf.io.VarLenFeature(tf.int64) for k in INT_COLUMNS})
    spec.update({k: tf.io.VarLenFeature(tf.string) for k in STRING_COLUMNS})
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (out, _), _ = ([_parse(r) for r in rows], metadata) | tft_beam.AnalyzeAndTransformDataset(
            tabular_preprocessing_fn)
    return rows, out


def test_numeric_features_are_z_scores_of_present_values_and_zero_when_missing(transformed):
    rows, out = transformed
    for key in F.NUMERIC_FEATURES:
        raw = np.array([float(r[key]) if r[key] else np.nan for r in rows])
        expected = (raw - np.nanmean(raw)) / np.nanstd(raw)
        expected[np.isnan(raw)] = 0.0
        got = np.array([o[F.transformed_name(key)] for o in out])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=key)
    assert any(r["trip_seconds"] == "" for r in rows)


def test_calendar_features_are_bucketed_by_value(transformed):
    rows, out = transformed
    for key, (first, count) in F.CALENDAR_FEATURES.items():
        got = [o[F.transformed_name(key)] for o in out]
        assert got == [int(r[key]) - first for r in rows], key
        assert all(0 <= g < count for g in got)


def test_vocabulary_ids_follow_frequency_rank_and_missing_gets_its_own_id(transformed):
    rows, out = transformed
    for key in ("payment_type", "company"):
        tokens = [r[key] or F.MISSING_TOKEN for r in rows]
        counts = collections.Counter(tokens)
        # TFT orders a vocabulary by descending frequency, ties by descending token bytes.
        ranked = sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)
        expected = [ranked.index(t) for t in tokens]
        assert [o[F.transformed_name(key)] for o in out] == expected, key
    assert any(r["company"] == "" for r in rows)


def test_label_is_big_tipper(transformed):
    rows, out = transformed
    expected = [int(float(r["tips"]) > 0.2 * float(r["fare"])) for r in rows]
    assert [o[F.TRANSFORMED_LABEL] for o in out] == expected
    assert 0 < sum(expected) < len(expected)


def test_missing_coordinates_get_the_extra_quantile_bucket(transformed):
    rows, out = transformed
    for r, o in zip(rows, out):
        bucket = o[F.transformed_name("dropoff_latitude")]
        if r["dropoff_latitude"] == "":
            assert bucket == F.QUANTILE_BUCKETS
        else:
            assert 0 <= bucket < F.QUANTILE_BUCKETS


def test_numeric_buckets_follow_the_values_and_missing_gets_the_extra_bucket(transformed):
    """``<name>_bucket_xf``: present values in ``[0, NUMERIC_BUCKETS)``,
    never decreasing as the value grows (quantile boundaries), the lowest and
    the highest values in the first and the last bucket used; a missing value
    in bucket ``NUMERIC_BUCKETS``."""
    rows, out = transformed
    for key in F.NUMERIC_FEATURES:
        name = F.numeric_bucket_name(key)
        present = sorted((float(r[key]), o[name]) for r, o in zip(rows, out) if r[key] != "")
        assert all(o[name] == F.NUMERIC_BUCKETS for r, o in zip(rows, out) if r[key] == "")
        buckets = [b for _, b in present]
        assert all(0 <= b < F.NUMERIC_BUCKETS for b in buckets), key
        assert buckets == sorted(buckets), key
        # Quantile buckets over these ~50 rows spread them out.
        assert len(set(buckets)) >= 5, (key, buckets)
    # The sample holds rows without trip_seconds (see _rows_with_empty_fields).
    assert any(r["trip_seconds"] == "" for r in rows)
