"""The TensorBoard callback: event files with tf.keras 2's runs, tags and steps, read back with
TensorBoard's own event reader; values are History's."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import gpunet
from gpunet.callbacks import TensorBoard
from gpunet.layers import Dense
from gpunet.models import Sequential
from gpunet.optimizers import Adam, schedules

pytest.importorskip("tensorboard", reason="tensorboard is not installed (the test extra installs it)")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

X = np.random.RandomState(0).rand(40, 4).astype("float32")
Y = (X.sum(axis=1) > 2).astype("float32")


def build(optimizer=None):
    gpunet.utils.set_random_seed(1)
    model = Sequential([Dense(3, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer or Adam(schedules.ExponentialDecay(0.01, 3, 0.5)), "binary_crossentropy",
                  metrics=["accuracy"])
    return model


def read(log_dir, run):
    """{tag: [(step, value or array)]} and {tag: plugin} over every event file of ``run``."""
    values, plugins = {}, {}
    for path in sorted(glob.glob(os.path.join(log_dir, run, "events.out.tfevents.*"))):
        events = EventAccumulator(path, size_guidance={"tensors": 0})
        events.Reload()
        for tag in events.Tags()["tensors"]:
            plugins[tag] = events.SummaryMetadata(tag).plugin_data.plugin_name
            values.setdefault(tag, []).extend((e.step, tensor_util.make_ndarray(e.tensor_proto))
                                              for e in events.Tensors(tag))
    return values, plugins


def test_fit_writes_tf_keras_tags_with_historys_values(tmp_path):
    model = build()
    history = model.fit(X, Y, batch_size=10, epochs=2, validation_split=0.25, verbose=0,
                        callbacks=[TensorBoard(tmp_path, histogram_freq=1)]).history
    train, plugins = read(tmp_path, "train")
    # the tags tf.keras 2.21 writes for this program (its "keras" tag holds the model's JSON)
    assert sorted(train) == sorted(["keras", "epoch_loss", "epoch_accuracy", "epoch_learning_rate",
                                    "dense/kernel_0/histogram", "dense/bias_0/histogram",
                                    "dense_1/kernel_0/histogram", "dense_1/bias_0/histogram"])
    assert plugins["keras"] == "graph_keras_model" and plugins["epoch_loss"] == "scalars"
    assert plugins["dense/kernel_0/histogram"] == "histograms"
    assert gpunet.models.model_from_json(train["keras"][0][1].item().decode()).count_params() == 19
    for name in ("loss", "accuracy"):
        assert [s for s, _ in train["epoch_" + name]] == [0, 1]
        np.testing.assert_allclose([float(v) for _, v in train["epoch_" + name]], history[name], rtol=1e-6)
    # ExponentialDecay(0.01, 3, 0.5) after 3 and 6 steps, as tf.keras 2.21 logs it: 0.005, 0.0025
    np.testing.assert_allclose([float(v) for _, v in train["epoch_learning_rate"]], [0.005, 0.0025], rtol=1e-6)
    kernel = train["dense/kernel_0/histogram"][-1][1]  # (buckets, 3): left edge, right edge, count
    assert kernel.shape[1] == 3 and kernel[:, 2].sum() == 12
    validation, _ = read(tmp_path, "validation")
    assert sorted(validation) == ["epoch_accuracy", "epoch_loss", "evaluation_accuracy_vs_iterations",
                                  "evaluation_loss_vs_iterations"]
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [3, 6]  # the optimizer's step
    np.testing.assert_allclose([float(v) for _, v in validation["epoch_loss"]], history["val_loss"], rtol=1e-6)


def test_batch_logs_every_n_batches_and_evaluate_alone(tmp_path):
    model = build(optimizer="sgd")
    model.fit(X, Y, batch_size=10, epochs=2, verbose=0, callbacks=[TensorBoard(tmp_path, update_freq=3,
                                                                                write_graph=False)])
    train, _ = read(tmp_path, "train")
    assert sorted(train) == ["batch_accuracy", "batch_loss", "epoch_accuracy", "epoch_loss"]  # constant rate
    assert [s for s, _ in train["batch_loss"]] == [3, 6]  # 8 batches in all, every third
    loss = model.evaluate(X, Y, verbose=0, callbacks=[TensorBoard(tmp_path / "eval")])[0]
    evaluation, _ = read(tmp_path / "eval", "validation")
    assert [(s, round(float(v), 6)) for s, v in evaluation["evaluation_loss_vs_iterations"]] == \
        [(8, round(loss, 6))]


def test_arguments_are_checked_and_unsupported_features_warned():
    with pytest.raises(ValueError, match="update_freq is 'epoch', 'batch' or a positive integer"):
        TensorBoard(update_freq=0)
    with pytest.raises(ValueError, match="histogram_freq is a non-negative integer"):
        TensorBoard(histogram_freq=-1)
    with pytest.warns(UserWarning, match="TensorFlow's profiler"):
        TensorBoard(profile_batch=2)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['log_path'\]"):
        TensorBoard(log_path="x")


def test_without_the_tensorboard_package_the_error_says_what_to_install():
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "from gpunet.callbacks import TensorBoard\n"
            "try:\n    TensorBoard()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install tensorboard" in out
