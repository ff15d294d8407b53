"""Options of `clearance bench`, and the command forwarding them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from clearance.bench import SCENARIOS, parse_options
from clearance.cli import main as cli


def test_defaults_measure_everything_with_detectors_on_first() -> None:
    options = parse_options([])
    assert options.scenarios == SCENARIOS
    assert options.events == 200_000 and options.rates == (1_000, 5_000)
    assert options.detectors[0] == "access"


def test_skip_baselines_leaves_out_ceiling_faust_floor_and_naive() -> None:
    options = parse_options(["--skip-baselines", "--rates", "100,300"])
    assert options.scenarios == ("throughput", "latency")
    assert options.rates == (100, 300)


def test_command_line_repeats_the_run() -> None:
    argv = ["--events", "500", "--rates", "10", "--scenarios", "throughput", "--repeat", "3"]
    options = parse_options(argv)
    assert parse_options(options.command().split()[2:]) == options
    options = parse_options(["--batch-waits", "5,20", "--commit-intervals", "20"])
    assert options.batch_waits_ms == (5, 20)
    assert parse_options(options.command().split()[2:]) == options


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--scenarios", "throughput,speed"], "speed"),
        (["--detectors", "magic"], "magic"),
        (["--rates", "1000,fast"], "fast"),
        (["--rates", "0"], "positive"),
    ],
)
def test_bad_values_are_refused_naming_them(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_options(argv)
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err


def test_clearance_bench_forwards_its_arguments_to_the_harness() -> None:
    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--latency-seconds" in result.output and "--skip-baselines" in result.output
