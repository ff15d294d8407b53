"""Numbers from outputs: CPU use, time spans, latency percentiles."""

from __future__ import annotations

import os
import time

import pytest

from clearance.bench._measure import CpuMeter, Outputs, cpu_seconds, latency_percentiles


def test_cpu_seconds_grow_while_this_process_works() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None and after - before >= 0.1


def test_cpu_of_a_process_that_is_gone_is_none() -> None:
    assert cpu_seconds(2**22 + 12345) is None


def test_cpu_meter_reports_share_of_one_core() -> None:
    meter = CpuMeter({"me": os.getpid()})
    meter.start()
    wall, used = time.perf_counter(), time.process_time()
    while time.perf_counter() < wall + 0.3:
        pass
    wall, used = time.perf_counter() - wall, time.process_time() - used
    meter.stop()
    # The machine may be busy: compare with what this process itself says it used.
    assert abs(meter.percent["me"] - 100 * used / wall) < 15


def test_span_is_first_to_count_th_timestamp_in_time_order() -> None:
    outputs = Outputs(values=[b""] * 4, stamped_ms=[3000, 1000, 2500, 9000], arrived=[0.0] * 4)
    assert outputs.span_seconds(3) == (1.0, 3.0)
    assert outputs.span_seconds(10) == (1.0, 9.0)


def test_latency_percentiles() -> None:
    stats = latency_percentiles([float(v) for v in range(1, 101)])
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p99"] == pytest.approx(99.01)
    assert stats["max"] == 100.0
    assert latency_percentiles([]) == {}
