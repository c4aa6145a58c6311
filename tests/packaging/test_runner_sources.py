"""`runner-image build` with Scala and Kotlin simulations and a user's own dependencies (issue 17):
what it stages (the build context, the pom, the build arguments) and, once, a real Maven compile of
that context, the way the image's build stage runs it (same goals, same profiles), without an image.

The real compile takes about 80 s cold on 2 shared cores (Scala and Kotlin compilers from Maven
Central into ~/.m2) and under a minute warm; it is the only proof that the profiles compile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadtest_monitor.cli.main import main
from loadtest_monitor.cli.runner_image import build_command, context_profiles, packaged_runner_dir, stage_context
from loadtest_monitor.cli.runner_pom import (
    Dependency,
    PomError,
    parse_dependency,
    user_dependencies,
    user_repositories,
)
from tests.packaging.packaging_support import ROOT

SOURCES = Path(__file__).parent / "data" / "runner-sources"
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
H2 = "com.h2database:h2:2.5.252"


def pom_dependencies(pom: Path) -> dict[str, tuple[str, str]]:
    """group:artifact -> (version, scope) of the pom's own dependencies."""
    root = ET.parse(pom).getroot()
    return {
        f"{d.findtext('m:groupId', namespaces=NS)}:{d.findtext('m:artifactId', namespaces=NS)}": (
            d.findtext("m:version", namespaces=NS) or "",
            d.findtext("m:scope", namespaces=NS) or "compile",
        )
        for d in root.findall("m:dependencies/m:dependency", NS)
    }


def test_a_folder_of_mixed_sources_goes_where_each_compiler_looks(tmp_path) -> None:
    context = stage_context(packaged_runner_dir(), SOURCES, tmp_path, [parse_dependency(H2)])
    test = context / "src" / "test"
    assert sorted(p.relative_to(test).as_posix() for p in test.rglob("*.*")) == [
        "java/perf/CartSimulation.java",
        "kotlin/perf/BrowseSimulation.kt",
        "resources/logback-test.xml",
        "scala/perf/SearchSimulation.scala",
    ]
    assert context_profiles(context) == ["kotlin", "scala"]
    argv = build_command("podman", context, "gatling-runner:3.15.1", "3.15.1", [], context_profiles(context))
    assert argv[4:8] == ["--build-arg", "GATLING_VERSION=3.15.1", "--build-arg", "MAVEN_PROFILES=kotlin,scala"]
    deps = pom_dependencies(context / "pom.xml")
    assert deps["com.h2database:h2"] == ("2.5.252", "test")
    assert deps["io.gatling.highcharts:gatling-charts-highcharts"] == ("${gatling.version}", "test")
    # The runner's own comments and Gatling's pin survive the edit.
    text = (context / "pom.xml").read_text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!--\n  The Gatling project baked')
    assert "<gatling.version>3.15.1</gatling.version>" in text


def test_java_only_leaves_the_runner_pom_and_the_build_args_as_they_are(tmp_path) -> None:
    sims = tmp_path / "sims"
    sims.mkdir()
    shutil.copy(SOURCES / "perf" / "CartSimulation.java", sims)
    context = stage_context(packaged_runner_dir(), sims, tmp_path / "out")
    assert (context / "pom.xml").read_bytes() == (ROOT / "docker" / "gatling-runner" / "pom.xml").read_bytes()
    assert context_profiles(context) == []
    argv = build_command("podman", context, "gatling-runner:3.15.1", "3.15.1", [], [])
    assert not any(a.startswith("MAVEN_PROFILES") for a in argv)


USER_POM = """<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId><artifactId>perf</artifactId><version>1</version>
  <properties><h2.version>2.5.252</h2.version><jackson.version>2.17.2</jackson.version></properties>
  <dependencies>
    <dependency><groupId>io.gatling.highcharts</groupId><artifactId>gatling-charts-highcharts</artifactId>
      <version>3.9.0</version><scope>test</scope></dependency>
    <dependency><groupId>com.h2database</groupId><artifactId>h2</artifactId><version>${h2.version}</version></dependency>
    <dependency><groupId>org.example</groupId><artifactId>fixtures</artifactId><version>1.2</version>
      <classifier>tests</classifier><scope>test</scope></dependency>
  </dependencies>
  <repositories>
    <repository><id>team</id><url>https://artifacts.example.com/maven</url></repository>
  </repositories>
</project>
"""


def test_a_maven_projects_own_dependencies_are_added_and_gatling_stays_the_runners(tmp_path) -> None:
    project = tmp_path / "project"
    (project / "src" / "test" / "scala" / "perf").mkdir(parents=True)
    shutil.copy(SOURCES / "perf" / "SearchSimulation.scala", project / "src" / "test" / "scala" / "perf")
    (project / "pom.xml").write_text(USER_POM)
    context = stage_context(packaged_runner_dir(), project, tmp_path / "out", [parse_dependency("org.example:x:9")])
    deps = pom_dependencies(context / "pom.xml")
    assert deps == {
        "io.gatling.highcharts:gatling-charts-highcharts": ("${gatling.version}", "test"),  # not the user's 3.9.0
        "com.h2database:h2": ("${h2.version}", "compile"),
        "org.example:fixtures": ("1.2", "test"),
        "org.example:x": ("9", "test"),
    }
    root = ET.parse(context / "pom.xml").getroot()
    assert root.findtext("m:properties/m:h2.version", namespaces=NS) == "2.5.252"  # the property it uses
    assert root.find("m:properties/m:jackson.version", NS) is None  # and nothing it does not
    assert root.findtext("m:properties/m:gatling.version", namespaces=NS) == "3.15.1"
    classifier = root.find("m:dependencies/m:dependency[m:artifactId='fixtures']/m:classifier", NS)
    assert classifier is not None and classifier.text == "tests"
    assert context_profiles(context) == ["scala"]
    (repo,) = root.findall("m:repositories/m:repository", NS)
    assert (repo.findtext("m:id", namespaces=NS), repo.findtext("m:url", namespaces=NS)) == (
        "team", "https://artifacts.example.com/maven"
    )


@pytest.mark.parametrize(
    ("pom", "message"),
    [
        (USER_POM.replace("<version>1.2</version>", ""),
         "dependency org.example:fixtures has no <version> (a parent or BOM of your project gives it, which the "
         "runner's build does not read); write the version in the dependency"),
        (USER_POM.replace("<h2.version>2.5.252</h2.version>", ""),
         "dependency versions use ${h2.version}, which this pom does not define"),
        ("<project>", "not valid XML"),
        (USER_POM.replace("https://artifacts", "http://artifacts"),
         "repository team: http://artifacts.example.com/maven is not https (Maven refuses plain http); use https"),
        ("<project/>", "not a Maven pom (no <project> in the http://maven.apache.org/POM/4.0.0 namespace)"),
    ],
)
def test_a_pom_whose_dependencies_cannot_be_taken_is_refused_naming_the_file(pom, message) -> None:
    with pytest.raises(PomError) as err:
        user_dependencies(pom, "perf/pom.xml")
        user_repositories(pom, "perf/pom.xml")
    assert str(err.value).startswith("perf/pom.xml: ") and message in str(err.value)


def test_dependency_option_is_checked_before_anything_is_built(tmp_path, capsys) -> None:
    assert parse_dependency("org.postgresql:postgresql:42.7.4:runtime") == Dependency(
        "org.postgresql", "postgresql", "42.7.4", "runtime"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["runner-image", "build", "--simulations", str(SOURCES), "--dependency", "h2", "--engine", "podman"])
    assert str(exit_info.value) == (
        "error: --dependency 'h2': write group:artifact:version (optionally :scope), "
        "e.g. --dependency org.postgresql:postgresql:42.7.4"
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["runner-image", "build", "--simulations", str(SOURCES), "--dependency", f"{H2}:system"])
    assert "scope 'system' is not one of compile, runtime, test, provided" in str(exit_info.value)


def test_scala_kotlin_and_java_compile_with_the_added_dependency(tmp_path) -> None:
    """The image's build stage, without the image: the same goals on the staged context."""
    mvn = shutil.which("mvn")
    assert mvn, "Maven is missing: bash hack/install-e2e-deps.sh installs it"
    context = stage_context(packaged_runner_dir(), SOURCES, tmp_path, [parse_dependency(H2)])
    profiles = ",".join(context_profiles(context))
    result = subprocess.run(
        [mvn, "-B", "-q", f"-P{profiles}", "-Dgatling.version=3.15.1", "test-compile",
         "dependency:copy-dependencies", "-DincludeScope=test", "-DoutputDirectory=target/lib"],
        cwd=context, capture_output=True, text=True, timeout=900, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    classes = context / "target" / "test-classes" / "perf"
    assert sorted(p.name for p in classes.glob("*Simulation.class")) == [
        "BrowseSimulation.class", "CartSimulation.class", "SearchSimulation.class",
    ]
    jars = {p.name for p in (context / "target" / "lib").glob("*.jar")}
    assert {"gatling-core-3.15.1.jar", "h2-2.5.252.jar"} <= jars  # what the image's lib/ would hold
    assert any(j.startswith("kotlin-stdlib-") for j in jars) and any(j.startswith("scala-library-2.13") for j in jars)


def test_build_command_passes_the_profiles_and_says_which_dependencies_it_adds(tmp_path, monkeypatch, capsys) -> None:
    """The whole `runner-image build` in-process; the engine is a recording script that keeps the
    context's pom (the real engine's build is the image tests' and test_cli_runner_image.py's)."""
    project = tmp_path / "project"
    (project / "src" / "test" / "kotlin" / "perf").mkdir(parents=True)
    shutil.copy(SOURCES / "perf" / "BrowseSimulation.kt", project / "src" / "test" / "kotlin" / "perf")
    (project / "pom.xml").write_text(USER_POM)
    record = tmp_path / "engine"
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" > {record}.args\nfor last; do :; done\ncp "$last/pom.xml" {record}.pom\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    assert main(["runner-image", "build", "--simulations", str(project), "--engine", "podman",
                 "--dependency", "org.example:x:9"]) == 0
    out = capsys.readouterr().out
    assert "adding dependencies: com.h2database:h2:${h2.version}, org.example:fixtures:1.2, org.example:x:9" in out
    assert "compiling with the pom's profiles: kotlin" in out
    assert "built gatling-runner:3.15.1 (Gatling 3.15.1)" in out
    args = Path(f"{record}.args").read_text().split()
    assert args[:7] == ["build", "-t", "gatling-runner:3.15.1", "--build-arg", "GATLING_VERSION=3.15.1",
                        "--build-arg", "MAVEN_PROFILES=kotlin"]
    assert pom_dependencies(Path(f"{record}.pom"))["org.example:x"] == ("9", "test")
