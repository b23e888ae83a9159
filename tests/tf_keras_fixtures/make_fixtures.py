"""Write the tf.keras 2.21 files of tests/test_tf_keras_resume.py (CI has no TensorFlow, so they are committed).

Run from the repository root in an environment with tf_keras 2.21 (TensorFlow CPU) and h5py:

    TF_CPP_MIN_LOG_LEVEL=3 python tests/tf_keras_fixtures/make_fixtures.py

For each optimizer case: a small Sequential (Dense 4 tanh, Dense 2, mse) trained 2 epochs (6 steps) saved
as ``<case>.h5`` (and ``<case>.keras`` for the cases in ARCHIVES); ``expected.npz`` holds the data, tf.keras's optimizer state per slot (flattened over
the trainable variables in order, tf.keras's slot names) and the weights after one more epoch
(``shuffle=False``), both continuing in the same process (``after``) and after reloading its own
``.h5`` (``after_reloaded``: differs for Nadam, whose ``u_product`` tf.keras does not save);
``legacy_layout.json``: see LEGACY.
"""
import json
import os
import tempfile

import h5py
import numpy as np
import tf_keras as keras

from cases import LEGACY_CASES, X, Y, optimizers  # (this folder: the script runs from here)

HERE = os.path.dirname(os.path.abspath(__file__))
O = keras.optimizers
CASES = optimizers(O)
# .keras archives only where their positional optimizer list differs from the others': SGD's unused
# momentum buffers, no learning rate under a schedule, Nadam's missing u_product, several slot groups.
ARCHIVES = ("sgd", "adam-schedule", "nadam", "rmsprop-centered", "adam-amsgrad")


# tf.keras's legacy optimizers (what its load_model builds from a config without "is_legacy_optimizer",
# such as gpunet's): legacy_layout.json keeps the optimizer_weights list each writes, [[name, shape]].
LEGACY = {case: make for case, make in optimizers(O.legacy).items() if case in LEGACY_CASES}


def build():
    keras.utils.set_random_seed(5)
    return keras.Sequential([keras.layers.Dense(4, activation="tanh", input_shape=(5,), name="dense"),
                             keras.layers.Dense(2, name="dense_1")])


def legacy_layouts():
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, make in LEGACY.items():
            model = build()
            model.compile(loss="mean_squared_error", optimizer=make())
            model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
            model.save(os.path.join(tmp, "m.h5"))
            with h5py.File(os.path.join(tmp, "m.h5"), "r") as f:
                group = f["optimizer_weights"]
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
                out[case] = [[n, list(group[n].shape)] for n in names]
    with open(os.path.join(HERE, "legacy_layout.json"), "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)


def flat(model):
    return np.concatenate([np.asarray(w).ravel() for w in model.get_weights()])


def main():
    out = {"X": X, "Y": Y}
    for case, make in CASES.items():
        model = build()
        # Nadam runs eagerly: inside fit's tf.function tf.keras 2.21 multiplies its u_product once per
        # variable per step (a Python counter read at trace time), which eager mode and Keras 3 do not.
        model.compile(loss="mean_squared_error", optimizer=make(), run_eagerly=case == "nadam")
        model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
        model.save(os.path.join(HERE, case + ".h5"))
        if case in ARCHIVES:
            model.save(os.path.join(HERE, case + ".keras"))
        opt = model.optimizer
        out[f"{case}/iterations"] = np.array(int(opt.iterations.numpy()))
        slots = {}
        for v in opt.variables[1:]:  # "<Optimizer>/<slot>/<layer>/<weight>:0", trainable-variable order per slot
            slots.setdefault(v.name.split("/")[1], []).append(v.numpy().ravel())
        for slot, parts in slots.items():
            out[f"{case}/slot/{slot}"] = np.concatenate(parts)
        out[f"{case}/before"] = flat(model)
        model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        out[f"{case}/after"] = flat(model)
        reloaded = keras.models.load_model(os.path.join(HERE, case + ".h5"))
        reloaded.compile(loss="mean_squared_error", optimizer=reloaded.optimizer, run_eagerly=case == "nadam")
        reloaded.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
        out[f"{case}/after_reloaded"] = flat(reloaded)
    np.savez_compressed(os.path.join(HERE, "expected.npz"), **out)
    legacy_layouts()


if __name__ == "__main__":
    main()
