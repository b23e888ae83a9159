"""The tests a ``pytest -v -n N`` (pytest-xdist) log shows started but not finished: what was still
running when a time limit cut the run off (gpu_session.sh's suite part prints them).

    python benchmarks/unfinished_tests.py suite.full.log
"""
import re
import sys

_ENDED = re.compile(r"^\[gw\d+\] \[\s*\d+%\] [A-Z]+ (.+?)\s*$")  # "[gw3] [ 42%] PASSED tests/x.py::t[a b]"
_STARTED = re.compile(r"^(tests/\S+?\.py::.+?)\s*$")  # the test id alone: a worker took it


def unfinished(lines):
    """The test ids started in ``lines`` with no outcome line after, in the order they started."""
    started, ended = {}, set()
    for line in lines:
        match = _ENDED.match(line)
        if match:
            ended.add(match.group(1))
            continue
        match = _STARTED.match(line)
        if match:
            started.setdefault(match.group(1))
    return [t for t in started if t not in ended]


def main(path):
    with open(path, errors="replace") as f:
        left = unfinished(f)
    print(f"started, not finished ({len(left)}):")
    for test in left:
        print("  " + test)


if __name__ == "__main__":
    main(sys.argv[1])
