"""Running a GPU plan's step: eagerly, or captured once as a CUDA graph and replayed.

A step's launches (gpu_plan._Step.entries) never change: buffers are fixed per batch
size, and what changes per step (the batch's position, the optimizer's scalar) is read
from device memory. So the step is captured once per (plan, batch size) with CuPy's
stream capture and then replayed with one call (`cupy.cuda.Graph.launch`), about 45 us
for the Pima MLP's step on an H200 against some 600 us of Python launches.

- The first run of a step is eager: it compiles and loads the kernel modules, which
  must not happen inside a capture.
- A step with a cuBLAS call is never captured (CuPy refuses cuBLAS during capture),
  nor the last, shorter batch of an epoch (it runs once per epoch). Where no callback
  looks at batches, an epoch's full batches replay a graph of UNROLL steps at a time
  (`run_many`): about 10 us of host time per graph launch then serves 16 steps. A data-parallel
  step's gradient average runs between two graphs (`Between`).
- Capture that fails for any other reason warns once and the plan runs eagerly; the
  step's launches did not run during the failed capture, so it runs them then.
- ``GPUNET_CUDA_GRAPHS=0`` turns capture off.

All of a plan's work goes to its own non-blocking stream; `publish` and
`wait_for_current` order it against the caller's current stream with events, so
no host synchronization is needed between fit's epochs and the rest of gpunet.
"""
import os
import warnings


UNROLL = 16  # steps per graph in `GraphRunner.run_many`


def graphs_enabled():
    return os.environ.get("GPUNET_CUDA_GRAPHS", "1").strip() != "0"


class GraphRunner:
    """Runs `gpu_step.Step`s on one stream (None on the emulated backend: no streams, no graphs)."""

    _warned = False

    def __init__(self, ops):
        self.ops = ops
        self.cupy = ops.xp if getattr(ops.xp, "__name__", "") == "cupy" else None
        self.stream = self.cupy.cuda.Stream(non_blocking=True) if self.cupy is not None else None
        self.captures = 0  # graphs captured (tests and benchmarks read it)

    def run(self, step, launch, replay):
        """One step: its captured graph(s) when there are (``replay``: a full batch), else the
        launches one by one, capturing them first where that is possible and allowed. A step
        with `Between` entries (a data-parallel gradient average) is captured in segments: a
        graph for the launches before it, one for those after, the collective run between."""
        if step.graphs is not None and replay:
            _run_segments(step.graphs, launch, self.stream)
            return
        if (replay and step.capturable and self.cupy is not None and graphs_enabled()
                and step.eager_runs >= 1):
            graphs = self._capture(step, launch)
            if graphs is not None:
                step.graphs = graphs
                _run_segments(graphs, launch, self.stream)
                return
        _run_entries(step.entries, launch)
        step.eager_runs += 1

    def run_many(self, step, launch, count):
        """``count`` full-batch steps in a row, as ``count`` calls of `run` would run them, but
        replaying a graph of UNROLL consecutive steps where the step is captured: one host call
        then launches UNROLL steps (the batch position advances on the device), so a small
        model's step costs its kernels, not the host's ~10 us of Python and graph launch."""
        while count > 0 and step.graphs is None:  # the eager warm-up, then the capture (or eager for good)
            self.run(step, launch, replay=True)
            count -= 1
        if count >= UNROLL and step.graphs is not None and step.unrolled is None and step.capturable:
            step.unrolled = self._capture(step, launch, repeat=UNROLL) or False
        while step.unrolled and count >= UNROLL:
            _run_segments(step.unrolled, launch, self.stream)
            count -= UNROLL
        for _ in range(count):
            self.run(step, launch, replay=True)

    def _capture(self, step, launch, repeat=1):
        """The step's segments (its entries ``repeat`` times over), each run of launches as a
        graph; None (and a warning, once) where CuPy refuses. Nothing runs during capture: the
        caller then runs the step."""
        stream, segments = self.stream, []
        try:
            for part in _segments(list(step.entries) * repeat):
                if isinstance(part, Between):
                    segments.append(part)
                    continue
                stream.begin_capture()
                try:
                    _run_entries(part, launch)
                finally:
                    graph = stream.end_capture()
                segments.append(graph)
        except Exception as exc:  # noqa: BLE001 - any refusal means: run eagerly
            step.capturable = False
            if not GraphRunner._warned:
                GraphRunner._warned = True
                warnings.warn(f"gpunet could not capture a training step as a CUDA graph ({type(exc).__name__}: "
                              f"{exc}); running its kernels one by one (slower for small models). Set "
                              "GPUNET_CUDA_GRAPHS=0 to skip the attempt.", RuntimeWarning, stacklevel=4)
            return None
        self.captures += sum(1 for part in segments if not isinstance(part, Between))
        return segments

    def publish(self):
        """The caller's current stream waits for everything queued on the plan's stream."""
        if self.cupy is not None:
            self.cupy.cuda.get_current_stream().wait_event(self.stream.record())

    def wait_for_current(self):
        """The plan's stream waits for everything queued so far on the caller's current stream
        (uploads, weights set by the user). Call it outside the plan's stream context."""
        if self.cupy is not None:
            self.stream.wait_event(self.cupy.cuda.get_current_stream().record())


class Between:
    """A step entry run between captured graphs, never inside one (a collective over the
    gradients: MPI, or NCCL outside capture)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self):
        self.fn()


def _segments(entries):
    """Runs of launches, split at `Between` entries."""
    parts, run = [], []
    for entry in entries:
        if isinstance(entry, Between):
            if run:
                parts.append(run)
            parts.append(entry)
            run = []
        else:
            run.append(entry)
    if run:
        parts.append(run)
    return parts


def _run_segments(segments, launch, stream):
    for part in segments:
        if isinstance(part, Between):
            part()
        else:
            part.launch(stream)


def _run_entries(entries, launch):
    for entry in entries:
        if callable(entry):
            entry()
        else:
            launch(entry)
