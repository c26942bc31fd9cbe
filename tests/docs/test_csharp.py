"""C# examples cannot run here (no .NET package source), so they are checked by name:
every identifier a C# block uses must be C#/.NET vocabulary, declared in the block
itself, or a real InfluxDB.Client 5.x member listed (with its source) in csharp_api.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .examples import all_examples

API_FILE = Path(__file__).resolve().parent / "csharp_api.txt"
EXAMPLES = [e for e in all_examples() if e.lang == "csharp"]

# The .NET names the examples may use besides the client's own.
DOTNET = {
    "Console",
    "WriteLine",
    "Write",
    "Environment",
    "GetEnvironmentVariable",
    "DateTime",
    "DateTimeOffset",
    "UtcNow",
    "Now",
    "TimeSpan",
    "FromSeconds",
    "FromMilliseconds",
    "Task",
    "Run",
    "Delay",
    "WhenAll",
    "List",
    "Dictionary",
    "String",
    "Math",
    "Round",
    "Exception",
    "ArgumentException",
    "InvalidOperationException",
    "Count",
    "Add",
    "ToString",
    "Main",
    "Program",
    "System",
    "Collections",
    "Generic",
    "Linq",
    "Threading",
    "Tasks",
    "Select",
    "Where",
    "ToList",
    "First",
    "FirstOrDefault",
    "Any",
    "Sum",
    "Average",
    "IsNullOrEmpty",
    "Guid",
    "NewGuid",
    "Dispose",
    "DisposeAsync",
    "Length",
    "Format",
    "CancellationToken",
    "CancellationTokenSource",
    "Async",
    "Parse",
    "Value",
    "Key",
    "GetAwaiter",
    "GetResult",
    "Stopwatch",
    "StartNew",
    "Elapsed",
    "TotalMilliseconds",
    "Diagnostics",
    "Net",
    "Http",
    "HttpClient",
    "Text",
    "Json",
    "Join",
    "Empty",
    "SelectMany",
    "Error",
}
KEYWORD_LIKE = {"ToUniversalTime", "Kind", "Utc", "DateTimeKind"}


def api_names() -> set[str]:
    names = set()
    for line in API_FILE.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.update(name.split("."))  # a namespace lists its parts
    return names


def declared(code: str) -> set[str]:
    """Names the block declares itself: classes, records, properties, methods, variables."""
    found = set(re.findall(r"\b(?:class|record|struct|interface|enum)\s+([A-Z]\w*)", code))
    found |= set(
        re.findall(
            r"\b(?:public|private|internal|static)\s+[\w<>\[\]?,. ]+?\s+([A-Z]\w*)\s*[({=;]", code
        )
    )
    found |= set(re.findall(r"\b([A-Z]\w*)\s*=\s*[^=]", code))  # object initialisers
    return found


def used(code: str) -> set[str]:
    code = re.sub(r'@?"(?:[^"\\]|\\.)*"', '""', code)  # strings say nothing about the API
    code = re.sub(r"//.*", "", code)
    return set(re.findall(r"\b([A-Z][A-Za-z0-9]*)\b", code))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_csharp_example_names_real_api_members(example):
    if not API_FILE.exists():
        pytest.fail("tests/docs/csharp_api.txt is missing")
    unknown = used(example.code) - DOTNET - KEYWORD_LIKE - declared(example.code) - api_names()
    assert not unknown, (
        f"{example.id} uses names that are neither .NET nor listed InfluxDB.Client "
        f"members: {sorted(unknown)}"
    )


def test_every_listed_name_says_where_it_is_defined():
    for line in API_FILE.read_text().splitlines():
        if line.split("#", 1)[0].strip():
            assert "#" in line and line.split("#", 1)[1].strip(), f"no source for: {line}"
