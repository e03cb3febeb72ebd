"""Feature names of the Chicago taxi dataset and the label, named once.

Transformed features carry the ``_xf`` suffix so that TFMA, which merges
transformed and raw features, never confuses the two (TFX taxi template
convention).
"""
import numpy as np

from tfxp.core.datasets import IMAGE, TABULAR, TEXT

# z-scored floats; a missing value becomes 0 (the mean) after scaling.
NUMERIC_FEATURES = ("fare", "trip_miles", "trip_seconds")
# Each numeric feature is also cut into this many quantile buckets of the
# train split (``<name>_bucket_xf``; missing -> bucket NUMERIC_BUCKETS): the
# MLP then sees the skewed fares and distances piecewise, as a tree would
# (5-fold cross-validation on train + validation, 2026-12-02: mean AUC 0.948
# with the z-scores alone, 0.951 with 20 buckets; bench/dense_cv.py).
NUMERIC_BUCKETS = 20


def numeric_bucket_name(key: str) -> str:
    """``'fare'`` -> ``'fare_bucket_xf'``: the quantile-bucket twin of a
    numeric feature, a transformed name like any other."""
    return transformed_name(key + "_bucket")

# Integer calendar fields cut at fixed boundaries: name -> number of values.
# Bucket i holds value (first + i); a missing value gets its own last bucket.
CALENDAR_FEATURES = {
    "trip_start_hour": (0, 24),
    "trip_start_day": (1, 7),
    "trip_start_month": (1, 12),
}

# Coordinates cut into quantile buckets computed by TFT over the train split.
QUANTILE_FEATURES = ("pickup_latitude", "pickup_longitude",
                     "dropoff_latitude", "dropoff_longitude")
QUANTILE_BUCKETS = 10

# Strings (or integer codes used as categories) mapped through a vocabulary.
VOCAB_FEATURES = ("payment_type", "company", "pickup_community_area",
                  "dropoff_community_area")
VOCAB_TOP_K = 100
VOCAB_OOV_BUCKETS = 1
MISSING_TOKEN = "__missing__"

# Every raw column the tabular preprocessing_fn turns into a model input: the
# serving signatures parse exactly these (the CSV's other columns, e.g.
# trip_start_timestamp, are not needed and are ignored when sent).
TABULAR_MODEL_FEATURES = (NUMERIC_FEATURES + tuple(CALENDAR_FEATURES)
                          + QUANTILE_FEATURES + VOCAB_FEATURES)

# Raw columns the label is computed from; they are absent at serving time.
FARE_KEY = "fare"
TIPS_KEY = "tips"
BIG_TIPPER_FRACTION = 0.2


def big_tipper(tips, fare) -> int:
    """The taxi label of one raw row, as ``tabular_preprocessing_fn`` computes
    it: 1 if ``tips > 0.2 * fare``; a missing (None) fare -> 0, missing tips
    count as 0."""
    if fare is None:
        return 0
    # float32 like the TFT graph, so that rows on the boundary agree.
    return int(np.float32(tips or 0.0) > np.float32(BIG_TIPPER_FRACTION) * np.float32(fare))

# The transformed label, shared by every modality.
LABEL_KEY = "label"


def raw_label(values) -> int:
    """The class id of one raw example, by the dataset's label definition:
    its ``label`` feature (images, text) or, for the taxi data, which has
    none, ``big_tipper`` of its ``tips`` and ``fare``.

    Args:
      values: ``{feature name: list of values}`` of one raw example (an
        absent or empty list is a missing value).
    Raises:
      ValueError: the example has neither a label nor a fare.
    """
    if values.get(LABEL_KEY):
        return int(values[LABEL_KEY][0])
    if FARE_KEY in values or TIPS_KEY in values:
        first = lambda key: values[key][0] if values.get(key) else None  # noqa: E731
        return big_tipper(first(TIPS_KEY), first(FARE_KEY))
    raise ValueError(f"example has no {LABEL_KEY!r} and no {FARE_KEY!r}/{TIPS_KEY!r} "
                     f"feature; features: {', '.join(sorted(values))}")


def transformed_name(key: str) -> str:
    """``'fare'`` -> ``'fare_xf'``."""
    return key + "_xf"


TRANSFORMED_LABEL = transformed_name(LABEL_KEY)
SLICE_FEATURE = "trip_start_hour"

# Image and text datasets (TFDS ExampleGen output): raw keys and shapes.
IMAGE_KEY = "image"          # int64 [784] pixel values 0..255, row-major 28x28
IMAGE_SHAPE = (28, 28, 1)
TEXT_KEY = "text"            # bytes, one UTF-8 review snippet
TOKENS_KEY = "tokens"        # transformed: int64 [MAX_TOKENS] ids, 0 = padding
MAX_TOKENS = 64
TEXT_VOCAB_TOP_K = 20000
TEXT_OOV_BUCKETS = 1

# Raw features the serving signatures parse, per modality (core.datasets
# MODALITIES): exactly those the modality's preprocessing_fn
# (models/preprocessing.py) makes model inputs of; models/export.py builds the
# signatures from it and ``tfxp drift`` compares served traffic on it.
SERVING_FEATURES = {TABULAR: TABULAR_MODEL_FEATURES, IMAGE: (IMAGE_KEY,),
                    TEXT: (TEXT_KEY,)}
