"""Cases of tensorflow_serving/model_servers/get_model_status_impl_test.cc
(TF Serving 2.16.1), run through ``InferenceCore.get_model_status``.

The model ``saved_model_half_plus_two_2_versions`` has versions 123 and 124
(specific policy, both loaded). input: ``request`` (GetModelStatusRequest
text proto); expect: ``versions`` (the set of versions reported, each
AVAILABLE with error_code OK and an empty message), or ``error``.
"""
from __future__ import annotations

from tests.tfserving_cases import Case

MODEL = "saved_model_half_plus_two_2_versions"
INVALID, NOT_FOUND = "INVALID_ARGUMENT", "NOT_FOUND"

STATUS = [
    Case("MissingOrEmptyModelSpecFailure", {"request": ""}, error=(INVALID, "")),
    Case("InvalidModelNameFailure", {"request": 'model_spec { name: "nonexistent_model" }'},
         error=(NOT_FOUND, "")),
    Case("InvalidModelVersionFailure",
         {"request": f'model_spec {{ name: "{MODEL}" version {{ value: 125 }} }}'},
         error=(NOT_FOUND, "")),
    Case("AllVersionsSuccess", {"request": f'model_spec {{ name: "{MODEL}" }}'},
         {"versions": {123, 124}}),
    Case("SingleVersionSuccess",
         {"request": f'model_spec {{ name: "{MODEL}" version {{ value: 123 }} }}'},
         {"versions": {123}}),
    Case("ModelSpecOverride/request_spec",
         {"request": f'model_spec {{ name: "{MODEL}" }}'}, {"versions": {123, 124}},
         note="TF only checks that this is not NOT_FOUND"),
    Case("ModelSpecOverride/override_spec",
         {"request": f'model_spec {{ name: "{MODEL}" }}',
          "override": 'name: "nonexistent_model"'}, error=(NOT_FOUND, ""),
         skip="GetModelStatusWithModelSpec (a ModelSpec overriding the request's) is "
              "TF Serving's C++ API for its internal callers; neither the gRPC nor the "
              "REST API nor InferenceCore has it"),
]
