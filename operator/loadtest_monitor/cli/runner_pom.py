"""The runner's pom.xml fitted to a user's simulations: extra dependencies and compiler profiles.

Pure text in, text out (no build, no network), so `runner-image build` can show and the tests can
check exactly what Maven will be asked to do. The runner's pom stays the one source of Gatling's
version and plugins; from a user's own pom only the dependencies (and the properties they use)
are taken: Gatling itself comes from `--gatling-version`, so a user's io.gatling entries are left out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

POM_NS = "http://maven.apache.org/POM/4.0.0"
_NS = {"m": POM_NS}
#: Simulation source suffix -> the runner pom's profile that compiles it (Java needs none).
PROFILES_BY_SUFFIX = {".scala": "scala", ".kt": "kotlin"}
SCOPES = ("compile", "runtime", "test", "provided")
#: Gatling's own artifacts: their version is --gatling-version's, never a user's pom's.
GATLING_GROUPS = ("io.gatling", "io.gatling.highcharts")
_COORD = re.compile(r"[A-Za-z0-9_.\-]+")


class PomError(ValueError):
    """A dependency or a user's pom.xml that cannot be added; the message names it and the fix."""


@dataclass(frozen=True)
class Dependency:
    group: str
    artifact: str
    version: str
    scope: str = "test"
    classifier: str | None = None

    @property
    def key(self) -> str:
        return f"{self.group}:{self.artifact}"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


def parse_dependency(text: str) -> Dependency:
    """`group:artifact:version[:scope]`, as given to `--dependency`."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(_COORD.fullmatch(p) for p in parts):
        raise PomError(
            f"--dependency {text!r}: write group:artifact:version (optionally :scope), "
            "e.g. --dependency org.postgresql:postgresql:42.7.4"
        )
    scope = parts[3] if len(parts) == 4 else "test"
    if scope not in SCOPES:
        raise PomError(f"--dependency {text!r}: scope {scope!r} is not one of {', '.join(SCOPES)}")
    return Dependency(parts[0], parts[1], parts[2], scope)


def profiles_for(sources: Iterable[Path]) -> list[str]:
    """The runner pom's profiles that the simulation sources need, in a stable order."""
    wanted = {PROFILES_BY_SUFFIX[p.suffix] for p in sources if p.suffix in PROFILES_BY_SUFFIX}
    return sorted(wanted)


def dependency_names(pom_text: str) -> list[str]:
    """`group:artifact:version` of each dependency a pom declares itself (profiles aside)."""
    root = _parse(pom_text, "pom.xml")
    return [
        f"{_text(d, 'groupId')}:{_text(d, 'artifactId')}:{_text(d, 'version')}"
        for d in root.findall("m:dependencies/m:dependency", _NS)
    ]


def _text(element: ET.Element, name: str) -> str | None:
    found = element.findtext(f"m:{name}", namespaces=_NS)
    return found.strip() if found is not None else None


def _parse(text: str, where: str) -> ET.Element:
    try:
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
        return ET.fromstring(text, parser=parser)
    except ET.ParseError as err:
        raise PomError(f"{where}: not valid XML ({err}); fix the file or leave it out") from err


def user_dependencies(pom_text: str, where: str) -> tuple[list[Dependency], dict[str, str]]:
    """(the dependencies of a user's pom.xml, the properties they refer to), Gatling's left out."""
    root = _parse(pom_text, where)
    if root.tag != f"{{{POM_NS}}}project":
        raise PomError(f"{where}: not a Maven pom (no <project> in the {POM_NS} namespace)")
    properties = {
        child.tag.split("}", 1)[1]: (child.text or "").strip()
        for child in root.findall("m:properties/*", _NS)
        if isinstance(child.tag, str)
    }
    found: list[Dependency] = []
    for dep in root.findall("m:dependencies/m:dependency", _NS):
        group, artifact, version = _text(dep, "groupId"), _text(dep, "artifactId"), _text(dep, "version")
        if not group or not artifact:
            raise PomError(f"{where}: a <dependency> without groupId or artifactId; complete it")
        if group in GATLING_GROUPS:
            continue
        if not version:
            raise PomError(
                f"{where}: dependency {group}:{artifact} has no <version> (a parent or BOM of your project "
                "gives it, which the runner's build does not read); write the version in the dependency"
            )
        scope = _text(dep, "scope") or "compile"
        if scope not in SCOPES:
            raise PomError(f"{where}: dependency {group}:{artifact}: scope {scope!r} cannot be copied into the image")
        found.append(Dependency(group, artifact, version, scope, _text(dep, "classifier")))
    used = {name for d in found for name in re.findall(r"\$\{([^}]+)\}", d.version)}
    missing = sorted(n for n in used if n not in properties)
    if missing:
        raise PomError(f"{where}: dependency versions use ${{{missing[0]}}}, which this pom does not define")
    return found, {n: properties[n] for n in sorted(used)}


def user_repositories(pom_text: str, where: str) -> list[tuple[str, str]]:
    """(id, url) of the extra artifact repositories a user's pom.xml declares: a team's own
    repository that holds a dependency. Credentials for it are Maven settings, which the image
    build does not have: a repository that needs a login fails the build with Maven's message."""
    root = _parse(pom_text, where)
    found = []
    for repo in root.findall("m:repositories/m:repository", _NS):
        repo_id, url = _text(repo, "id"), _text(repo, "url")
        if not repo_id or not url:
            raise PomError(f"{where}: a <repository> without id or url; complete it")
        if not url.startswith("https://"):
            raise PomError(f"{where}: repository {repo_id}: {url} is not https (Maven refuses plain http); use https")
        found.append((repo_id, url))
    return found


def with_dependencies(
    runner_pom: str,
    extra: Sequence[Dependency],
    properties: dict[str, str],
    repositories: Sequence[tuple[str, str]] = (),
) -> str:
    """The runner's pom with `extra` added to its dependencies (a later entry of the same
    group:artifact wins), `properties` defined unless the runner's pom defines them already and
    `repositories` (id, url) declared besides Maven Central."""
    if not extra and not properties and not repositories:
        return runner_pom
    ET.register_namespace("", POM_NS)
    root = _parse(runner_pom, "the runner's pom.xml")
    props = root.find("m:properties", _NS)
    deps = root.find("m:dependencies", _NS)
    if props is None or deps is None:
        raise PomError("the runner's pom.xml has no <properties> or <dependencies>; use the packaged runner")
    for name, value in properties.items():
        if props.find(f"m:{name}", _NS) is None:
            element = ET.SubElement(props, f"{{{POM_NS}}}{name}")
            element.text = value
    present = {f"{_text(d, 'groupId')}:{_text(d, 'artifactId')}" for d in deps.findall("m:dependency", _NS)}
    chosen: dict[str, Dependency] = {}
    for dep in extra:
        if dep.key in present and dep.group in GATLING_GROUPS:
            continue  # Gatling's own version is --gatling-version's
        chosen[dep.key] = dep
    for dep in chosen.values():
        element = ET.SubElement(deps, f"{{{POM_NS}}}dependency")
        fields = [("groupId", dep.group), ("artifactId", dep.artifact), ("version", dep.version)]
        if dep.classifier:
            fields.append(("classifier", dep.classifier))
        fields.append(("scope", dep.scope))
        for name, value in fields:
            ET.SubElement(element, f"{{{POM_NS}}}{name}").text = value
    if repositories:
        repos = root.find("m:repositories", _NS)
        if repos is None:
            repos = ET.Element(f"{{{POM_NS}}}repositories")
            root.insert(list(root).index(deps) + 1, repos)
        for repo_id, url in repositories:
            repo = ET.SubElement(repos, f"{{{POM_NS}}}repository")
            ET.SubElement(repo, f"{{{POM_NS}}}id").text = repo_id
            ET.SubElement(repo, f"{{{POM_NS}}}url").text = url
    ET.indent(root, space="  ")
    # The XML declaration and the comment before <project> are outside the element tree: keep them.
    start = runner_pom.find("<project")
    prologue = runner_pom[:start] if start > 0 else '<?xml version="1.0" encoding="UTF-8"?>\n'
    return prologue + ET.tostring(root, encoding="unicode") + "\n"
