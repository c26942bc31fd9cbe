"""Data sources for the labs: simulated devices that feed the students' pipelines.

They live in the package, not in a lab, because the grader publishes the same
known streams that students practise with, and then checks what arrived.
"""
