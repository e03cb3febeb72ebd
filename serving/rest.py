"""TF Serving's REST API over ``InferenceCore``: URL routing, JSON in and out.

Follows model_servers/http_rest_api_handler.cc (``HttpRestApiHandler``),
http_rest_api_util.cc, util/json_tensor.cc and g3doc/api_rest.md:
``GET /v1/models/NAME[/versions/N|/labels/L][/metadata]`` and
``POST /v1/models/NAME[/versions/N|/labels/L]:(predict|classify|regress)``;
classify and regress answer under ``"results"`` (json_tensor.cc
``kClassifyRegressResponseKey``). Any other method or path under ``/v1/``
is ``Malformed request: METHOD PATH`` (INVALID_ARGUMENT, 400).
Errors answer ``{"error": message}`` with http_server.cc's status mapping
(``serving.errors.HTTP_STATUS``: NOT_FOUND 404; INVALID_ARGUMENT and
FAILED_PRECONDITION 400; RESOURCE_EXHAUSTED 429; UNAVAILABLE 503), messages
cut at 1024 characters. The handler knows nothing of sockets: it takes
(method, path, body) and returns (HTTP status, JSON object), for whichever
HTTP server carries it (``serving.http_server``).
"""
from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any, Dict, Tuple

from google.protobuf import json_format
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, input_pb2, model_pb2,
                                     regression_pb2)

from tfxp.core.signatures import DEFAULT_SIGNATURE
from tfxp.serving import json_tensor
from tfxp.serving.errors import HTTP_STATUS, ServingError, invalid_argument, truncate
from tfxp.serving.inference import SIGNATURE_DEF_FIELD, InferenceCore

log = logging.getLogger(__name__)

class RestApiHandler:
    """The REST API of one server (http_rest_api_handler.cc ``ProcessRequest``)."""

    _PREDICT_PATH = re.compile(
        r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
        r":(classify|regress|predict)", re.IGNORECASE)
    _STATUS_PATH = re.compile(
        r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
        r"(?:/(metadata))?", re.IGNORECASE)

    def __init__(self, core: InferenceCore):
        self._core = core

    def process_request(self, method: str, path: str, body: bytes
                        ) -> Tuple[int, Dict[str, Any]]:
        """One REST request -> (HTTP status, JSON object)."""
        try:
            return 200, self._process(method, path, body)
        except ServingError as err:
            return HTTP_STATUS.get(err.code, 500), {"error": truncate(err.message)}
        except Exception as err:  # noqa: BLE001 - reported as INTERNAL, like gRPC
            log.exception("REST request failed")
            return 500, {"error": truncate(f"{type(err).__name__}: {err}")}

    def _process(self, method: str, path: str, body: bytes) -> Dict[str, Any]:
        malformed = invalid_argument(f"Malformed request: {method} {path}")
        match = (self._PREDICT_PATH.fullmatch(path) if method == "POST" else
                 self._STATUS_PATH.fullmatch(path) if method == "GET" else None)
        if match is None:
            raise malformed
        name, version, label, verb = (urllib.parse.unquote(match.group(1) or ""),
                                      match.group(2), match.group(3), match.group(4))
        spec = model_pb2.ModelSpec(name=name)
        if version is not None and label is not None:
            raise invalid_argument(f"Both model version ({version}) and model version label "
                                   f"({label}) cannot be supplied.")
        if version is not None:
            if int(version) >= 1 << 63:
                raise invalid_argument(f"Failed to convert version: {version} to numeric.")
            spec.version.value = int(version)
        if label is not None:
            spec.version_label = urllib.parse.unquote(label)
        if method == "GET":
            if not name:
                raise invalid_argument("Missing model name in request.")
            if verb:
                if verb != "metadata":
                    raise malformed
                request = get_model_metadata_pb2.GetModelMetadataRequest(
                    model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD])
                return self._metadata_json(self._core.get_model_metadata(request))
            request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
            return json_format.MessageToDict(
                self._core.get_model_status(request), preserving_proto_field_name=True,
                including_default_value_fields=True)
        if verb not in ("predict", "classify", "regress"):
            raise malformed
        document = json_tensor.parse_json(body)
        if "signature_name" in document:
            if not isinstance(document["signature_name"], str):
                raise invalid_argument("JSON Value: not formatted correctly. "
                                       "'signature_name' key must be a string value.")
            spec.signature_name = document["signature_name"]
        if verb == "predict":
            return self._predict(spec, document)
        examples, context = json_tensor.parse_classify_regress(document, verb)
        inp = input_pb2.Input()
        if context is not None:
            inp.example_list_with_context.context.ParseFromString(context)
            for data in examples:
                inp.example_list_with_context.examples.add().ParseFromString(data)
        else:
            for data in examples:
                inp.example_list.examples.add().ParseFromString(data)
        if verb == "classify":
            result = self._core.classify(classification_pb2.ClassificationRequest(
                model_spec=spec, input=inp)).result
            return json_tensor.classification_response(result)
        result = self._core.regress(regression_pb2.RegressionRequest(
            model_spec=spec, input=inp)).result
        return json_tensor.regression_response(result)

    def _predict(self, spec: model_pb2.ModelSpec, document) -> Dict[str, Any]:
        servable = self._core.manager.servable(spec)
        signature = spec.signature_name or DEFAULT_SIGNATURE
        sigdef = servable.signature_defs.get(signature)
        if sigdef is None:  # HttpRestApiHandler::GetInfoMap
            raise invalid_argument(f'Serving signature name: "{signature}" not found in '
                                   f'signature def')
        inputs, fmt = json_tensor.parse_predict(document, sigdef.inputs)
        return json_tensor.predict_response(
            self._core.run_predict(servable, signature, inputs), fmt)

    @staticmethod
    def _metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> Dict:
        """http_rest_api_util.cc ToJsonString(GetModelMetadataResponse)."""
        sigmap = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(sigmap)
        kwargs = dict(preserving_proto_field_name=True, including_default_value_fields=True)
        return {"model_spec": json_format.MessageToDict(response.model_spec, **kwargs),
                "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(sigmap, **kwargs)}}
