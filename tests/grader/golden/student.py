"""A small submission whose every function shows one thing the call runner must report
exactly: values of each type that crosses the boundary, and each way a call can fail."""

import datetime as dt
import sys

import pandas as pd


class InfluxError(Exception):
    def __init__(self, status, code, line=None):
        super().__init__(f"{status} {code}")
        self.status, self.code, self.line = status, code, line


def typed_values():
    kolkata = dt.timezone(dt.timedelta(hours=5, minutes=30))
    return {
        "int": 21,
        "float": 21.0,
        "bool": True,
        "none": None,
        "nan": float("nan"),
        "when": dt.datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=kolkata),
        "naive": dt.datetime(2026, 11, 30, 9, 0),
        "tuple": (1, "two"),
    }


def frame():
    return pd.DataFrame(
        {
            "_time": pd.to_datetime(["2026-11-30T09:00:00Z", "2026-11-30T09:00:01Z"]).as_unit("ns"),
            "rpm": [1200, 1300],
            "load": [0.5, None],
        }
    )


def raises_with_fields():
    raise InfluxError(429, "too many requests", line=None)


def prints_then_returns():
    print("to stdout")
    print("to stderr", file=sys.stderr)
    return "done"


def not_yet():
    raise NotImplementedError("not implemented yet: not_yet()")


def unreadable():
    return object()


def exits():
    sys.exit(3)


def takes_arguments(a, b=2, *, c):
    return [a, b, c]
