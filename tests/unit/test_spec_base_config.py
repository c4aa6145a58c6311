"""`gatling.baseConfig` is data: no include is ever executed, no file or URL is read, wrong shapes are
refused with the field named, and substitutions Gatling resolves are kept."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pyhocon import ConfigFactory

from loadtest_monitor.render.gatling import render_gatling_conf
from loadtest_monitor.spec.base_config import (
    MAX_BASE_CONFIG_CHARS,
    MAX_BASE_CONFIG_DEPTH,
    MAX_BASE_CONFIG_OBJECTS,
    MAX_BASE_CONFIG_TOKENS,
    BaseConfigError,
    base_config_problem,
    parse_base_config,
)
from loadtest_monitor.spec.monitor import GatlingSpec, MonitorSpec, SpecError, parse_spec

SECRET = "TOPSECRET-operator-file-content"


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = f'leaked = "{SECRET}"\n'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "operator-secret.conf"
    path.write_text(f'leaked = "{SECRET}"\n')
    return path


def _hostile(url: str, path: Path) -> list[str]:
    return [
        f'include url("{url}/meta-data")',
        f'include "{url}/plain"',
        f'include required(url("{url}/required"))',
        f'INCLUDE url("{url}/upper")',
        f'gatling {{\n  include url("{url}/nested")\n}}',
        f'a = http://example include url("{url}/after-value")',
        f'include file("{path}")',
        f'include "{path}"',
        f'include required(file("{path}"))',
        f'include "{path.parent}/*.conf"',
        'include package("pyhocon:config_parser.py")',
        f'# harmless comment\nb = 1\ninclude file("{path}")\n',
    ]


def test_the_test_server_and_file_would_be_read_by_a_plain_parse(server: str, secret_file: Path) -> None:
    """The hostile inputs are real: pyhocon on its own fetches the URL and reads the file."""
    assert ConfigFactory.parse_string(f'include url("{server}/control")', resolve=False)["leaked"] == SECRET
    assert _Recorder.hits == ["/control"]
    assert ConfigFactory.parse_string(f'include file("{secret_file}")', resolve=False)["leaked"] == SECRET


def test_no_include_is_ever_executed(server: str, secret_file: Path) -> None:
    for text in _hostile(server, secret_file):
        with pytest.raises(SpecError) as caught:
            parse_spec({"gatling": {"baseConfig": text}})
        assert caught.value.field == "spec.gatling.baseConfig", text
        assert "'include' is not allowed" in caught.value.message
        assert SECRET not in str(caught.value)
        # The renderer refuses too, even when handed a spec that skipped parse_spec.
        with pytest.raises(BaseConfigError):
            render_gatling_conf(MonitorSpec(gatling=GatlingSpec(base_config=text)), "graphite", 2003)
    assert _Recorder.hits == []


def test_the_error_names_the_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"gatling": {"baseConfig": 'a = 1\nb = 2\n  include url("http://x")\n'}})
    assert caught.value.message.startswith("line 3: 'include' is not allowed")


def test_substitutions_gatling_resolves_are_kept() -> None:
    text = "gatling { core { encoding = utf-8 }, custom = ${?HOSTNAME} }\ngatling.data.writers = [console]\n"
    spec = parse_spec({"gatling": {"baseConfig": text}})
    conf = render_gatling_conf(spec, "h", 2003)
    assert "${?HOSTNAME}" in conf
    parsed = ConfigFactory.parse_string(conf)
    assert parsed["gatling.data.writers"] == ["console", "file", "graphite"]
    assert parsed["gatling.core.encoding"] == "utf-8"


WRONG_SHAPES = [
    ("gatling.data.writers = graphite", "gatling.data.writers must be a list"),
    ("gatling.data.writers = ${?WRITERS}", "gatling.data.writers must be a list"),
    ("gatling.data.writers = [console, 3]", "gatling.data.writers must be a list"),
    ("gatling = 5", "gatling must be an object"),
    ("gatling.data = [1]", "gatling.data must be an object"),
    ("gatling.data.graphite = tcp", "gatling.data.graphite must be an object"),
    ("[1, 2]", "not a list"),
    ("gatling { data { ", "not valid HOCON near line"),
    ("[" * 100, f"levels of nested braces and brackets, more than {MAX_BASE_CONFIG_DEPTH}"),
    ("x" * (MAX_BASE_CONFIG_CHARS + 1), "more than 65536"),
    ("a = [" + ",".join("1" * (MAX_BASE_CONFIG_TOKENS // 2 + 1)) + "]", f"more than {MAX_BASE_CONFIG_TOKENS}"),
    ("a = " + "{k=1}" * (MAX_BASE_CONFIG_OBJECTS + 1), "objects (braces and dotted key parts), more than"),
    ("\n".join(f"a.b.k{i} = {i}" for i in range(MAX_BASE_CONFIG_OBJECTS // 2 + 1)), "objects"),
    (".".join(["k"] * (MAX_BASE_CONFIG_DEPTH + 2)) + " = 1", "each part of a dotted key is a level"),
]


@pytest.mark.parametrize(("text", "hint"), WRONG_SHAPES, ids=[w[1] for w in WRONG_SHAPES])
def test_wrong_shapes_are_one_line_field_named_errors(text: str, hint: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"gatling": {"baseConfig": text}})
    assert caught.value.field == "spec.gatling.baseConfig"
    assert hint in caught.value.message
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_words_that_merely_contain_include_are_fine() -> None:
    tree = parse_base_config('included = 1\nincludes = "x"\nmy_include = 2\n')
    assert tree["included"] == 1


def test_a_base_config_is_parsed_once_however_often_its_monitor_is_reconciled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Near its size limit a base config takes seconds to parse: a reconcile (spec check, then
    gatling.conf) must not pay that again for a text it has seen."""
    parses: list[int] = []
    real = ConfigFactory.parse_string

    def counting(text: str, *args: object, **kwargs: object) -> object:
        parses.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(ConfigFactory, "parse_string", counting)
    text = "\n".join(f"gatling.parsed_once_{i} = {i}" for i in range(60))
    confs = set()
    for _ in range(5):
        spec = parse_spec({"gatling": {"baseConfig": text}})
        confs.add(render_gatling_conf(spec, "g.perf.svc.cluster.local", 2003))
    # The base config once; each printed document parsed back once: the spec's trial, the render.
    assert len(parses) == 3
    assert len(confs) == 1 and '"parsed_once_59" = 59' in confs.pop()
    spec = parse_spec({"gatling": {"baseConfig": text, "writePeriod": 5}})
    assert '"writePeriod" = 5' in render_gatling_conf(spec, "g.perf.svc.cluster.local", 2003)  # other input


# --- what is published: data only, substitutions as whole environment values ------------------


@pytest.mark.parametrize(
    ("text", "published"),
    [
        ("custom = ${?HOSTNAME}", '"custom" = ${?HOSTNAME}'),
        ("custom = ${HOME}", '"custom" = ${HOME}'),
        ("gatling { core { x = ${?MY_VAR_2} } }", '"x" = ${?MY_VAR_2}'),
        ("a = [${?A}, 1]", "  ${?A},\n"),
        ("a = 1\na = ${?A}", '"a" = 1\n"a" = ${?A}\n'),  # an undefined A keeps 1, as in the base config
        ("a = 1\na = ${?A}\na = ${?B}", '"a" = 1\n"a" = ${?A}\n"a" = ${?B}\n'),
        ("a = [1]\na = ${?A}", '"a" = [\n  1\n]\n"a" = ${?A}\n'),
    ],
)
def test_whole_value_environment_substitutions_are_kept(text: str, published: str) -> None:
    assert base_config_problem(text) is None
    assert published in render_gatling_conf(parse_spec({"gatling": {"baseConfig": text}}), "h", 2003)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("a = ${?gatling.data.graphite.host}", "whole value"),
        ("a = ${?A}x", "whole value"),
        ("a = x ${?A}", "whole value"),
        ('a = "p"${?A}', "whole value"),
        ("a = [1]\na += [2]", "whole value"),
        ("x = 1\na = ${x}", "names a setting of this config"),
        ("a = ${?gatling}", "names a setting of this config"),
        ('"a\\"b" = 1', "quote or a backslash"),
        ('"a\\nb" = 1', "quote or a backslash"),
        ("loadtest-monitor.runner = me", "the operator's own key"),
        ("a = 1e999", "not a number"),
    ],
)
def test_what_has_no_faithful_data_form_is_refused(text: str, hint: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"gatling": {"baseConfig": text}})
    assert caught.value.field == "spec.gatling.baseConfig"
    assert hint in caught.value.message


def test_durations_are_published_as_strings_of_the_same_length() -> None:
    text = "a = 10 seconds\nb = 90m\nc = 250ms\nd = 2w\ne = 14mo\nf = 1500us"
    conf = render_gatling_conf(parse_spec({"gatling": {"baseConfig": text}}), "h", 2003)
    for line in ('"a" = "10s"', '"b" = "90m"', '"c" = "250ms"', '"d" = "14d"', '"e" = "14mo"', '"f" = "1500us"'):
        assert line in conf


def test_a_document_that_does_not_read_back_is_never_published(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: if the printer ever wrote something that moves the destination, the spec
    check refuses the base config (the field named) and the renderer raises instead of publishing."""
    from loadtest_monitor.render import hocon

    def leaky_dumps(root: object) -> str:
        return real(root) + '"gatling" = { "data" = { "graphite" = { "host" = "evil.example" } } }\n'  # type: ignore[arg-type]

    real = hocon.dumps
    monkeypatch.setattr(hocon, "dumps", leaky_dumps)
    text = "gatling.core.encoding = utf-8  # fail-closed check"
    with pytest.raises(SpecError) as caught:
        parse_spec({"gatling": {"baseConfig": text}})
    assert caught.value.field == "spec.gatling.baseConfig"
    assert "gatling.data.graphite.host is 'evil.example'" in caught.value.message
    with pytest.raises(BaseConfigError, match="would not send metrics where the operator decided"):
        render_gatling_conf(MonitorSpec(gatling=GatlingSpec(base_config=text + " ")), "h", 2003)


def test_the_kopf_handlers_never_parse_a_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf calls the handlers on its event loop (or its executor): they only queue the monitor;
    the spec, and its baseConfig, are parsed by the reconcile on a worker thread."""
    from loadtest_monitor import hocon_safety
    from loadtest_monitor.controller import handlers
    from loadtest_monitor.settings import Settings

    def no_parse(text: str) -> object:
        raise AssertionError("a handler parsed a baseConfig")

    monkeypatch.setattr(hocon_safety, "measure", no_parse)
    queued: list[tuple[str, str]] = []

    class Queue:
        def add(self, key: tuple[str, str]) -> None:
            queued.append(key)

    handlers.configure(Settings())
    rt = handlers._runtime()
    rt.queue = Queue()  # type: ignore[assignment]
    body = {"metadata": {"name": "m"}, "spec": {"gatling": {"baseConfig": "a = " + "{k=1}" * 10_000}}}
    # kopf passes many more keyword arguments; the handlers take **_ for them.
    handlers.monitor_event(type="ADDED", namespace="ns", name="m", body=body)  # type: ignore[call-arg, arg-type]
    handlers.index_by_name(namespace="ns", name="m", body=body)  # type: ignore[arg-type]
    assert queued == [("ns", "m")]
    handlers.RUNTIME = None
