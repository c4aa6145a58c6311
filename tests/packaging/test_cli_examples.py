"""`loadtest-monitor examples [NAME]`: the example manifests travel in the package (issue 17), and
`up`'s summary points at that command instead of a repository path an installed CLI lacks."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from loadtest_monitor.cli.examples import CURRENT_JOB, LEGACY_JOB
from loadtest_monitor.cli.main import main
from loadtest_monitor.cli.runner_image import DEFAULT_GATLING_VERSION
from loadtest_monitor.cli.up import summary
from tests.packaging.packaging_support import MONITOR, ROOT

EXAMPLES = ROOT / "manifests" / "examples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["examples", *args]) == 0
    return capsys.readouterr().out


def test_the_list_names_every_example_of_the_repository_with_what_it_is(capsys) -> None:
    out = run(capsys)
    rows = {line.split()[0]: line for line in out.splitlines()[: len(list(EXAMPLES.glob("*.yaml")))]}
    assert sorted(rows) == sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
    assert "The smallest LoadtestMonitor: a name and nothing else." in rows["monitor"]
    assert "Gatling 3.11.5" in rows[LEGACY_JOB] and "legacy" in rows[LEGACY_JOB]
    assert f"Gatling {DEFAULT_GATLING_VERSION}" in rows[CURRENT_JOB] and "default" in rows[CURRENT_JOB]
    assert f"loadtest-monitor examples {CURRENT_JOB} | kubectl apply" in out


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.yaml")))
def test_an_example_prints_the_repository_file_byte_for_byte(capsys, name) -> None:
    assert run(capsys, name) == (EXAMPLES / f"{name}.yaml").read_text()
    assert run(capsys, f"{name}.yaml") == (EXAMPLES / f"{name}.yaml").read_text()  # the file name works too


def test_the_current_job_runs_the_default_gatling_and_the_legacy_one_311(capsys) -> None:
    def runner_image(name: str) -> str:
        (job,) = [d for d in yaml.safe_load_all(run(capsys, name)) if d]
        containers = job["spec"]["template"]["spec"]["containers"]
        return next(c["image"] for c in containers if c["name"] == "gatling")

    assert runner_image(CURRENT_JOB).endswith(f"gatling-runner:{DEFAULT_GATLING_VERSION}")
    assert runner_image(LEGACY_JOB).endswith("gatling-runner:3.11.5")


def test_an_unknown_example_names_the_ones_there_are(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["examples", "gatling-jobs"])
    message = str(exit_info.value)
    assert message.startswith("error: examples 'gatling-jobs': no such example; one of ")
    assert CURRENT_JOB in message and "`loadtest-monitor examples` lists them" in message


def test_the_package_data_carries_the_examples() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"install_manifests/examples/*.yaml"' in pyproject
    packaged = resources.files("loadtest_monitor") / "install_manifests" / "examples"
    assert sorted(f.name for f in packaged.iterdir()) == sorted(p.name for p in EXAMPLES.iterdir())


def test_ups_summary_points_at_the_examples_command_not_at_a_repository_path(capsys) -> None:
    text = summary(MONITOR)
    assert "manifests/" not in text
    hint = next(line for line in text.splitlines() if "runner Job:" in line)
    assert f"loadtest-monitor examples {CURRENT_JOB}" in hint and f"{DEFAULT_GATLING_VERSION}" in hint
    assert f"{LEGACY_JOB} for Gatling 3.11" in hint
    run(capsys, CURRENT_JOB)  # the command the hint names exists and prints
