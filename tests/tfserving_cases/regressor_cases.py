"""Cases of tensorflow_serving/servables/tensorflow/regressor_test.cc
(TF Serving 2.16.1), run through ``InferenceCore.regress`` on the model of
``tfserving_models.write_regressor``: its FakeSession (outputs = each
example's ``output`` float feature; [batch_size], or [batch_size, 1] + 1 for
``output_plus_one``) as ``serving_default``, the TF test's named signatures
and one signature per MockSession case. As in classifier_cases, the
method-name check is off (TF Serving's default, our only mode) and
MethodNameCheck's check-on expectations are skipped.

input: ``signature`` and ``input`` (Input text proto); expect: ``result``
(RegressionResult text proto) or ``error``.
"""
from __future__ import annotations

from tests.tfserving_cases import Case

INVALID = "INVALID_ARGUMENT"
_METHOD_CHECK = ("needs --enable_signature_method_name_check, which our server does not "
                 "have: it implements TF Serving's default (the check off)")


def example_with_output(value):
    return f'features {{ feature {{ key: "output" value {{ float_list {{ value: {value} }} }} }} }}'


def example_list(*examples):
    return "example_list { " + " ".join(f"examples {{ {e} }}" for e in examples) + " }"


def result(*values):
    return " ".join(f"regressions {{ value: {v} }}" for v in values)


_TWO = example_list(example_with_output(2.0), example_with_output(3.0))
_ONE = example_list(example_with_output(2.0))


def _case(id, input, signature=None, expect=None, error=None, **kw):
    return Case(id, {"signature": signature, "input": input},
                None if expect is None else {"result": expect}, error=error, **kw)


REGRESS = [
    _case("BasicExampleList", _TWO, expect=result(2.0, 3.0)),
    _case("BasicExampleListWithContext",
          "example_list_with_context { context { " + example_with_output(3.0)
          + " } examples {} examples {} }", expect=result(3.0, 3.0)),
    _case("ValidNamedSignature", _TWO, "output_plus_one", expect=result(3.0, 4.0)),
    _case("InvalidNamedSignature", _TWO, "invalid_classification_signature",
          error=(INVALID, "")),
    _case("MalformedOutputs", _TWO, "ImproperlySizedOutputSignature", error=(INVALID, "")),
    _case("EmptyInput", "", error=(INVALID, "Input is empty")),
    _case("EmptyExampleList", "example_list {}", error=(INVALID, "Input is empty")),
    _case("EmptyExampleListWithContext",
          "example_list_with_context { context { " + example_with_output(3) + " } }",
          error=(INVALID, "Input is empty")),
    _case("RunsFails", _ONE, "runs_fail", error=("", "Run totally failed"),
          note="TF's mock fails with INTERNAL; the case checks the message only"),
    _case("UnexpectedOutputTensorSize", _ONE, "unexpected_output_size",
          error=("", "output batch size")),
    _case("UnexpectedOutputTensorType", _ONE, "unexpected_output_type",
          error=("", "Expected output Tensor of DT_FLOAT")),
    _case("MissingRegressionSignature", example_list(
        'features { feature { key: "class" value { bytes_list { value: "uno" } } } }'),
          "empty_signature", error=(INVALID, "")),
    _case("MethodNameCheck/check_off/regress_method", _ONE, expect=result(2.0)),
    _case("MethodNameCheck/check_off/unsupported_method", _ONE, "method_unsupported",
          expect=result(2.0)),
    _case("MethodNameCheck/check_off/empty_method", _ONE, "method_empty", expect=result(2.0)),
    _case("MethodNameCheck/check_on/regress_method", _ONE, expect=result(2.0),
          skip=_METHOD_CHECK),
    _case("MethodNameCheck/check_on/unsupported_method", _ONE, "method_unsupported",
          error=("", ""), skip=_METHOD_CHECK),
    _case("MethodNameCheck/check_on/empty_method", _ONE, "method_empty", error=("", ""),
          skip=_METHOD_CHECK),
]
