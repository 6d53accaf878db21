"""Simulated traffic beside parked cars: moving vehicles are never filed, the camera calibrates itself."""

from __future__ import annotations

import pytest

from streetwatch.datasets.simulated_traffic import TrafficConfig, format_traffic_report, run_traffic


@pytest.mark.parametrize("seed", [7, 2])
def test_moving_vehicles_are_not_filed_and_the_camera_is_found(seed: int) -> None:
    report = run_traffic(TrafficConfig(seed=seed))
    text = format_traffic_report(report)
    moving = sum(sum(report.confusion[t].values()) for t in ("moving", "stopped_in_traffic") if t in report.confusion)
    assert moving >= 20, text          # the scenario has traffic in view: a real test
    assert report.moving_filed_pct <= 5.0, text
    # Regression floor, below the 90 % goal the report states (missed today: jam and lights, see docs).
    assert report.parked_found_pct >= 50.0, text
    assert report.camera_source == "estimated", text
    assert abs(report.pitch_error_deg) <= 0.5, text
    assert abs(report.height_error_m) <= 0.15, text
