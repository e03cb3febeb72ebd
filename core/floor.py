"""The majority-class floor: one example better than always answering the
most frequent class.

Used twice, on two different splits: the Evaluator's binary-accuracy
threshold on the held-out eval split (``components.evaluator``) and the
Trainer's choice of its exported epoch on the validation split
(``models.best_epoch``), so that the Trainer does not export an epoch the
Evaluator would refuse for putting every score on one side of 0.5.
"""
from __future__ import annotations

from typing import Any, Dict

# The decision threshold of binary tasks: Keras' and TFMA's BinaryAccuracy
# default (prediction > 0.5 is the positive class). The Evaluator's exact
# confusion matrix (pipeline.evaluation) and the report use it.
BINARY_THRESHOLD = 0.5


def majority_floor(counts: Dict[int, int], split: str = "eval") -> Dict[str, Any]:
    """The floor for ``counts`` (``{class id: examples}``).

    Returns:
      ``{"counts": {str(class id): examples}, "examples": total,
      "majority_share": largest class / total, "floor": share + 1/total}``
      (capped at 1.0): one example above always predicting the majority class
      (TFMA's lower bound is inclusive, so ``floor`` itself passes).
    Raises:
      ValueError: no examples (names ``split``).
    """
    total = sum(counts.values())
    if not total:
        raise ValueError(f"the {split} split has no examples; cannot compute the "
                         f"majority-class share")
    share = max(counts.values()) / total
    return {"counts": {str(k): v for k, v in sorted(counts.items())}, "examples": total,
            "majority_share": share, "floor": min(1.0, share + 1.0 / total)}
