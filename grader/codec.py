"""The JSON form of values that cross the process boundary to and from a submission.

Plain JSON loses the types the labs are about: a timestamp must stay a
timezone-aware datetime, a DataFrame must keep its columns and dtypes, an int
must not become a float. Such values travel as small tagged objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
from datetime import date, datetime
from typing import Any

_DATETIME = "$datetime"
_DATAFRAME = "$dataframe"
_FLOAT = "$float"  # NaN and infinities, which JSON cannot spell
_BIGINT = "$bigint"  # an integer JavaScript's numbers cannot hold exactly (a BigInt there)
_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER


def encode(value: Any) -> Any:
    """A JSON-ready form of ``value`` (recursively)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_FLOAT: repr(value)}
    if isinstance(value, datetime | date):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(dataclasses.asdict(value))
    if hasattr(value, "_asdict"):  # NamedTuple
        return encode(value._asdict())
    pandas = sys.modules.get("pandas")  # only present if the code uses it
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return {_DATAFRAME: _encode_frame(value)}
    if pandas is not None and isinstance(value, pandas.Timestamp):
        return {_DATETIME: value.isoformat()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return encode(value.item())
    type_name = f"{type(value).__module__}.{type(value).__name__}"
    raise TypeError(f"cannot send a value of type {type_name} to the grader")


def _encode_frame(frame: Any) -> dict[str, Any]:
    frame = frame.reset_index(drop=frame.index.name is None and not _is_datetime_index(frame))
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(t) for t in frame.dtypes],
        "rows": [[encode(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def _is_datetime_index(frame: Any) -> bool:
    return str(frame.index.dtype).startswith("datetime64")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {_DATETIME}:
        return datetime.fromisoformat(value[_DATETIME])
    if set(value) == {_FLOAT}:
        return float(value[_FLOAT])
    if set(value) == {_BIGINT}:
        return int(value[_BIGINT])
    if set(value) == {_DATAFRAME}:
        return _decode_frame(value[_DATAFRAME])
    return {k: decode(v) for k, v in value.items()}


def _decode_frame(spec: dict[str, Any]) -> Any:
    import pandas as pd

    rows = [[decode(v) for v in row] for row in spec["rows"]]
    frame = pd.DataFrame(rows, columns=spec["columns"])
    for column, dtype in zip(spec["columns"], spec["dtypes"], strict=True):
        if dtype.startswith("datetime64"):
            frame[column] = pd.to_datetime(frame[column], utc="UTC" in dtype or "tz" in dtype)
        if dtype != "object":  # the student's own dtype, a datetime's unit (ns, us) included
            # If it does not convert, keep what JSON gave; the check reports the difference.
            with contextlib.suppress(TypeError, ValueError):
                frame[column] = frame[column].astype(dtype)
    return frame


def exact_for_javascript(encoded: Any) -> Any:
    """Encoded values as Node.js must receive them: an integer beyond 2**53 tagged, to become
    a BigInt there (JSON.parse would round it to the nearest double)."""
    if isinstance(encoded, list):
        return [exact_for_javascript(v) for v in encoded]
    if isinstance(encoded, dict):
        return {k: exact_for_javascript(v) for k, v in encoded.items()}
    if isinstance(encoded, int) and not isinstance(encoded, bool) and abs(encoded) > _SAFE_INTEGER:
        return {_BIGINT: str(encoded)}
    return encoded


def dumps(value: Any) -> str:
    return json.dumps(encode(value))


def loads(text: str) -> Any:
    return decode(json.loads(text))
