"""Real rows of the taxi CSV for tests, read with the csv module (no TFX)."""
from __future__ import annotations

import csv
import os
from typing import Dict, List

import tensorflow as tf

from tfxp.core.datasets import taxi_csv_dir

FLOAT_COLUMNS = ("fare", "trip_miles", "trip_seconds", "tips", "pickup_latitude",
                 "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
                 "pickup_census_tract", "dropoff_census_tract")
STRING_COLUMNS = ("payment_type", "company")


def read_rows(limit: int | None = None) -> List[Dict[str, str]]:
    """The taxi CSV as ``{column: text}`` dicts; '' marks an empty field."""
    with open(os.path.join(taxi_csv_dir(), "data.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    return rows[:limit] if limit else rows


def to_example(row: Dict[str, str], feature_spec: Dict[str, object]) -> bytes:
    """Serializes one CSV row as a ``tf.Example`` the way CsvExampleGen does:
    an empty field is an absent feature; types follow ``feature_spec``."""
    feature = {}
    for key, spec in feature_spec.items():
        text = row.get(key, "")
        if text == "":
            continue
        if spec.dtype == tf.string:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
        elif spec.dtype == tf.int64:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(text))]))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
