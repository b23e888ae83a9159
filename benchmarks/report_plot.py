"""results.png: gpunet's speedup over each peer, per case, drawn with matplotlib (optional)."""
import sys

from .speedups import PEER_ORDER, PEER_TITLES, SUITE_TITLES, _fmt_ratio, _sorted_rows, check_targets, \
    measurements, speedup, subject_of


def render_plot(data, path):
    """A PNG of gpunet's speedup over each peer, per case (log scale, targets marked)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written (pip install matplotlib, or "
              "pip install 'gpunet[benchmarks]')", file=sys.stderr)
        return False
    rows = measurements(data)
    targets = {(t.suite, t.peer): t.min_speedup for t, _, _ in check_targets(rows) if t.peer}
    labels, values, colors, marks = [], [], [], []
    palette = {"torch": "#ee4c2c", "keras3": "#d00000", "tf_keras": "#ff8f00", "h5py": "#4a6fa5",
               "gpunet unfused": "#76b900", "gpunet numpy": "#013243"}
    for (suite, case), res in _sorted_rows(rows):
        subj = subject_of(res)
        if subj is None:
            continue
        for p in PEER_ORDER:
            if p in res:
                r = speedup(res[subj], res[p])
                if r is None:
                    continue
                labels.append(f"{SUITE_TITLES.get(suite, suite)}\n{case} vs {PEER_TITLES.get(p, p)}")
                values.append(r)
                colors.append(palette.get(p, "#888888"))
                marks.append(targets.get((suite, p)))
    fig, ax = plt.subplots(figsize=(10, 0.55 * max(len(values), 1) + 1.5))
    y = list(range(len(values)))[::-1]
    ax.barh(y, values, color=colors)
    for yi, v, m in zip(y, values, marks):
        ax.text(v, yi, f" {_fmt_ratio(v)}", va="center", fontsize=8)
        if m:
            ax.plot([m, m], [yi - 0.4, yi + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("gpunet speedup (peer time / gpunet time; > 1: gpunet faster). Black ticks: targets")
    machine = (data.get("machine_info") or {}).get("gpunet_bench") or {}
    ax.set_title(f"gpunet vs peers — {machine.get('cpu', '')}, {machine.get('usable_cpus', '?')} CPUs, "
                 f"{(machine.get('date') or '')[:10]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True
