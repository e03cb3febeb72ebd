"""Cases of tensorflow_serving/util/json_tensor_test.cc (TF Serving 2.16.1).

- ``PREDICT_REQUEST``: FillPredictRequestFromJson. input: ``infos`` (input
  alias -> DataType name) and ``json`` (the request body); expect:
  ``format`` (row/columnar), ``signature_name`` and ``tensors`` (alias ->
  TensorProto text), or ``error``.
- ``TENSORS_TO_JSON``: MakeJsonFromTensors. input: ``tensors`` (name ->
  TensorProto text) and ``format``; expect: ``json`` and ``compare``
  (``values``: CompareJson, numbers by value; ``strings``:
  CompareJsonAllValuesAsStrings, numbers by their text), or ``error``.
- ``CLASSIFY_REGRESS_REQUEST``: Fill{Classification,Regression}RequestFromJson.
  input: ``method`` and ``json``; expect: the request as text proto, or error.
- ``RESULT_TO_JSON``: MakeJsonFrom{Classification,Regression}Result.
- ``STATUS_TO_JSON``: MakeJsonFromStatus.
"""
from __future__ import annotations

from tests.tfserving_cases import Case

INVALID = "INVALID_ARGUMENT"

_INT_3x2 = """
    dtype: DT_INT32
    tensor_shape { dim { size: 3 } dim { size: 2 } }
    int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
"""
_INT_1x3x2 = """
    dtype: DT_INT32
    tensor_shape { dim { size: 1 } dim { size: 3 } dim { size: 2 } }
    int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
"""
_HELLO_WORLD_B64 = '[ { "b64" : "aGVsbG8=" }, { "b64": "d29ybGQ=" } ]'
_MULTI_INFOS = {"int_tensor": "DT_INT32", "str_tensor": "DT_STRING",
                "float_tensor": "DT_FLOAT", "dbl_tensor": "DT_DOUBLE"}
_TWO_INFOS = {"int_tensor": "DT_INT32", "str_tensor": "DT_STRING"}


def _ok(infos, json, tensors, fmt="row", signature_name=""):
    return {"infos": infos, "json": json}, {"format": fmt, "signature_name": signature_name,
                                            "tensors": tensors}


def _request(id, infos, json, tensors, fmt="row", signature_name="", **kw):
    given, expect = _ok(infos, json, tensors, fmt, signature_name)
    return Case(id, given, expect, **kw)


def _request_error(id, infos, json, fragment, **kw):
    return Case(id, {"infos": infos, "json": json}, error=(INVALID, fragment), **kw)


PREDICT_REQUEST = [
    _request("SingleUnnamedTensor", {"default": "DT_INT32"},
             '{ "instances": [[1,2],[3,4],[5,6]] }', {"default": _INT_3x2}),
    _request("MixedInputForFloatTensor", {"default": "DT_FLOAT"},
             '{ "instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 7 } }
                float_val: 1 float_val: 2.0 float_val: 3 float_val: 4 float_val: 5.003
                float_val: 0.007 float_val: 0.0"""}),
    _request("MixedInputForDoubleTensor", {"default": "DT_DOUBLE"},
             '{ "instances": [1.0, 2, 3, 4, 0.662, 0, 0.0] }', {"default": """
                dtype: DT_DOUBLE tensor_shape { dim { size: 7 } }
                double_val: 1.0 double_val: 2 double_val: 3 double_val: 4
                double_val: 0.662 double_val: 0 double_val: 0.0"""}),
    _request("FloatTensorWithPrecisionLoss/integer", {"default": "DT_FLOAT"},
             '{ "instances": [1435774380] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: 1435774380"""}),
    _request("FloatTensorWithPrecisionLoss/decimal", {"default": "DT_FLOAT"},
             '{ "instances": [1435774380.0] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: 1435774380.0"""}),
    # absl::Substitute("$0", numeric_limits<double>::max()) writes 1.79769e+308.
    _request("FloatTensorThatExceedsMaxReturnsInf/max", {"default": "DT_FLOAT"},
             '{ "instances": [1.79769e+308] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: inf"""}),
    _request("FloatTensorThatExceedsMaxReturnsInf/lowest", {"default": "DT_FLOAT"},
             '{ "instances": [-1.79769e+308] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: -inf"""}),
    _request("FloatTensorThatExceedsMinReturnsZero/min", {"default": "DT_FLOAT"},
             '{ "instances": [2.22507e-308] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: 0"""}),
    _request("FloatTensorThatExceedsMinReturnsZero/minus_min", {"default": "DT_FLOAT"},
             '{ "instances": [-2.22507e-308] }', {"default": """
                dtype: DT_FLOAT tensor_shape { dim { size: 1 } } float_val: -0"""}),
    _request("SingleUnnamedTensorWithSignature", {"default": "DT_INT32"},
             '{ "signature_name": "predict_images", "instances": [[1,2]] }', {"default": """
                dtype: DT_INT32 tensor_shape { dim { size: 1 } dim { size: 2 } }
                int_val: 1 int_val: 2"""}, signature_name="predict_images"),
    # The C++ test passes a buffer that is not NUL-terminated (its last byte,
    # an 'X', outside the string_view); a Python str always has its length.
    _request("TensorFromNonNullTerminatedBuffer", {"default": "DT_INT32"},
             '{"instances": [[1,2],[3,4],[5,6]]}', {"default": _INT_3x2}),
    _request("SingleUnnamedTensorBase64Scalars", {"default": "DT_STRING"},
             '{ "instances": ' + _HELLO_WORLD_B64 + " }", {"default": """
                dtype: DT_STRING tensor_shape { dim { size: 2 } }
                string_val: "hello" string_val: "world" """}),
    _request("SingleUnnamedTensorBase64Lists", {"default": "DT_STRING"},
             '{ "instances": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ] }',
             {"default": """
                dtype: DT_STRING tensor_shape { dim { size: 2 } dim { size: 1 } }
                string_val: "hello" string_val: "world" """}),
    _request("SingleNamedTensorBase64", {"default": "DT_STRING"},
             '{ "instances": [ { "default": [ [{ "b64" : "aGVsbG8=" }], '
             '[{ "b64": "d29ybGQ=" }] ] } ] }', {"default": """
                dtype: DT_STRING
                tensor_shape { dim { size: 1 } dim { size: 2 } dim { size: 1 } }
                string_val: "hello" string_val: "world" """}),
    _request("MultipleNamedTensor", _MULTI_INFOS, """{
      "instances": [
        { "int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
          "float_tensor": [1.0, NaN], "dbl_tensor": [NaN] },
        { "int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
          "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0] } ] }""", {
        "int_tensor": """
            dtype: DT_INT32
            tensor_shape { dim { size: 2 } dim { size: 3 } dim { size: 2 } }
            int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
            int_val: 7 int_val: 8 int_val: 9 int_val: 0 int_val: 1 int_val: 2""",
        "str_tensor": """
            dtype: DT_STRING tensor_shape { dim { size: 2 } dim { size: 2 } }
            string_val: "foo" string_val: "bar" string_val: "baz" string_val: "bat" """,
        "float_tensor": """
            dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 2 } }
            float_val: 1.0 float_val: NaN float_val: 2.0 float_val: Infinity""",
        "dbl_tensor": """
            dtype: DT_DOUBLE tensor_shape { dim { size: 2 } dim { size: 1 } }
            double_val: NaN double_val: 2.0"""}),
    _request("SingleUnnamedTensorColumnarFormat/named", {"int_tensor": "DT_INT32"},
             '{ "inputs": { "int_tensor": [[[1,2],[3,4],[5,6]]] } }',
             {"int_tensor": _INT_1x3x2}, fmt="columnar"),
    _request("SingleUnnamedTensorColumnarFormat/unnamed", {"int_tensor": "DT_INT32"},
             '{ "inputs": [[[1,2],[3,4],[5,6]]] }', {"int_tensor": _INT_1x3x2},
             fmt="columnar"),
    _request("MultipleNamedTensorColumnarFormat",
             {"int_tensor": "DT_INT32", "str_tensor": "DT_STRING",
              "bin_tensor": "DT_STRING"}, """{
      "inputs": { "int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],
                  "bin_tensor": { "b64" : "aGVsbG8=" } } }""", {
        "int_tensor": _INT_1x3x2,
        "str_tensor": """
            dtype: DT_STRING tensor_shape { dim { size: 2 } }
            string_val: "foo" string_val: "bar" """,
        "bin_tensor": 'dtype: DT_STRING tensor_shape {} string_val: "hello"'},
             fmt="columnar"),
    _request_error("SingleUnnamedTensorErrors/empty_document", {"default": "DT_INT32"}, "",
                   "document is empty"),
    _request_error("SingleUnnamedTensorErrors/signature_name_not_string",
                   {"default": "DT_INT32"},
                   '{ "signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]] }',
                   "must be a string value"),
    _request_error("SingleUnnamedTensorErrors/instances_and_inputs", {"default": "DT_INT32"},
                   '{ "instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]] }',
                   "Not formatted correctly"),
    _request_error("SingleUnnamedTensorErrors/tensor_size", {"default": "DT_INT32"},
                   '{ "instances": [[1,2],[3,4],[5,6,7]] }', "Expecting tensor size"),
    _request_error("SingleUnnamedTensorErrors/shape_nested", {"default": "DT_INT32"},
                   '{ "instances": [[1,2],[3,4],[[5,6]]] }', "Expecting shape"),
    _request_error("SingleUnnamedTensorErrors/shape_scalar_then_list",
                   {"default": "DT_INT32"}, '{ "instances": [1, [1]] }', "Expecting shape"),
    _request_error("SingleUnnamedTensorErrors/type", {"default": "DT_INT32"},
                   '{ "instances": [[1,2],["a", "b"]] }', "not of expected type"),
    _request_error("MultipleNamedTensorErrors/shape", _TWO_INFOS, """{
      "instances": [
        { "int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"] },
        { "int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"] } ] }""",
                   "Expecting shape"),
    _request_error("MultipleNamedTensorErrors/tensor_size", _TWO_INFOS, """{
      "instances": [
        { "int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"] },
        { "int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"] } ] }""",
                   "Expecting tensor size"),
    _request_error("MultipleNamedTensorErrors/object_then_list", _TWO_INFOS, """{
      "instances": [
        { "int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"] },
        [1, 20, 30],
        { "int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"] } ] }""",
                   "Expecting object but got list"),
    _request_error("MultipleNamedTensorErrors/list_then_object", {"str_tensor": "DT_STRING"},
                   '{ "instances": [ ["baz", "bar"], { "str_tensor": ["baz", "bat"] } ] }',
                   "Expecting value/list but got object"),
]

_INT_2x3x2 = """
    dtype: DT_INT32
    tensor_shape { dim { size: 2 } dim { size: 3 } dim { size: 2 } }
    int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6
    int_val: 7 int_val: 8 int_val: 9 int_val: 0 int_val: 1 int_val: 2
"""
_BYTES_2x2 = """
    dtype: DT_STRING tensor_shape { dim { size: 2 } dim { size: 2 } }
    string_val: "hello" string_val: "world" string_val: "tf" string_val: "serving"
"""
_INT_5 = """
    dtype: DT_INT32 tensor_shape { dim { size: 5 } }
    int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5
"""
_MULTI_TENSORS = {
    "int_tensor": _INT_2x3x2,
    "str_tensor": """
        dtype: DT_STRING tensor_shape { dim { size: 2 } dim { size: 2 } }
        string_val: "foo" string_val: "bar" string_val: "baz" string_val: "bat" """,
    "float_tensor": """
        dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 1 } }
        float_val: 1.0 float_val: 2.0""",
    "double_scalar_tensor": """
        dtype: DT_DOUBLE tensor_shape { dim { size: 2 } } double_val: 8.0 double_val: 9.0""",
    "str_tensor_bytes": _BYTES_2x2,
}


def _to_json(id, tensors, fmt, json, compare="values", **kw):
    return Case(id, {"tensors": tensors, "format": fmt}, {"json": json, "compare": compare},
                **kw)


def _to_json_error(id, tensors, fmt, fragment, **kw):
    return Case(id, {"tensors": tensors, "format": fmt}, error=(INVALID, fragment), **kw)


TENSORS_TO_JSON = [
    _to_json("FromJsonSingleTensor/row", {"int_tensor": _INT_2x3x2}, "row",
             '{ "predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]] }'),
    _to_json("FromJsonSingleTensor/columnar", {"int_tensor": _INT_2x3x2}, "columnar",
             '{ "outputs": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]] }'),
    _to_json("FromJsonSingleScalarTensor/row", {"int_tensor": _INT_5}, "row",
             '{ "predictions": [1, 2, 3, 4, 5] }'),
    _to_json("FromJsonSingleScalarTensor/columnar", {"int_tensor": _INT_5}, "columnar",
             '{ "outputs": [1, 2, 3, 4, 5] }'),
    _to_json("FromJsonSingleBytesTensor", {"str_tensor_bytes": _BYTES_2x2}, "row", """{
        "predictions": [ [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                         [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}] ]}"""),
    _to_json("FromJsonSingleFloatTensorSixDigitPrecision", {"float_tensor": """
        dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 3 } }
        float_val: 9000000 float_val: 999999 float_val: 0.50000
        float_val: .0003 float_val: .00003 float_val: 555557.5"""}, "row",
             '{ "predictions": [ [9e+06, 999999.0, 0.5], [0.0003, 3e-05, 555557.5] ]}',
             compare="strings"),
    _to_json("FromJsonSingleFloatTensorNonFinite", {"float_tensor": """
        dtype: DT_FLOAT tensor_shape { dim { size: 2 } dim { size: 2 } }
        float_val: NaN float_val: Infinity float_val: 3 float_val: -Infinity"""}, "row",
             '{ "predictions": [ [NaN, Infinity], [3.0, -Infinity] ]}', compare="strings"),
    _to_json_error("FromJsonSingleTensorErrors/empty_map", {}, "row", "empty tensor map"),
    _to_json_error("FromJsonSingleTensorErrors/complex64", {"tensor": """
        dtype: DT_COMPLEX64 tensor_shape { dim { size: 2 } }
        scomplex_val: 1.0 scomplex_val: 2.0"""}, "row", "tensor type: complex64"),
    _to_json_error("FromJsonSingleTensorErrors/no_shape",
                   {"tensor": "dtype: DT_INT32 int_val: 1"}, "row", "no shape information"),
    _to_json("FromJsonMultipleNamedTensors/row", _MULTI_TENSORS, "row", """{
    "predictions": [
      { "double_scalar_tensor": 8.0, "float_tensor": [1.0],
        "int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"],
        "str_tensor_bytes": [ {"b64": "aGVsbG8="}, {"b64": "d29ybGQ="} ] },
      { "double_scalar_tensor": 9.0, "float_tensor": [2.0],
        "int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"],
        "str_tensor_bytes": [ {"b64": "dGY="}, {"b64": "c2VydmluZw=="} ] } ]}"""),
    _to_json("FromJsonMultipleNamedTensors/columnar", _MULTI_TENSORS, "columnar", """{
    "outputs": {
      "double_scalar_tensor": [8.0, 9.0],
      "float_tensor": [[1.0], [2.0]],
      "int_tensor": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]],
      "str_tensor": [["foo", "bar"], ["baz", "bat"]],
      "str_tensor_bytes": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                           [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]] }}"""),
    _to_json_error("FromJsonMultipleNamedTensorsErrors", {
        "int_tensor": """
            dtype: DT_INT32 tensor_shape { dim { size: 2 } dim { size: 3 } }
            int_val: 1 int_val: 2 int_val: 3 int_val: 4 int_val: 5 int_val: 6""",
        "str_tensor": """
            dtype: DT_STRING tensor_shape { dim { size: 1 } dim { size: 3 } }
            string_val: "foo" string_val: "bar" string_val: "baz" """},
        "row", "inconsistent batch size"),
    _to_json("FromJsonSingleZeroBatchTensor", {"int_tensor": """
        dtype: DT_INT32 tensor_shape { dim { size: 0 } dim { size: 2 } }"""}, "row",
             '{ "predictions": [] }'),
    _to_json("FromJsonMultipleZeroBatchTensors", {
        "str_tensor": """
            dtype: DT_STRING tensor_shape { dim { size: 0 } dim { size: 1 } dim { size: 2 } }""",
        "float_tensor": """
            dtype: DT_FLOAT tensor_shape { dim { size: 0 } dim { size: 3 } dim { size: 4 } }"""},
             "row", '{ "predictions": [] }'),
    _to_json_error("FromJsonMultipleZeroBatchTensorsErrors", {
        "int_tensor": "dtype: DT_INT32 tensor_shape { dim { size: 0 } dim { size: 2 } }",
        "str_tensor": """
            dtype: DT_STRING tensor_shape { dim { size: 1 } dim { size: 2 } }
            string_val: "foo" string_val: "bar" """}, "row", "inconsistent batch size"),
]

_NO_CONTEXT_JSON = """{
  "examples": [
    { "names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0 ], "age": 20 },
    { "names": [ "baz" ], "ratings": 6.0 } ] }"""
_NO_CONTEXT_REQUEST = """
input { example_list {
  examples { features {
    feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
    feature { key: "ratings" value { float_list { value: 8.0 value: 9.0 } } }
    feature { key: "age" value { int64_list { value: 20 } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "baz" } } }
    feature { key: "ratings" value { float_list { value: 6.0 } } } } } } }
"""
_CONTEXT_JSON = """{
  "signature_name": "custom_signture",
  "context": { "query": "pizza", "location": [ "sfo" ] },
  "examples": [
    { "names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0, NaN, Infinity ], "age": 20 },
    { "names": [ "baz", { "b64": "aGVsbG8=" } ], "ratings": 6.0,
      "intboolmix": [ 1, true, false ] },
    { "names": "bar", "ratings": -Infinity } ] }"""
_CONTEXT_REQUEST = """
model_spec { signature_name: "custom_signture" }
input { example_list_with_context {
  context { features {
    feature { key: "query" value { bytes_list { value: "pizza" } } }
    feature { key: "location" value { bytes_list { value: "sfo" } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
    feature { key: "ratings" value { float_list {
      value: 8.0 value: 9.0 value: NaN value: Infinity } } }
    feature { key: "age" value { int64_list { value: 20 } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "baz" value: "hello" } } }
    feature { key: "ratings" value { float_list { value: 6.0 } } }
    feature { key: "intboolmix" value { int64_list { value: 1 value: 1 value: 0 } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "bar" } } }
    feature { key: "ratings" value { float_list { value: -Infinity } } } } } } }
"""
_CLASSIFY_REGRESS_ERRORS = [
    ("signature_name_not_string",
     '{ "signature_name": [ "hello" ], "examples": [ { "names": [ "foo", "bar" ] } ] }',
     "'signature_name' key must be a string"),
    ("context_not_object", '{ "context": [ { "names": [ "foo", "bar" ] } ] }',
     "Example must be JSON object"),
    ("examples_not_list", '{ "examples": { "names": [ "foo", "bar" ] } }', "list/array"),
    ("example_not_object", '{ "examples": [ [ { "names": [ "foo", "bar" ] } ] ] }',
     "Example must be JSON object"),
    ("null_value", '{ "examples": [ { "names": [ 10, null ] } ] }',
     "names has element with unexpected JSON type: Null"),
    ("int_then_float", '{ "examples": [ { "names": [ 10, 10.0 ] } ] }',
     "feature: names expecting type: int64"),
    ("object_value", '{ "examples": [ { "names": [ 10, { "test": 10 } ] } ] }',
     "names has element with unexpected JSON type: Object"),
    ("nested_list", '{ "examples": [ { "names": [ [10], 20 ] } ] }',
     "names has element with unexpected JSON type: Array"),
    ("uint64_value", '{ "examples": [ { "names": [ 20, 18446744073709551603 ] } ] }',
     "Only int64_t is supported"),
]

CLASSIFY_REGRESS_REQUEST = [
    case
    for method in ("classify", "regress")
    for case in [
        Case(f"RequestNoContext/{method}", {"method": method, "json": _NO_CONTEXT_JSON},
             _NO_CONTEXT_REQUEST),
        Case(f"RequestWithContextAndSignature/{method}",
             {"method": method, "json": _CONTEXT_JSON}, _CONTEXT_REQUEST),
    ] + [Case(f"JsonErrors/{name}/{method}", {"method": method, "json": json},
              error=(INVALID, fragment))
         for name, json, fragment in _CLASSIFY_REGRESS_ERRORS]
]

RESULT_TO_JSON = [
    Case("JsonFromClassificationResult", {"classification_result": """
        classifications {
          classes { label: "car" score: 0.2 } classes { label: "bike" score: 0.7 }
          classes { label: "bus" score: 0.1 } }
        classifications {
          classes { label: "car" score: 0.7 } classes { label: "bike" score: 0.1 }
          classes { label: "bus" score: 0.2 } }"""},
         {"json": """{ "results": [ [ ["car", 0.2], ["bike", 0.7], ["bus", 0.1] ],
                                    [ ["car", 0.7], ["bike", 0.1], ["bus", 0.2] ] ] }""",
          "compare": "values"}),
    Case("JsonFromRegressionResult", {"regression_result": """
        regressions { value: 0.2 } regressions { value: 0.9 } regressions { value: 1.0 }"""},
         {"json": '{ "results": [ 0.2, 0.9, 1.0 ] }', "compare": "values"}),
    Case("JsonFromRegressionResultWithNonFinite", {"regression_result": """
        regressions { value: 0.2 } regressions { value: Infinity } regressions { value: 1.0 }
        regressions { value: -Infinity } regressions { value: NaN }"""},
         {"json": '{ "results": [ 0.2, Infinity, 1.0, -Infinity, NaN ] }',
          "compare": "strings"}),
    Case("JsonFromResultErrors/classification", {"classification_result": ""},
         error=(INVALID, "empty ClassificationResults")),
    Case("JsonFromResultErrors/regression", {"regression_result": ""},
         error=(INVALID, "empty RegressionResults")),
]

STATUS_TO_JSON = [
    Case("StatusOK", ("OK", ""), ""),
    Case("StatusError/double_quotes", (INVALID, 'Bad key: "key"'),
         '{ "error": "Bad key: \\"key\\"" }'),
    Case("StatusError/single_quotes", (INVALID, "Bad key: 'key'"),
         "{ \"error\": \"Bad key: 'key'\" }"),
]
