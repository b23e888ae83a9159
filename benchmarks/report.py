"""Run the benchmark suites and write ``benchmarks/RESULTS.md`` and ``benchmarks/results.png``.

Usage (from the repository root)::

    python -m benchmarks.report                  # full run (several minutes), writes the results
    python -m benchmarks.report --smoke          # tiny sizes, each benchmark once (checks the pipeline)
    python -m benchmarks.report --from-json F    # re-render from a pytest-benchmark JSON file
    python -m benchmarks.report -- -k seed       # extra arguments after -- go to pytest
    python -m benchmarks.report --merge benchmarks/results.json -- -k test_distribute
                                                 # rerun some suites, keep the earlier run's others

Every number is from one run, so ratios compare frameworks measured side by side
on the same machine. Ratios are "gpunet speedup": the peer's time over gpunet's
(for throughputs, gpunet's samples/s over the peer's); above 1, gpunet is faster.
"""
import argparse
import json
import os
import sys

if __package__ in (None, ""):  # run as a script: python benchmarks/report.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "benchmarks"  # noqa: A001

# The names below are this module's API (tests and gpu_check.py use them as ``report.<name>``).
from .workloads import GPU_TARGETS, TARGETS  # noqa: E402,F401
from .distribute_report import WRAPPER_TARGET, WRAPPER_TARGET_TEXT, wrapper_ratio  # noqa: E402,F401
from .runs import merge_runs  # noqa: E402,F401
from .suite_runner import (GROUPS, HERE, ROOT, busy_fraction, read_group_json, run_suites,  # noqa: E402,F401
                           skip_reasons, suite_env, wait_for_idle)
from .speedups import (LOWER_IS_BETTER, PEER_ORDER, PEER_TITLES, SUBJECTS, SUITE_ORDER,  # noqa: E402,F401
                       SUITE_TITLES, _fmt, _fmt_ratio, check_targets, measurements, speedup, subject_of)
from .report_markdown import (CONTENTION_LIMIT, _target_measured, _target_required, is_noisy,  # noqa: E402,F401
                              noisy_frameworks, render_markdown)
from .report_plot import render_plot  # noqa: E402,F401


def write_report(data, out_dir, skips=(), smoke=False):
    os.makedirs(out_dir, exist_ok=True)
    png = os.path.join(out_dir, "results.png")
    have_png = render_plot(data, png)
    md = render_markdown(data, skips, "results.png" if have_png else None, smoke)
    md_path = os.path.join(out_dir, "RESULTS.md")
    with open(md_path, "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"machine_info": data.get("machine_info"), "datetime": data.get("datetime"),
                   "skipped": [list(s) for s in skips],
                   "benchmarks": [{"name": b["name"], "group": b.get("group"), "extra_info": b.get("extra_info"),
                                   "stats": {k: b["stats"][k] for k in ("min", "median", "mean", "max", "rounds",
                                                                        "iterations") if k in b["stats"]}}
                                  for b in data.get("benchmarks", [])]}, f, indent=1)
    return md_path, (png if have_png else None)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, each benchmark once")
    parser.add_argument("--from-json", metavar="FILE", help="render from a pytest-benchmark JSON file, run nothing")
    parser.add_argument("--out-dir", default=HERE, help="where RESULTS.md, results.png, results.json go "
                                                         "(default: benchmarks/)")
    parser.add_argument("--wait-idle", type=float, default=60.0, metavar="SECONDS",
                        help="before each framework's run, wait up to this long for other processes to leave the "
                             "CPUs idle (default 60; 0: do not wait)")
    parser.add_argument("--merge", metavar="FILE", help="render over FILE (an earlier results.json): the suites this "
                        "run measured replace FILE's, the others are kept (e.g. -- -k test_distribute)")
    args = parser.parse_args(argv)
    skips = []
    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
        skips = [tuple(s) for s in data.get("skipped", [])]
    else:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            data, output = run_suites(tmp, args.smoke, extra, wait_idle=0 if args.smoke else args.wait_idle)
        skips = skip_reasons(output)
        if data is None:
            raise SystemExit("pytest wrote no benchmark JSON (was every benchmark skipped or deselected?)")
    if args.merge:
        with open(args.merge) as f:
            earlier = json.load(f)
        data, skips = merge_runs(earlier, data, [tuple(s) for s in earlier.get("skipped", [])], skips)
    md, png = write_report(data, args.out_dir, skips, args.smoke)
    print(f"wrote {md}" + (f" and {png}" if png else ""))
    rows = measurements(data)
    for t, measured, holds in check_targets(rows) + check_targets(rows, GPU_TARGETS):
        state = "not measured" if measured is None else ("holds" if holds else "MISSED")
        print(f"  target: {t.text}: {state}" + ("" if measured is None else f" ({measured:.3g})"))
    ratio = wrapper_ratio(data)
    print(f"  target: {WRAPPER_TARGET_TEXT}: " + ("not measured" if ratio is None else
                                                  f"{'holds' if ratio <= WRAPPER_TARGET else 'MISSED'} ({ratio:.3f}x)"))


if __name__ == "__main__":
    main()
