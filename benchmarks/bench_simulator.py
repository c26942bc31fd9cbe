"""Publishing throughput of the IoT simulator to a local Mosquitto, at QoS 0 and QoS 1.

The simulator must never be the bottleneck of a student's pipeline or of the
grader, so it has to outrun any bridge: the target is 20,000 messages/s. Runs
on a fresh native stack; each figure is the median of several runs of
100,000 pre-generated messages published as fast as possible, timed from the
first send until the broker has them all (every PUBACK at QoS 1, every byte
written at QoS 0). The exit status is 0 when QoS 0 meets the target; QoS 1
is reported against the same figure as an ideal.

    python benchmarks/bench_simulator.py [--messages 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from influx_labs.services import NativeStack
from influx_labs.services.base import BrokerEndpoint
from influx_labs.simulators.iot import Message, generate, publish

TARGET_RATE = 20_000.0
START_MS = 1_700_000_000_000


def median_rate(messages: list[Message], broker: BrokerEndpoint, qos: int, runs: int) -> float:
    """Median messages/s over ``runs`` publishes of the whole batch."""
    rates = [publish(messages, broker.host, broker.port, qos=qos).rate for _ in range(runs)]
    spread = ", ".join(f"{rate:,.0f}" for rate in rates)
    print(f"  qos {qos}: runs {spread} msg/s")
    return statistics.median(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    messages = generate(10, args.messages, seed=1, start_ms=START_MS, malformed_ratio=0.05)
    results: dict[int, float] = {}
    with NativeStack() as stack:
        broker = stack.endpoints.mqtt
        publish(messages[:5000], broker.host, broker.port, qos=1)  # warm up both sides
        print(f"IoT simulator, {args.messages:,} messages to {broker.host}:{broker.port}:")
        for qos in (0, 1):
            results[qos] = median_rate(messages, broker, qos, args.runs)
    for qos, rate in results.items():
        verdict = "meets" if rate >= TARGET_RATE else "MISSES"
        kind = "target" if qos == 0 else "ideal target"
        print(f"  qos {qos}: median {rate:,.0f} msg/s; {kind} >= {TARGET_RATE:,.0f}: {verdict}")
    # QoS 0 is the requirement; QoS 1 is bounded by paho's per-ack Python work and
    # varies with machine load, so it is reported but does not fail the run.
    return 0 if results[0] >= TARGET_RATE else 1


if __name__ == "__main__":
    sys.exit(main())
