"""The ``queuehall`` command line: ``simulate`` prints figures, and a bad scenario gets one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import _width as terminal_width
from app.cli import main

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "docs" / "scenarios" / "bank-branch.json"
WAIT_FIELDS = {"served", "wait_mean_min", "wait_p50_min", "wait_p90_min", "wait_max_min"}


def write_scenario(tmp_path: Path, scenario: Any) -> Path:
    path = tmp_path / "scenario.json"
    text = scenario if isinstance(scenario, str) else json.dumps(scenario, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def small_scenario(**overrides: Any) -> dict[str, Any]:
    scenario: dict[str, Any] = {
        "hours": 4,
        "services": {
            "A": {"name": "个人业务", "mean_service_minutes": 5},
            "B": {"name": "对公业务", "mean_service_minutes": 12, "distribution": "lognormal"},
        },
        "counters": [
            {"number": 1, "tiers": [["A"]]},
            {"number": 2, "tiers": [["A"], ["B"]]},
            {"number": 3, "tiers": [["B"], ["A"]]},
        ],
        "arrivals": [
            {"service": "A", "priority": "normal", "per_hour": 15},
            {"service": "A", "priority": "care", "per_hour": 3},
            {"service": "B", "priority": "vip", "per_hour": 3},
        ],
        "policy": {"head_start_seconds": {"care": 600, "vip": 300}},
    }
    scenario.update(overrides)
    return scenario


def test_simulate_json_prints_one_object_with_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, small_scenario())

    assert main(["simulate", "--scenario", str(path), "--json"]) == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads(captured.out)
    assert set(data["classes"]) == {"normal", "care", "vip"}
    assert set(data["services"]) == {"A", "B"}
    for entry in (*data["classes"].values(), *data["services"].values(), data["overall"]):
        assert set(entry) >= WAIT_FIELDS
    assert data["services"]["A"]["name"] == "个人业务"
    assert 0 < data["overall"]["utilization"] < 1
    assert {"mae_min", "naive_mae_min"} <= set(data["eta"])
    assert data["seed"] == 1


def test_simulate_with_the_same_seed_prints_the_same_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, small_scenario())

    outputs = []
    for seed in ("5", "5", "6"):
        assert main(["simulate", "--scenario", str(path), "--json", "--seed", seed]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_simulate_without_json_prints_a_readable_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path, small_scenario())

    assert main(["simulate", "--scenario", str(path)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Simulation scenario.json · seed 1")
    table = [line for line in lines if line.startswith(("class ", "service ", "overall"))]
    assert [line.split()[0:2] for line in table[:-1]] == [
        ["class", "normal"],
        ["class", "vip"],
        ["class", "care"],
        ["service", "A"],
        ["service", "B"],
    ]
    assert table[-1].split()[0] == "overall"
    assert "个人业务" in table[3]
    # Right-aligned columns end at the same terminal column, Chinese names (2 columns per
    # character) included.
    assert len({terminal_width(line) for line in table}) == 1
    assert any(line.startswith("Counter utilisation") for line in lines)


def test_the_example_bank_branch_scenario_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", str(EXAMPLE), "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert set(data["services"]) == {"A", "B", "C"}
    assert len(data["counters"]) == 5
    assert data["overall"]["issued"] > 100


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        ('{"hours": 8,', "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps(small_scenario(hours=-1)), "'hours'"),
        (json.dumps(small_scenario(services={"A": {"mean_service_minutes": 5}})), "service B"),
        (json.dumps(small_scenario(surprise=True)), "'surprise'"),
    ],
)
def test_a_bad_scenario_exits_2_with_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, mentions: str
) -> None:
    path = write_scenario(tmp_path, content)

    assert main(["simulate", "--scenario", str(path), "--json"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"queuehall: {path}: ")
    assert mentions in captured.err
    assert "Traceback" not in captured.err


def test_a_missing_scenario_file_exits_2_with_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.json"

    assert main(["simulate", "--scenario", str(missing)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"queuehall: {missing}: no such scenario file.\n"


def test_a_scenario_that_is_not_utf8_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"description": "caf\xe9"}'.encode("latin-1"))

    assert main(["simulate", "--scenario", str(path)]) == 2

    assert "not UTF-8" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_simulate_needs_a_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate"])

    assert exited.value.code == 2
    assert "--scenario" in capsys.readouterr().err


def test_python_dash_m_app_cli_runs_the_same_command(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, small_scenario(hours=1))

    completed = subprocess.run(
        [sys.executable, "-m", "app.cli", "simulate", "--scenario", str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["hours"] == 1
