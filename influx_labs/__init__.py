"""influx-labs: hands-on labs, a live-service grader and a course for InfluxDB 2.x integrations."""

__version__ = "0.1.0"
