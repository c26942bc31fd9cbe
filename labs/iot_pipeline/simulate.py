"""Publish simulated device readings to the lab broker (see `--help`).

The simulator itself lives in influx_labs.simulators.iot, where the grader
uses the same code to publish the streams it checks.
"""

import sys

from influx_labs.simulators.iot import main

if __name__ == "__main__":
    sys.exit(main())
