"""The influx-labs grader: runs a student's lab code against live services and scores it.

Modules:
- ``labs``: which labs exist and where their skeleton, solution and checks live.
- ``codec``: the JSON form of values crossing between grader and submission.
- ``isolation``: the bubblewrap sandbox and cgroup that contain a student's code.
- ``runner``: runs inside the sandbox: a call server that forks one child per call.
- ``workload``: runs inside the sandbox: the grader's functions under a student's decorator.
- ``submission``: starts and resets that sandbox; calls, timeouts, programs, trimmed output.
- ``sandbox``: a fresh organization, bucket and scoped token for each check.
- ``results``: check outcomes, points, and the report formats.
- ``plugin``: the pytest plugin (markers, fixtures, scoring hooks).
- ``classroom``: a class's layout, fingerprints, gradebook, JUnit XML and summary.
- ``cli``: ``grader check`` and ``grader class``.
"""
