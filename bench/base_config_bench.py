"""What the costliest accepted `gatling.baseConfig` costs the operator (a command, not a test):

    .venv/bin/python -m bench.base_config_bench [--repeat N]

For each shape pyhocon's time grows with, the largest text the limits of spec/base_config.py accept
(and, as a check, one just over a limit, which must be refused fast): CPU seconds of the whole
spec check (cost pre-scan, include check, pyhocon, conversion to data, trial gatling.conf printed
and parsed back), caches cleared, best and worst of N runs. The shapes: repeated root objects
that pyhocon merges by copying, dotted keys, object concatenation on one line, flat keys, list
elements, unquoted words, deep nesting, one 64 KB string full of escapes and one 64 KB comment. Results of a run
are in bench/results/base-config-<date>.txt.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from loadtest_monitor.spec import base_config
from loadtest_monitor.spec.base_config import (
    MAX_BASE_CONFIG_CHARS,
    MAX_BASE_CONFIG_DEPTH,
    MAX_BASE_CONFIG_OBJECTS,
    MAX_BASE_CONFIG_TOKENS,
    base_config_problem,
)

OBJECTS, TOKENS, DEPTH = MAX_BASE_CONFIG_OBJECTS, MAX_BASE_CONFIG_TOKENS, MAX_BASE_CONFIG_DEPTH


def _root_repeats(n: int) -> str:
    """`r { kI_J = 1, … }` n times: each is merged into a copy of everything before it."""
    per = max(1, (TOKENS // OBJECTS - 3) // 4)
    return "\n".join("r { " + ", ".join(f"k{i}_{j} = 1" for j in range(per)) + " }" for i in range(n))


# Each shape is built from a number of units; AT_LIMIT is the most units the binding limit accepts.
SHAPES: dict[str, Callable[[int], str]] = {
    "repeated root objects": _root_repeats,
    "dotted keys": lambda n: "\n".join(f"a.k{i} = {i}" for i in range(n)),
    "object concatenation": lambda n: "a = " + "{k=1}" * n,
    "flat keys": lambda n: "\n".join(f"k{i} = {i}" for i in range(n)),
    "list elements": lambda n: "a = [" + ",".join("1" for _ in range(n)) + "]",
    "unquoted words": lambda n: "a = " + " ".join("w" for _ in range(n)),
    "nesting": lambda n: "a " + "{ b " * (n - 1) + "{ c = 1 }" + " }" * (n - 1),
    "one long string": lambda n: 'a = "' + '\\"\\"\\"\\n' * n + '"',
    "one long comment": lambda n: "# " + "x" * n + "\na = 1",
}
AT_LIMIT = {
    "repeated root objects": OBJECTS,  # one brace each
    "dotted keys": OBJECTS,  # one dot each
    "object concatenation": OBJECTS,
    "flat keys": TOKENS // 3,  # key = value
    "list elements": (TOKENS - 3) // 2,  # a = [ ] and n values with n - 1 commas
    "unquoted words": TOKENS - 2,
    "nesting": DEPTH,
    "one long string": (MAX_BASE_CONFIG_CHARS - 6) // 8,  # characters
    "one long comment": MAX_BASE_CONFIG_CHARS - 8,  # characters: pyhocon skips a comment char by char
}


def _cpu_seconds(text: str) -> tuple[float, str | None]:
    base_config._data_or_problem.cache_clear()
    started = time.process_time()
    problem = base_config_problem(text)
    return time.process_time() - started, problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name, build in SHAPES.items():
        size = AT_LIMIT[name]
        accepted = build(size)
        runs = [_cpu_seconds(accepted) for _ in range(args.repeat)]
        problems = {p for _, p in runs}
        over_s, over_problem = _cpu_seconds(build(size + 1))
        rows.append(
            {
                "shape": name,
                "chars": len(accepted),
                "accepted": problems == {None},
                "problem": next(iter(problems)),
                "cpu_s_best": round(min(s for s, _ in runs), 3),
                "cpu_s_worst": round(max(s for s, _ in runs), 3),
                "one_over_refused": over_problem is not None,
                "one_over_cpu_s": round(over_s, 3),
            }
        )
        row = rows[-1]
        print(
            f"{name:24s} {row['chars']:6d} chars  accepted={row['accepted']!s:5s}  "
            f"cpu {row['cpu_s_best']:.3f}-{row['cpu_s_worst']:.3f} s  "
            f"one over: refused={row['one_over_refused']!s:5s} in {row['one_over_cpu_s']:.3f} s",
            flush=True,
        )
    print(json.dumps({"limits": {"objects": OBJECTS, "tokens": TOKENS, "depth": DEPTH}, "rows": rows}))


if __name__ == "__main__":
    main()
