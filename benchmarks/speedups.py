"""Figures from a pytest-benchmark JSON document: each case's measurement per framework, gpunet's
speedup over each peer, and which targets hold. Shared by the markdown report and the plot."""
import re

from .workloads import TARGETS

SUITE_ORDER = ["seed", "own loop", "wide", "cnn", "rnn", "predict", "optimizer", "save_load", "gpu workloads",
               "gpu dense forward", "gpu dense backward", "gpu training steps"]
SUITE_TITLES = {"seed": "Seed workload (Pima MLPs, batch 10, Adam)",
                "own loop": "A training loop of your own (GradientTape; Pima MLP, batch 10, Adam)", "wide": "Wide MLP training (batch 128, Adam)",
                "cnn": "MNIST CNN training (batch 128, Adam)", "rnn": "IMDB-sized LSTM training (batch 32, Adam)",
                "predict": "predict (batch 1024)", "optimizer": "Adam step", "save_load": "save + load_model",
                "gpu workloads": "GPU workloads (from host arrays, upload timed)",
                "gpu dense forward": "GPU Dense forward", "gpu dense backward": "GPU Dense backward",
                "gpu training steps": "GPU training steps"}
# In each suite the first of these that was measured is the subject; every other result is a baseline.
SUBJECTS = ("gpunet", "gpunet fused", "gpunet cupy")
PEER_ORDER = ("torch", "keras3", "tf_keras", "h5py", "gpunet unfused", "gpunet numpy", "gpunet cupy eager",
              "torch cuda", "torch cuda graph")
PEER_TITLES = {"torch": "PyTorch (eager)", "keras3": "Keras 3 (torch)", "tf_keras": "tf-keras", "h5py": "raw h5py",
               "gpunet unfused": "unfused CuPy", "gpunet numpy": "gpunet NumPy", "gpunet cupy": "gpunet CuPy",
               "gpunet cupy eager": "gpunet CuPy without graphs", "torch cuda": "PyTorch CUDA (eager)",
               "torch cuda graph": "PyTorch CUDA-graph replay"}
LOWER_IS_BETTER = {"us/step": True, "ms": True, "samples/s": False, "TFLOP/s": False}


def measurements(data):
    """``{(suite, case): {framework: (value, unit)}}`` from a pytest-benchmark JSON document."""
    rows = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if "suite" not in info:
            continue
        median, work, unit = bench["stats"]["median"], info.get("work", 1), info["unit"]
        if unit == "us/step":
            value = median / work * 1e6
        elif unit in ("samples/s", "TFLOP/s"):
            value = work / median
        elif unit == "ms":
            value = median * 1e3
        else:
            raise ValueError(f"unknown unit {unit!r} in {bench['name']}")
        rows.setdefault((info["suite"], info["case"]), {})[info["framework"]] = (value, unit)
    return rows


def speedup(subject, baseline):
    """Subject's speedup over baseline (> 1: subject faster), from two (value, unit) pairs."""
    (v_s, unit), (v_b, _) = subject, baseline
    if not v_s or not v_b:
        return None
    return v_b / v_s if LOWER_IS_BETTER[unit] else v_s / v_b


def subject_of(results):
    for name in SUBJECTS:
        if name in results:
            return name
    return None


def _sorted_rows(rows):
    def key(item):
        (suite, case), _ = item
        order = SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER)
        numbers = [int(n) for n in re.findall(r"\d+", case)]
        return order, numbers, case
    return sorted(rows.items(), key=key)


def check_targets(rows, targets=TARGETS):
    """``[(target, measured, holds)]``; measured None (and holds None) when not measured."""
    out = []
    for t in targets:
        matching = [(case, res) for (suite, case), res in rows.items()
                    if suite == t.suite and (not t.case or case == t.case)]
        measured = holds = None
        for _, res in matching:
            if t.subject not in res:
                continue
            if t.peer:
                if t.peer in res:
                    measured = speedup(res[t.subject], res[t.peer])
                    holds = measured is not None and measured >= t.min_speedup * (1 - 1e-9)
            else:
                measured = res[t.subject][0]
                holds = measured <= t.max_value
        out.append((t, measured, holds))
    return out


def _fmt(value, unit):
    if value is None:
        return "n/a"
    if unit == "samples/s":
        return f"{value:,.0f} samples/s"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def _fmt_ratio(r):
    return "n/a" if r is None else (f"{r:.1f}x" if r >= 10 else f"{r:.2f}x")
