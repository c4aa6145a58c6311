"""Static checks of the Dockerfiles (no Docker engine here: they are read, never built)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.packaging.packaging_support import ROOT, dockerfile_instructions, stages

OPERATOR = ROOT / "docker" / "operator" / "Dockerfile"
RUNNER_DIR = ROOT / "docker" / "gatling-runner"
RUNNER = RUNNER_DIR / "Dockerfile"
POM = RUNNER_DIR / "pom.xml"
LAST_GRAPHITE_GATLING = (3, 11, 5)  # 3.12.0 removed the Graphite data writer


def base_images(dockerfile: Path) -> list[str]:
    """External images of the FROM lines (references to earlier stages left out)."""
    names: set[str] = set()
    images = []
    for instruction, rest in dockerfile_instructions(dockerfile):
        if instruction != "FROM":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        image = words[0]
        if image not in names:
            images.append(image)
        if len(words) >= 3 and words[1].upper() == "AS":
            names.add(words[2])
    return images


def pinned_problem(image: str) -> str | None:
    if "$" in image:
        return f"{image}: unresolved build argument"
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return f"{image}: no tag"
    if tag == "latest":
        return f"{image}: latest"
    if not re.match(r"^\d+\.\d+\.\d+", tag) and not re.match(r"^\d+\.\d+\.\d+_\d+", tag):
        return f"{image}: tag {tag!r} is not a full x.y.z version (floating tags move)"
    return None


def final_user(dockerfile: Path) -> str | None:
    users = [rest for instruction, rest in stages(dockerfile)[-1] if instruction == "USER"]
    return users[-1] if users else None


def exec_form(dockerfile: Path, instruction: str) -> list[str]:
    values = [rest for ins, rest in stages(dockerfile)[-1] if ins == instruction]
    assert values, f"{dockerfile}: no {instruction} in the final stage"
    return json.loads(values[-1])


@pytest.mark.parametrize("dockerfile", [OPERATOR, RUNNER], ids=["operator", "gatling-runner"])
def test_base_images_pinned_by_full_version(dockerfile):
    images = base_images(dockerfile)
    assert images
    assert [p for p in map(pinned_problem, images) if p] == []


def test_pin_check_can_fail():
    assert pinned_problem("python:latest")
    assert pinned_problem("python")
    assert pinned_problem("python:3.11-slim")
    assert pinned_problem("eclipse-temurin:17-jdk")
    assert pinned_problem("python:3.11.11-slim-bookworm") is None


@pytest.mark.parametrize("dockerfile", [OPERATOR, RUNNER], ids=["operator", "gatling-runner"])
def test_runs_as_numeric_non_root_user(dockerfile):
    user = final_user(dockerfile)
    assert user is not None, f"{dockerfile}: no USER in the final stage (would run as root)"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert match, f"USER {user!r} must be numeric so the kubelet can check runAsNonRoot"
    assert int(match.group(1)) != 0


# --- operator image ---------------------------------------------------------------------------


def test_operator_image_on_python_311_slim():
    images = base_images(OPERATOR)
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", i) for i in images), images


def test_operator_installs_with_the_constraints():
    build = stages(OPERATOR)[0]
    copies = " ".join(rest for ins, rest in build if ins == "COPY")
    runs = " ".join(rest for ins, rest in build if ins == "RUN")
    assert "constraints.txt" in copies and "pyproject.toml" in copies
    assert re.search(r"pip install -c constraints\.txt \.", runs)


def test_operator_copies_only_files_that_exist():
    for ins, rest in dockerfile_instructions(OPERATOR):
        if ins != "COPY" or "--from=" in rest:
            continue
        *sources, _dest = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_operator_entrypoint_runs_the_operator():
    assert exec_form(OPERATOR, "ENTRYPOINT") == ["loadtest-monitor", "run"]
    cmd = exec_form(OPERATOR, "CMD")
    assert cmd[cmd.index("--liveness-port") + 1] == "8080"


def test_operator_user_matches_the_deployment():
    import yaml

    deployment = yaml.safe_load((ROOT / "manifests" / "base" / "deployment.yaml").read_text())
    pod_sc = deployment["spec"]["template"]["spec"]["securityContext"]
    assert final_user(OPERATOR) == f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}"


def test_dockerignore_keeps_the_build_context_small_but_complete():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "tests"} <= ignored
    assert not {"operator", "pyproject.toml", "constraints.txt"} & ignored


# --- Gatling runner image ---------------------------------------------------------------------


def pom_property(name: str) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    value = ET.parse(POM).getroot().find(f"m:properties/m:{name}", ns)
    assert value is not None and value.text, f"pom.xml has no <{name}>"
    return value.text.strip()


def version_tuple(version: str) -> tuple[int, ...]:
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{version!r} is not a plain x.y.z release"
    return tuple(int(p) for p in version.split("."))


def test_gatling_defaults_to_the_latest_release_and_keeps_311_as_the_legacy_path():
    # 3.15.1 is the default (the forwarder sidecar carries its metrics); 3.11.5, the last release
    # with Gatling's own Graphite writer, stays a tested build argument.
    assert pom_property("gatling.version") == "3.15.1"
    tested = re.search(r'^tested="([^"]+)"', (RUNNER_DIR / "jvm-flags.sh").read_text(), re.MULTILINE)
    assert tested and "3.11.5" in tested.group(1).split()
    assert version_tuple("3.11.5") == LAST_GRAPHITE_GATLING


def test_runner_compiles_scala_and_kotlin_only_when_the_build_arg_asks():
    """Profiles `scala`/`kotlin` carry the compilers; the MAVEN_PROFILES build arg reaches both
    Maven runs (go-offline must fetch the compiler plugin, the offline compile needs it)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(POM).getroot()
    plugins = {
        p.findtext("m:id", namespaces=ns): [a.text for a in p.findall(".//m:plugin/m:artifactId", ns)]
        for p in root.findall("m:profiles/m:profile", ns)
    }
    assert plugins == {"scala": ["scala-maven-plugin"], "kotlin": ["kotlin-maven-plugin"]}
    default_plugins = [a.text for a in root.findall("m:build/m:plugins/m:plugin/m:artifactId", ns)]
    assert "scala-maven-plugin" not in default_plugins and "kotlin-maven-plugin" not in default_plugins
    assert build_arg_defaults("MAVEN_PROFILES") == ['""']
    runs = [rest for ins, rest in stages(RUNNER)[0] if ins == "RUN"]
    maven = [r for r in runs if "mvn -B" in r and "gatling.version" in r]
    assert len(maven) == 2 and all("${MAVEN_PROFILES:+-P$MAVEN_PROFILES}" in r for r in maven), maven


def build_arg_defaults(name: str) -> list[str]:
    """The default of build argument `name` in each stage that declares it."""
    defaults = []
    for stage in stages(RUNNER):
        for ins, rest in stage:
            if ins == "ARG" and rest.split("=", 1)[0] == name:
                assert "=" in rest, f"ARG {name} without a default in a stage"
                defaults.append(rest.split("=", 1)[1])
    return defaults


def test_runner_build_arg_defaults_to_the_pom_version():
    # Both stages declare GATLING_VERSION with the same default: the pom's, the last Graphite release.
    version = pom_property("gatling.version")
    assert build_arg_defaults("GATLING_VERSION") == [version, version]
    env = " ".join(rest for ins, rest in stages(RUNNER)[-1] if ins == "ENV")
    assert "GATLING_VERSION=${GATLING_VERSION}" in env


def test_runner_build_compiles_against_the_build_arg_and_checks_graphite_for_311():
    runs = [rest for ins, rest in stages(RUNNER)[0] if ins == "RUN"]
    maven = [r for r in runs if "mvn -B" in r and "gatling.version" in r]
    assert len(maven) == 2 and all('-Dgatling.version="$GATLING_VERSION"' in r for r in maven), maven
    # 3.11.x: the Graphite writer jar must be in the image, or the dashboards would stay empty.
    assert any('3.11.*) test -f "target/lib/gatling-graphite-$GATLING_VERSION.jar"' in r for r in runs), runs
    # The version is checked (jvm-flags.sh) before anything is downloaded.
    first_mvn = next(i for i, r in enumerate(runs) if r.startswith("mvn"))
    assert any("jvm-flags.sh" in r for r in runs[:first_mvn])


def test_runner_image_carries_agent_and_flags_for_run_sh():
    copies = [rest for ins, rest in stages(RUNNER)[-1] if ins == "COPY"]
    assert "--from=build /build/out/agent /opt/gatling/agent" in copies
    assert "--from=build /build/jvm-flags /opt/gatling/jvm-flags" in copies
    runs = " ".join(rest for ins, rest in stages(RUNNER)[0] if ins == "RUN")
    assert "grep -q -- -javaagent jvm-flags" in runs and "agent/target/log-flush-agent.jar" in runs


def test_agent_pom_builds_a_self_contained_premain_jar():
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(RUNNER_DIR / "agent" / "pom.xml").getroot()
    assert root.findtext("m:build/m:finalName", namespaces=ns) == "log-flush-agent"
    deps = [d.findtext("m:artifactId", namespaces=ns) for d in root.findall("m:dependencies/m:dependency", ns)]
    assert deps == ["byte-buddy"]
    text = (RUNNER_DIR / "agent" / "pom.xml").read_text()
    assert "<Premain-Class>dev.loadtest.flushagent.FlushAgent</Premain-Class>" in text
    # ByteBuddy relocated: the agent joins the application class path next to Gatling's jars.
    assert "<shadedPattern>dev.loadtest.flushagent.shaded.bytebuddy</shadedPattern>" in text
    premain = RUNNER_DIR / "agent" / "src" / "main" / "java" / "dev" / "loadtest" / "flushagent" / "FlushAgent.java"
    assert "public static void premain(String arguments, Instrumentation instrumentation)" in premain.read_text()


# --- jvm-flags.sh and run.sh, run for real ----------------------------------------------------


def jvm_flags(version: str, agent: str = "/opt/gatling/agent/log-flush-agent.jar") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(RUNNER_DIR / "jvm-flags.sh"), version, agent], capture_output=True, text=True, check=False
    )


ADD_OPENS = "--add-opens java.base/java.lang=ALL-UNNAMED"
AGENT_FLAG = "-javaagent:/opt/gatling/agent/log-flush-agent.jar"


@pytest.mark.parametrize(
    ("version", "flags"),
    [
        ("3.11.5", ""),  # Graphite writer: nothing extra
        ("3.12.0", AGENT_FLAG),
        ("3.13.5", f"{AGENT_FLAG} {ADD_OPENS}"),
        ("3.14.9", f"{AGENT_FLAG} {ADD_OPENS}"),
        ("3.15.1", f"{AGENT_FLAG} {ADD_OPENS}"),
    ],
)
def test_jvm_flags_per_tested_version(version, flags):
    proc = jvm_flags(version)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == flags
    assert proc.stderr == ""


def test_jvm_flags_without_agent_keep_add_opens():
    assert jvm_flags("3.15.1", "").stdout.strip() == ADD_OPENS


def test_jvm_flags_warn_for_an_untested_version_but_build_it():
    proc = jvm_flags("3.16.0")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{AGENT_FLAG} {ADD_OPENS}"
    assert "WARNING: Gatling 3.16.0 is not among the tested versions" in proc.stderr


@pytest.mark.parametrize("version", ["3.10.2", "3.15", "latest", "4.0.0", "3.15.1-SNAPSHOT"])
def test_jvm_flags_refuse_what_the_image_cannot_run(version):
    proc = jvm_flags(version)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "GATLING_VERSION" in proc.stderr and version in proc.stderr


def run_sh(tmp_path: Path, env: dict[str, str], image_flags: str | None = None) -> tuple[list[str], str]:
    """Runs run.sh with a stand-in `java` that records its arguments and its GATLING_RUNNER."""
    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True, exist_ok=True)
    (home / "conf" / "gatling.conf").write_text("gatling {}\n")
    if image_flags is not None:
        (home / "jvm-flags").write_text(image_flags + "\n")
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    record = tmp_path / "java-call.json"
    java = bindir / "java"
    java.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'runner': os.environ.get('GATLING_RUNNER')}}, open({str(record)!r}, 'w'))\n"
    )
    java.chmod(0o755)
    full_env = {"PATH": f"{bindir}:/usr/bin:/bin", "GATLING_HOME": str(home), "GATLING_SIMULATION": "x.Sim", **env}
    proc = subprocess.run(["sh", str(RUNNER_DIR / "run.sh"), "--no-reports"], env=full_env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    call = json.loads(record.read_text())
    return call["argv"], call["runner"]


@pytest.mark.parametrize(
    ("env", "segment"),
    [
        ({"GATLING_RUNNER": "checkout-load-0-x7k2p"}, "checkout-load-0-x7k2p"),
        ({"GATLING_RUNNER": "Runner.A/b c\\d"}, "Runner-A-b-c-d"),
        ({"GATLING_RUNNER": "a" * 70}, "a" * 63),
        ({"GATLING_RUNNER": "", "HOSTNAME": "checkout-load-1"}, "checkout-load-1"),
        ({"HOSTNAME": "pod.ns"}, "pod-ns"),
        ({}, "local"),
        ({"GATLING_RUNNER": "..."}, "---"),
        ({"GATLING_RUNNER": "under_score-OK9"}, "under_score-OK9"),
    ],
)
def test_run_sh_reduces_the_runner_to_one_graphite_segment(tmp_path, env, segment):
    argv, runner = run_sh(tmp_path, env)
    assert runner == segment  # exported before Java starts: gatling.conf's ${?GATLING_RUNNER} sees it
    assert argv[argv.index("--run-description") + 1] == f"runner {segment}"


def test_run_sh_puts_image_flags_before_java_opts_and_passes_gatling_args(tmp_path):
    flags = f"{AGENT_FLAG} {ADD_OPENS}"
    argv, _ = run_sh(tmp_path, {"JAVA_OPTS": "-Xmx1g -Dfoo=bar"}, image_flags=flags)
    home = tmp_path / "home"
    assert argv[: argv.index("-cp")] == [*flags.split(), "-Xmx1g", "-Dfoo=bar"]
    assert argv[argv.index("-cp") + 1] == f"{home}/conf:{home}/classes:{home}/lib/*"
    assert argv[argv.index("-cp") + 2] == "io.gatling.app.Gatling"
    assert argv[argv.index("--simulation") + 1] == "x.Sim"
    assert argv[argv.index("--results-folder") + 1] == f"{home}/results"
    assert argv[-1] == "--no-reports"


def test_run_sh_without_image_flags_runs_java_opts_only(tmp_path):
    argv, _ = run_sh(tmp_path, {"JAVA_OPTS": "-Xmx1g"})
    assert argv[: argv.index("-cp")] == ["-Xmx1g"]


def test_gatling_dependency_uses_the_pinned_property():
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = ET.parse(POM).getroot().findall("m:dependencies/m:dependency", ns)
    gatling = [d for d in deps if d.findtext("m:artifactId", namespaces=ns) == "gatling-charts-highcharts"]
    assert len(gatling) == 1
    assert gatling[0].findtext("m:version", namespaces=ns) == "${gatling.version}"


def test_runner_on_jdk_17():
    images = base_images(RUNNER)
    assert any(re.fullmatch(r"maven:3\.\d+\.\d+-eclipse-temurin-17", i) for i in images), images
    assert re.fullmatch(r"eclipse-temurin:17\.\d+\.\d+_\d+-(jdk|jre)(-\w+)?", images[-1]), images


def test_runner_entrypoint_and_its_script():
    assert exec_form(RUNNER, "ENTRYPOINT") == ["/opt/gatling/bin/run.sh"]
    copies = [rest for ins, rest in dockerfile_instructions(RUNNER) if ins == "COPY" and "--from=" not in rest]
    sources = [s for rest in copies for s in rest.split()[:-1] if not s.startswith("--")]
    for source in sources:
        assert (RUNNER_DIR / source).exists(), f"COPY {source}: not in docker/gatling-runner"
    assert "run.sh" in sources


def test_runner_conf_dir_is_empty_in_the_image_and_first_on_the_classpath():
    # The Job mounts the monitor's ConfigMap on /opt/gatling/conf as a directory: nothing of
    # the image may live there, and it must come first so its gatling.conf wins.
    for ins, rest in dockerfile_instructions(RUNNER):
        if ins in ("COPY", "ADD"):
            assert not rest.split()[-1].startswith("/opt/gatling/conf"), rest
    run_sh = (RUNNER_DIR / "run.sh").read_text()
    classpath = re.search(r'-cp "([^"]+)"', run_sh)
    assert classpath, "run.sh must pass an explicit classpath"
    assert classpath.group(1).split(":")[0] == "$GATLING_HOME/conf"
    assert "io.gatling.app.Gatling" in run_sh


def test_runner_example_simulation_keeps_warmup_in_cluster():
    # Gatling's default HTTP warm-up calls an Internet address; a runner pod must not.
    sources = list((RUNNER_DIR / "src").rglob("*.java"))
    assert sources
    for source in sources:
        text = source.read_text()
        if "http.baseUrl" in text or "http\n" in text:
            assert ".warmUp(" in text or ".disableWarmUp()" in text, source


def test_runner_dockerignore_drops_build_output():
    ignored = (RUNNER_DIR / ".dockerignore").read_text().split()
    assert "target" in ignored
