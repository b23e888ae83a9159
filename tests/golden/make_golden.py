"""Write the golden files of the installed gpunet version into tests/golden/gpunet-<version>/.

Run once per release (``python tests/golden/make_golden.py``) and commit the folder; it is never
changed afterwards. tests/test_golden_files.py loads every folder's files, forever (pitfall 22).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

import gpunet  # noqa: E402
from gpunet.layers import BatchNormalization, Dense, Dropout  # noqa: E402
from gpunet.models import Sequential  # noqa: E402
from gpunet.saving.h5_store import FORMAT_VERSION  # noqa: E402


def mlp():
    model = Sequential([Dense(6, input_dim=4, activation="relu", name="hidden"), BatchNormalization(name="bn"),
                        Dropout(0.2, seed=1, name="drop"), Dense(3, activation="softmax", name="out")], name="mlp")
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def nested():
    inner = Sequential([Dense(5, input_dim=4, activation="tanh", name="n_d1"), BatchNormalization(name="n_bn")],
                       name="n_inner")
    inner.layers[0].trainable = False
    model = Sequential([inner, Dense(3, activation="softmax", name="n_out")], name="nested")
    model.compile(loss="categorical_crossentropy", optimizer=gpunet.optimizers.SGD(0.05, momentum=0.9),
                  metrics=["accuracy"])
    return model


def main():
    folder = os.path.join(HERE, f"gpunet-{gpunet.__version__}")
    if os.path.exists(folder):
        sys.exit(f"{folder} exists: golden files are frozen once written")
    os.makedirs(folder)
    gpunet.utils.set_random_seed(2024)
    rng = np.random.RandomState(0)
    x = rng.rand(24, 4).astype("float32")
    y = np.eye(3, dtype="float32")[rng.randint(0, 3, 24)]
    manifest = {"gpunet_version": gpunet.__version__, "format_version": FORMAT_VERSION, "files": {}}
    arrays = {"x": x, "y": y}
    for name, build in (("mlp", mlp), ("nested", nested)):
        model = build()
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        arrays[f"{name}_predict"] = model.predict(x, verbose=0)
        arrays[f"{name}_evaluate"] = np.array(model.evaluate(x, y, verbose=0))
        info = {"model": name, "iterations": int(model.optimizer.iterations)}
        for fname in (f"{name}.h5", f"{name}.keras"):
            model.save(os.path.join(folder, fname))
            manifest["files"][fname] = dict(info, kind="model")
        for fname in (f"{name}.weights.h5", f"{name}-legacy-weights.h5"):
            model.save_weights(os.path.join(folder, fname))
        for ext, text in (("json", model.to_json()), ("yaml", model.to_yaml())):
            with open(os.path.join(folder, f"{name}.{ext}"), "w", encoding="utf-8") as fh:
                fh.write(text)
        manifest["files"][f"{name}.json"] = dict(info, kind="architecture", weights=f"{name}.weights.h5")
        manifest["files"][f"{name}.yaml"] = dict(info, kind="architecture", weights=f"{name}-legacy-weights.h5")
    np.savez(os.path.join(folder, "expected.npz"), **arrays)
    with open(os.path.join(folder, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    print("wrote", folder)


if __name__ == "__main__":
    main()
