"""Cases of tensorflow_serving/servables/tensorflow/classifier_test.cc
(TF Serving 2.16.1), run through ``InferenceCore.classify`` on the model of
``tfserving_models.write_classifier``: its FakeSession (classes = each
example's ``class`` bytes feature, scores = its ``score`` float feature) as
``serving_default``, the named signatures of the TF test, and one signature
per MockSession case answering the mock's fixed tensors.

The TF test edits ``serving_default`` for ClassesOnly / ScoresOnly /
MissingClassificationSignature; here those are signatures of their own
(``classes_only``, ``scores_only``, ``empty_signature``). It runs every case
with the signature method-name check off and on (a test parameter); TF
Serving's default is off, the only mode our server has, so the cases are
ported with it off, and MethodNameCheck's check-on expectations are skipped.

input: ``signature`` (None: serving_default) and ``input`` (Input text
proto); expect: ``result`` (ClassificationResult text proto) or
``scores_near``, or ``error``.
"""
from __future__ import annotations

from tests.tfserving_cases import Case

INVALID = "INVALID_ARGUMENT"
_METHOD_CHECK = ("needs --enable_signature_method_name_check, which our server does not "
                 "have: it implements TF Serving's default (the check off)")


def example(class_scores):
    """classifier_test.cc example(): features class (bytes) and score (float)."""
    classes = " ".join(f'value: "{c}"' for c, _ in class_scores)
    scores = " ".join(f"value: {s}" for _, s in class_scores)
    return (f'features {{ feature {{ key: "class" value {{ bytes_list {{ {classes} }} }} }} '
            f'feature {{ key: "score" value {{ float_list {{ {scores} }} }} }} }}')


def example_list(*examples):
    return "example_list { " + " ".join(f"examples {{ {e} }}" for e in examples) + " }"


def result(*rows):
    """ClassificationResult text: rows of (label or None, score or None)."""
    def cls(label, score):
        return ("classes { " + (f'label: "{label}" ' if label is not None else "")
                + (f"score: {score} " if score is not None else "") + "}")
    return " ".join("classifications { " + " ".join(cls(*c) for c in row) + " }"
                    for row in rows)


_TWO = example_list(example([("dos", 2), ("uno", 1)]), example([("cuatro", 4), ("tres", 3)]))
_ONE = example_list(example([("dos", 2), ("uno", 1)]))


def _case(id, input, signature=None, expect=None, error=None, **kw):
    return Case(id, {"signature": signature, "input": input},
                None if expect is None else {"result": expect},
                error=None if error is None else (INVALID, error) if isinstance(error, str)
                else error, **kw)


CLASSIFY = [
    _case("ExampleList", _TWO, expect=result([("dos", 2), ("uno", 1)],
                                             [("cuatro", 4), ("tres", 3)])),
    _case("ExampleListWithContext",
          "example_list_with_context { context { " + example([("dos", 2), ("uno", 1)])
          + " } examples {} examples {} }",
          expect=result([("dos", 2), ("uno", 1)], [("dos", 2), ("uno", 1)])),
    _case("ExampleListWithContext_DuplicateFeatures",
          "example_list_with_context { context { " + example([("uno", 1), ("dos", 2)])
          + " } examples {} examples { " + example([("tres", 3), ("cuatro", 4)]) + " } }",
          expect=result([("uno", 1), ("dos", 2)], [("tres", 3), ("cuatro", 4)])),
    _case("ClassesOnly", _TWO, "classes_only",
          expect=result([("dos", None), ("uno", None)], [("cuatro", None), ("tres", None)])),
    _case("ScoresOnly", _TWO, "scores_only",
          expect=result([(None, 2), (None, 1)], [(None, 4), (None, 3)])),
    Case("ZeroScoresArePresent", {"signature": "scores_only", "input": example_list(
        example([("minus", -1), ("zero", 0), ("one", 1)]))}, {"scores_near": [[-1, 0, 1]]}),
    _case("ValidNamedSignature", _TWO, "output_plus_one",
          expect=result([("dos", 3), ("uno", 2)], [("cuatro", 5), ("tres", 4)])),
    _case("InvalidNamedSignature", _TWO, "invalid_regression_signature", error=(INVALID, "")),
    _case("MalformedScores", _TWO, "ImproperlySizedScoresSignature", error=(INVALID, "")),
    _case("MissingClassificationSignature", example_list(example([("dos", 2)])),
          "empty_signature", error=(INVALID, "")),
    _case("EmptyInput", "", error="Input is empty"),
    _case("EmptyExampleList", "example_list {}", error="Input is empty"),
    _case("EmptyExampleListWithContext",
          "example_list_with_context { context { " + example([("dos", 2)]) + " } }",
          error="Input is empty"),
    Case("RunsFails", {"signature": "runs_fail",
                       "input": example_list(example([("dos", 2)]))},
         error=("", "Run totally failed"),
         note="TF's mock fails with INTERNAL; the case checks the message only"),
    _case("ClassesIncorrectTensorBatchSize", _TWO, "classes_batch_1",
          error=("", "batch size")),
    _case("ClassesIncorrectTensorType", _TWO, "classes_float",
          error=("", "Expected classes Tensor of DT_STRING")),
    _case("ScoresIncorrectTensorBatchSize", _TWO, "scores_batch_1",
          error=("", "batch size")),
    _case("ScoresIncorrectTensorType", _TWO, "scores_string",
          error=("", "Expected scores Tensor of DT_FLOAT")),
    _case("MismatchedNumberOfTensorClasses", _TWO, "classes_scores_mismatch",
          error=("", "Tensors class and score should match in dim_size(1). Got 2 vs. 3")),
    Case("MethodNameCheck/check_off/classify_method", {"signature": None, "input": _ONE},
         {"ok": True}),
    Case("MethodNameCheck/check_off/unsupported_method",
         {"signature": "method_unsupported", "input": _ONE}, {"ok": True}),
    Case("MethodNameCheck/check_off/empty_method",
         {"signature": "method_empty", "input": _ONE}, {"ok": True}),
    Case("MethodNameCheck/check_on/classify_method", {"signature": None, "input": _ONE},
         {"ok": True}, skip=_METHOD_CHECK),
    Case("MethodNameCheck/check_on/unsupported_method",
         {"signature": "method_unsupported", "input": _ONE}, error=("", ""),
         skip=_METHOD_CHECK),
    Case("MethodNameCheck/check_on/empty_method",
         {"signature": "method_empty", "input": _ONE}, error=("", ""), skip=_METHOD_CHECK),
]
