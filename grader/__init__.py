"""The influx-labs grader: runs a student's lab code against live services and scores it.

Modules:
- ``labs``: which labs exist and where their skeleton, solution and checks live.
- ``codec``: the JSON form of values crossing between grader and submission.
- ``runner``: runs inside the submission's child process; calls one function.
- ``submission``: starts that child process with limits, timeouts and trimmed output.
- ``sandbox``: a fresh organization, bucket and scoped token for each check.
- ``results``: check outcomes, points, and the report formats.
- ``plugin``: the pytest plugin (markers, fixtures, scoring hooks).
- ``cli``: ``grader check`` and ``grader class``.
"""
