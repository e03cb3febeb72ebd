"""Cases of tensorflow_serving/model_servers/http_rest_api_handler_test.cc
(TF Serving 2.16.1).

The handler serves half_plus_two (tests/tfserving_models.py) as model
``saved_model_half_plus_two_2_versions``, version 123 only (specific
policy), with label ``Version_Label`` -> 123, as the TF Serving test does.
input: ``method``, ``path``, ``body``; expect: the answer's JSON (compared as
CompareJson does: numbers by value), or ``error`` (code, fragment of the
error message). ``model: "tf1"`` runs the case against the same model built
as a TF1 graph (as TF Serving's test data is). ``PATH_REGEX`` cases: whether
the HTTP server hands the path to the REST handler (kPathRegex).
"""
from __future__ import annotations

from tests.tfserving_cases import Case

MODEL = "saved_model_half_plus_two_2_versions"
VERSION = 123
LABEL = "Version_Label"
MISSING_LABEL = "Version_Nonexistent"
INVALID, NOT_FOUND = "INVALID_ARGUMENT", "NOT_FOUND"
UINT64_MAX = 18446744073709551615

PATH_REGEX = [
    Case("kPathRegex/v1_models", "/v1/models", True),
    Case("kPathRegex/statuspage", "/statuspage", False),
    Case("kPathRegex/index", "/index", False),
]


def _call(method, path, body=""):
    return {"method": method, "path": path, "body": body}


def _malformed(id, method, path):
    return Case(id, _call(method, path), error=(INVALID, "Malformed request"))


_PREDICT = f"/v1/models/{MODEL}:predict"
_REGRESS_BODY = '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }'

HANDLER = [
    _malformed("UnsupportedApiCalls/get_v1_foo", "GET", "/v1/foo"),
    _malformed("UnsupportedApiCalls/post_v1_foo", "POST", "/v1/foo"),
    Case("UnsupportedApiCalls/get_v1_models", _call("GET", "/v1/models"),
         error=(INVALID, "Missing model name")),
    _malformed("UnsupportedApiCalls/get_debug_model_name", "GET",
               "/v1/models/debug/model_name"),
    _malformed("UnsupportedApiCalls/post_v1_models", "POST", "/v1/models"),
    _malformed("UnsupportedApiCalls/get_predict", "GET", "/v1/models/foo:predict"),
    _malformed("UnsupportedApiCalls/get_version_singular", "GET",
               "/v1/models/foo/version/50:predict"),
    _malformed("UnsupportedApiCalls/post_version_singular", "POST",
               "/v1/models/foo/version/50:regress"),
    _malformed("UnsupportedApiCalls/version_not_a_number", "POST",
               "/v1/models/foo/versions/HELLO:regress"),
    Case("UnsupportedApiCalls/version_uint64_max",
         _call("POST", f"/v1/models/foo/versions/{UINT64_MAX}:regress"),
         error=(INVALID, "Failed to convert version")),
    _malformed("UnsupportedApiCalls/post_metadata", "POST", "/v1/models/foo/metadata"),
    _malformed("UnsupportedApiCalls/label_singular", "POST",
               "/v1/models/foo/label/some_label:regress"),
    _malformed("UnsupportedApiCalls/version_and_label", "POST",
               "/v1/models/foo/versions/50/labels/some_label:regress"),
    _malformed("UnsupportedApiCalls/versions_with_a_label", "POST",
               "/v1/models/foo/versions/some_label:regress"),
    Case("PredictModelNameVersionErrors/unknown_model",
         _call("POST", "/v1/models/foo:predict", '{ "instances": [1] }'),
         error=(NOT_FOUND, "")),
    Case("PredictModelNameVersionErrors/unknown_model_version",
         _call("POST", "/v1/models/foo/versions/50:predict", '{ "instances": [1] }'),
         error=(NOT_FOUND, "")),
    Case("PredictModelNameVersionErrors/name_with_99",
         _call("POST", f"/v1/models/{MODEL}99:predict", '{ "instances": [1] }'),
         error=(NOT_FOUND, "")),
    Case("PredictRequestErrors/empty_document", _call("POST", _PREDICT, ""),
         error=(INVALID, "JSON Parse error: The document is empty")),
    Case("PredictRequestErrors/bad_json", _call("POST", _PREDICT, "instances = [1, 2]"),
         error=(INVALID, "JSON Parse error: Invalid value")),
    Case("PredictRequestErrors/wrong_type", _call("POST", _PREDICT,
                                                  '{ "instances": ["x", "y"] }'),
         error=(INVALID, "not of expected type: float")),
    Case("PredictRequestErrors/unknown_label",
         _call("POST", f"/v1/models/{MODEL}/labels/{MISSING_LABEL}:predict",
               '{ "instances": ["x", "y"] }'),
         error=(INVALID, "Unrecognized servable version label")),
    Case("PredictRequestErrors/signature_name_not_string",
         _call("POST", _PREDICT, '{ "signature_name": 100 }'),
         error=(INVALID, "'signature_name' key must be a string value.")),
    Case("Predict/latest", _call("POST", _PREDICT, '{"instances": [[1.0, 2.0], [3.0, 4.0]]}'),
         {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    Case("Predict/version",
         _call("POST", f"/v1/models/{MODEL}/versions/{VERSION}:predict",
               '{"instances": [1.0, 2.0]}'), {"predictions": [2.5, 3.0]}),
    Case("Predict/label",
         _call("POST", f"/v1/models/{MODEL}/labels/{LABEL}:predict",
               '{"instances": [1.0, 2.0]}'), {"predictions": [2.5, 3.0]}),
    Case("Predict/signature_name",
         _call("POST", f"/v1/models/{MODEL}/versions/{VERSION}:predict",
               '{"signature_name": "serving_default", "instances": [3.0, 4.0]}'),
         {"predictions": [3.5, 4.0]}),
    Case("Predict/columnar",
         _call("POST", f"/v1/models/{MODEL}/versions/{VERSION}:predict",
               '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}'),
         {"outputs": [3.5, 4.0]}),
    Case("Regress/latest", _call("POST", f"/v1/models/{MODEL}:regress", _REGRESS_BODY),
         {"results": [42]}),
    Case("Regress/version",
         _call("POST", f"/v1/models/{MODEL}/versions/{VERSION}:regress", _REGRESS_BODY),
         {"results": [42]}),
    Case("Regress/label",
         _call("POST", f"/v1/models/{MODEL}/labels/{LABEL}:regress", _REGRESS_BODY),
         {"results": [42]}),
    Case("Classify/latest",
         _call("POST", f"/v1/models/{MODEL}:classify",
               '{"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] }'),
         {"results": [[["", 12]]]}),
    Case("Classify/label",
         _call("POST", f"/v1/models/{MODEL}/labels/{LABEL}:classify",
               '{"signature_name": "classify_x_to_y", "examples": [ { "x": 10.0 } ] }'),
         {"results": [[["", 7]]]}),
] + [
    Case(f"GetStatus/{how}", _call("GET", path), {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]})
    for how, path in [("all_versions", f"/v1/models/{MODEL}"),
                      ("version", f"/v1/models/{MODEL}/versions/{VERSION}"),
                      ("label", f"/v1/models/{MODEL}/labels/{LABEL}")]
]

# The same Regress/Classify calls on half_plus_two built as a TF1 graph, whose
# example input has no shape (TF Serving's own test model).
TF1_HANDLER = [
    Case(f"{case.id}/tf1", dict(case.input, model="tf1"), case.expect)
    for case in HANDLER if case.id.split("/")[0] in ("Regress", "Classify")
]

# GetModelMetadata compares the answer with servables/tensorflow/testdata/
# saved_model_half_plus_two_2_versions_metadata.json. Ported: its model_spec
# and, for each signature, the method name and the dtypes of the input and
# output aliases. Not compared: tensor names and shapes, which are those of
# TF Serving's TF1 graph (x:0, [-1,1]); tf.function exports name tensors
# serving_default_x:0 etc., and our x has no shape (see tfserving_models).
METADATA = Case("GetModelMetadata", _call("GET", f"/v1/models/{MODEL}/metadata"), {
    "model_spec": {"name": MODEL, "signature_name": "", "version": "123"},
    "signatures": {
        "regress_x2_to_y3": ("tensorflow/serving/regress", {"inputs": "DT_FLOAT"},
                             {"outputs": "DT_FLOAT"}),
        "serving_default": ("tensorflow/serving/predict", {"x": "DT_FLOAT"},
                            {"y": "DT_FLOAT"}),
        "classify_x_to_y": ("tensorflow/serving/classify", {"inputs": "DT_STRING"},
                            {"scores": "DT_FLOAT"}),
        "classify_x2_to_y3": ("tensorflow/serving/classify", {"inputs": "DT_FLOAT"},
                              {"scores": "DT_FLOAT"}),
        "regress_x_to_y2": ("tensorflow/serving/regress", {"inputs": "DT_STRING"},
                            {"outputs": "DT_FLOAT"}),
        "regress_x_to_y": ("tensorflow/serving/regress", {"inputs": "DT_STRING"},
                           {"outputs": "DT_FLOAT"}),
    }}, note="signatures named __*__ (TF2's __saved_model_init_op) are left out")
