"""Compiled metrics on every training path (the NumPy plan, the layer path, the emulated GPU plan):
the runs, and the check that the paths log the same values (tests/test_metrics_confusion.py,
test_metrics_counts.py, test_metrics_fscore.py)."""
import numpy as np

import gpunet
from cuda_emulator import EmulatedCupyBackend
from gpunet import backend as B

PATHS = ("numpy-plan", "layer-path", "emulated-gpu-plan")


def run_on_every_path(emulator, build, x, y, sample_weight=None, eval_weight=None, epochs=3):
    """``{path: (net, history, logs, predictions)}``: ``build()`` (a compiled model, made under each
    path's backend in float64) fitted with validation, evaluated and predicting on ``x``."""
    B.set_floatx("float64")
    runs = {}
    for path in PATHS:
        ops = EmulatedCupyBackend(emulator) if path == "emulated-gpu-plan" else B.resolve("numpy")
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(1)
            net = build()
            if path == "layer-path":
                net._train_plan = lambda: None
            history = net.fit(x, y, sample_weight=sample_weight, batch_size=16, epochs=epochs, verbose=0,
                              validation_data=(x[:30], y[:30])).history
            logs = net.evaluate(x, y, sample_weight=eval_weight, batch_size=16, verbose=0, return_dict=True)
            runs[path] = net, history, logs, net.predict(x, verbose=0)
    return runs


def assert_paths_agree(runs, rtol=1e-9):
    """Each path ran where it should, and logged what the NumPy plan logged (History and evaluate)."""
    assert isinstance(runs["numpy-plan"][0]._plan, gpunet.backend.dense_plan.DensePlan)
    assert not runs["layer-path"][0]._plan
    assert isinstance(runs["emulated-gpu-plan"][0]._plan, gpunet.backend.gpu_plan.GpuPlan)
    _, history, logs, _ = runs["numpy-plan"]
    for path in PATHS[1:]:
        _, other_history, other_logs, _ = runs[path]
        assert set(other_history) == set(history) and set(other_logs) == set(logs), path
        for key in history:
            np.testing.assert_allclose(np.array(other_history[key], dtype=float), np.array(history[key], dtype=float),
                                       rtol=rtol, err_msg=f"{path} {key}")
        for key in logs:
            np.testing.assert_allclose(other_logs[key], logs[key], rtol=rtol, err_msg=f"{path} {key}")


def assert_two_ranks_sum_to_the_whole(make, y_true, y_pred, sample_weight, split):
    """gpunet.distribute sums every add_weight variable over the ranks (metric_sums.sum_variables): two
    ranks' states (rows before and after ``split``) summed give the metric of all the data."""
    from gpunet.distribute.metric_sums import sum_variables

    class TwoRanks:  # rank 0's view: the other rank's variable values are added in place
        def __init__(self, other):
            self.other = iter(v.value for v in other._variables)

        def allreduce_(self, buf, what):
            buf += next(self.other)

    whole, rank0, rank1 = make(), make(), make()
    whole.update_state(y_true, y_pred, sample_weight)
    rank0.update_state(y_true[:split], y_pred[:split], sample_weight[:split])
    rank1.update_state(y_true[split:], y_pred[split:], sample_weight[split:])
    sum_variables(rank0, TwoRanks(rank1), "test")
    np.testing.assert_allclose(rank0.result(), whole.result(), rtol=1e-12)


def assert_epoch_at_once_equals_batchwise(ops, make, y_true, y_pred, sample_weight, batch_sizes):
    """The fused plans hand over an epoch's outputs at once (``update_batches``): the state is then what
    updating batch by batch gives (the layer path, batch logs), bit for bit, over two epochs (the second
    adds to the first's state), for each of ``batch_sizes``; and so is the result."""
    n = y_pred.shape[0]
    for batch in batch_sizes:
        batchwise, at_once = make(), make()
        for _ in range(2):
            for lo in range(0, n, batch):
                batchwise.update(ops, y_true[lo:lo + batch], y_pred[lo:lo + batch],
                                 None if sample_weight is None else sample_weight[lo:lo + batch])
            at_once.update_batches(ops, y_true, y_pred, sample_weight, batch)
        assert [v.name for v in batchwise._variables] == [v.name for v in at_once._variables]
        for a, b in zip(batchwise._variables, at_once._variables):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{a.name}, batches of {batch}")
        np.testing.assert_array_equal(batchwise.result(), at_once.result())
