"""Request/response cases ported from TF Serving 2.16.1's unit tests, as data.

One module per TF Serving test file. Each case is a ``Case``: ``id`` names
the TF Serving test it comes from (``<TEST name>/<what>``), ``input`` and
``expect`` are plain data (JSON text, text-format protos, dicts), ``error``
is ``(gRPC code name, message fragment)`` when the case expects a failure.
``skip`` says why a case cannot apply to this server; ``xfail`` names a
server-side change (outside serving/json_tensor.py and serving/tensors.py)
that the case waits for. The test code lives in tests/test_tfserving_*.py.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    input: Any
    expect: Any = None
    error: Optional[Tuple[str, str]] = None
    skip: Optional[str] = None
    xfail: Optional[str] = None
    note: str = ""

