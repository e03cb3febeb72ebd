"""Cases of tensorflow_serving/servables/tensorflow/predict_util_test.cc
(TF Serving 2.16.1), run through ``InferenceCore.predict``.

The TF Serving test serves ``test_model`` version 123 from three server
cores: half_plus_two (default), saved_model_counter (``server: counter``)
and bad_half_plus_two (``server: bad``, a model without signatures); so do
we (tests/tfserving_models.py; half_plus_two also has the signatures
``method_unsupported``/``method_empty`` of MethodNameCheck).

input: ``request`` (PredictRequest text proto); expect: ``response``
(PredictResponse text proto: its model_spec, and each output's dtype, shape
and typed values field), or ``error`` (code, message fragment).
"""
from __future__ import annotations

from tests.tfserving_cases import Case

INVALID, FAILED = "INVALID_ARGUMENT", "FAILED_PRECONDITION"
MODEL, VERSION = "test_model", 123
_SPEC = f'model_spec {{ name: "{MODEL}" version {{ value: {VERSION} }} }}'
_X_2 = 'inputs { key: "x" value { dtype: DT_FLOAT float_val: 2.0 } }'
_METHOD_CHECK = ("needs --enable_signature_method_name_check, which our server does not "
                 "have: it implements TF Serving's default (the check off)")


def _response(signature, outputs):
    return (f'model_spec {{ name: "{MODEL}" version {{ value: {VERSION} }} '
            f'signature_name: "{signature}" }} ' + " ".join(
                f'outputs {{ key: "{k}" value {{ dtype: DT_FLOAT tensor_shape {{}} '
                f'float_val: {v} }} }}' for k, v in outputs.items()))


PREDICT = [
    Case("MissingOrEmptyModelSpec/empty_request", {"request": ""},
         error=(INVALID, "")),
    Case("MissingOrEmptyModelSpec/no_name", {"request": "model_spec {}"},
         error=(INVALID, "")),
    # CallPredict looks the servable up as test_model whatever the request
    # names; the empty input list is what fails.
    Case("MissingOrEmptyModelSpec/wrong_name", {"request": 'model_spec { name: "test" }',
                                                "lookup_as": MODEL},
         error=(INVALID, "")),
    Case("EmptyInputList", {"request": _SPEC}, error=(INVALID, "")),
    Case("InputTensorsDontMatchModelSpecInputs", {"request": _SPEC + """
        inputs { key: "unknown_key1" value {
          dtype: DT_STRING tensor_shape { dim { size: 1 } } string_val: "any_value" } }
        inputs { key: "unknown_key2" value {
          dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: 1.0 } }"""},
         error=(INVALID, "Sent extra: {unknown_key1,unknown_key2}"),
         note="also checked: 'Missing but required: {x}'"),
    Case("PredictionInvalidTensor", {"request": _SPEC + """
        inputs { key: "x" value { dtype: DT_BOOL bool_val: true } }"""},
         error=(INVALID, "Expects arg[0] to be float but bool is provided")),
    Case("OutputFiltersDontMatchModelSpecOutputs/unknown",
         {"request": _SPEC + _X_2 + ' output_filter: "output_filter"'},
         error=(INVALID, "output tensor alias not found in signature: output_filter")),
    Case("OutputFiltersDontMatchModelSpecOutputs/known",
         {"request": _SPEC + _X_2 + ' output_filter: "y"'},
         {"response": _response("serving_default", {"y": 3})}),
    Case("OutputFiltersDontMatchModelSpecOutputs/duplicate",
         {"request": _SPEC + _X_2 + ' output_filter: "y" output_filter: "y"'},
         error=(INVALID, "duplicate output tensor alias: y")),
    Case("InputTensorsHaveWrongType", {"request": _SPEC + """
        inputs { key: "x" value {
          dtype: DT_STRING tensor_shape { dim { size: 1 } } string_val: "any_value" } }
        output_filter: "y" """}, error=(INVALID, "to be float but string is provided")),
    Case("ModelMissingSignatures", {"request": _SPEC, "server": "bad"},
         error=(FAILED, ""),
         note="TF Serving runs this one only in its internal build; the case holds here"),
    Case("PredictionSuccess", {"request": _SPEC + _X_2},
         {"response": _response("serving_default", {"y": 3})}),
    Case("PredictionWithNamedRegressionSignature", {"request": f"""
        model_spec {{ name: "{MODEL}" version {{ value: {VERSION} }}
                      signature_name: "regress_x2_to_y3" }}
        inputs {{ key: "inputs" value {{ dtype: DT_FLOAT float_val: 2.0 }} }}"""},
         {"response": _response("regress_x2_to_y3", {"outputs": 4})}),
    Case("PredictionWithNamedClassificationSignature", {"request": f"""
        model_spec {{ name: "{MODEL}" version {{ value: {VERSION} }}
                      signature_name: "classify_x2_to_y3" }}
        inputs {{ key: "inputs" value {{ dtype: DT_FLOAT float_val: 2.0 }} }}"""},
         {"response": _response("classify_x2_to_y3", {"scores": 4})}),
    # Stateful: one case, its calls in order.
    Case("PredictionWithCustomizedSignatures", {"server": "counter", "steps": [
        ("get_counter", "", 0), ("incr_counter", "", 1), ("reset_counter", "", 0),
        ("incr_counter", 'output_filter: "output"', 1),
        ("incr_counter_by", 'inputs { key: "delta" value { dtype: DT_FLOAT float_val: 3 } }',
         4)]}),
    Case("ThreadPoolOptions", {"request": _SPEC + _X_2},
         {"response": _response("serving_default", {"y": 3})},
         skip="RunPredict's per-call inter/intra-op thread pools: neither InferenceCore "
              "nor tf.function calls take thread pool options"),
    Case("MethodNameCheck/check_on/predict_method", {"request": _SPEC + _X_2},
         skip=_METHOD_CHECK),
    Case("MethodNameCheck/check_on/unsupported_method", {"request": _SPEC + _X_2},
         skip=_METHOD_CHECK),
    Case("MethodNameCheck/check_off/predict_method", {"request": _SPEC + _X_2},
         {"ok": True}),
    Case("MethodNameCheck/check_off/unsupported_method", {"request": f"""
        model_spec {{ name: "{MODEL}" version {{ value: {VERSION} }}
                      signature_name: "method_unsupported" }} """ + _X_2}, {"ok": True},
         note="TF edits serving_default's method_name; here a twin signature has it"),
]
