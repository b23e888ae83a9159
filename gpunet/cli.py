"""The ``gpunet`` command: ``demo``, ``inspect FILE``, ``convert SRC DST``, ``run -n N SCRIPT``."""
import argparse
import os
import sys

import numpy

PIMA_COLUMNS = 9  # 8 features + the 0/1 label, no header (the seeds' CSV format)
PIMA_HINT = ("the seed tutorial's Pima Indians diabetes CSV (768 rows: 8 numeric feature columns + a 0/1 label, "
             "comma-separated, no header) is not shipped with gpunet; it is published with the tutorial, e.g. "
             "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv")


def synthetic_pima(n=768, seed=7):
    """A deterministic Pima-shaped data set (768 x 8 features + 0/1 label), generated in code.

    Feature ranges follow the real data's columns (pregnancies, glucose, blood
    pressure, skin fold, insulin, BMI, pedigree, age); the label comes from a
    fixed logistic rule plus noise, so a small MLP can learn it to ~75-80%.
    """
    rng = numpy.random.default_rng(seed)
    preg = rng.poisson(3.8, n).clip(0, 17)
    glucose = rng.normal(121, 32, n).clip(0, 199)
    pressure = rng.normal(69, 19, n).clip(0, 122)
    skin = rng.normal(20, 16, n).clip(0, 99)
    insulin = rng.gamma(1.0, 80, n).clip(0, 846)
    bmi = rng.normal(32, 7.9, n).clip(0, 67)
    pedigree = rng.gamma(2.0, 0.24, n).clip(0.078, 2.42)
    age = (21 + rng.gamma(2.0, 6.0, n)).clip(21, 81).round()
    x = numpy.stack([preg, glucose.round(), pressure.round(), skin.round(), insulin.round(), bmi.round(1),
                     pedigree.round(3), age], axis=1)
    logit = (0.035 * (glucose - 121) + 0.09 * (bmi - 32) + 0.03 * (age - 33) + 0.12 * (preg - 3.8)
             + 0.9 * (pedigree - 0.47) - 0.65 + rng.normal(0, 1.0, n))
    y = (logit > 0).astype(numpy.float64)
    return numpy.column_stack([x, y])


def load_csv(path):
    """The seed's CSV: 8 feature columns + a 0/1 label, comma-separated, no header."""
    try:
        data = numpy.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"gpunet demo: cannot read {path}: {exc}\n({PIMA_HINT})")
    if data.shape[1] != PIMA_COLUMNS:
        raise SystemExit(f"gpunet demo: {path} must have {PIMA_COLUMNS} columns (8 features + 0/1 label), "
                         f"found {data.shape[1]}")
    return data


def demo(args):
    from . import utils
    from .models import Sequential, model_from_json, model_from_yaml, load_model
    from .layers import Dense

    utils.set_random_seed(args.seed)
    if args.data:
        dataset = load_csv(args.data)
        print(f"Data: {args.data} ({dataset.shape[0]} rows)")
    else:
        dataset = synthetic_pima(seed=args.seed)
        print("Data: synthetic Pima-shaped data set generated in code (768 rows, 8 features + 0/1 label). "
              f"For the real one pass --data FILE: {PIMA_HINT}.")
    X, Y = dataset[:, 0:8], dataset[:, 8]

    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(1, kernel_initializer="uniform", activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X, Y, epochs=args.epochs, batch_size=10, verbose=args.verbose)
    scores = model.evaluate(X, Y, verbose=0)
    name = model.metrics_names[1]
    print("%s: %.2f%%" % (name, scores[1] * 100))

    out = args.out
    os.makedirs(out, exist_ok=True)
    paths = {k: os.path.join(out, f) for k, f in [("json", "model.json"), ("yaml", "model.yaml"),
                                                   ("weights", "model.weights.h5"), ("full", "model.h5")]}
    with open(paths["json"], "w", encoding="utf-8") as f:
        f.write(model.to_json())
    with open(paths["yaml"], "w", encoding="utf-8") as f:
        f.write(model.to_yaml())
    model.save_weights(paths["weights"])
    model.save(paths["full"])
    print(f"Saved model to {out}/: model.json, model.yaml, model.weights.h5 (weights), model.h5 (full model)")

    def report(label, loaded, compile_it=True):
        if compile_it:
            loaded.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
        score = loaded.evaluate(X, Y, verbose=0)
        print("%-24s %s: %.2f%%" % (label, loaded.metrics_names[1], score[1] * 100))
        return score[1]

    results = []
    with open(paths["json"], encoding="utf-8") as f:
        m = model_from_json(f.read())
    m.load_weights(paths["weights"])
    results.append(report("JSON + HDF5 weights:", m))
    with open(paths["yaml"], encoding="utf-8") as f:
        m = model_from_yaml(f.read())
    m.load_weights(paths["weights"])
    results.append(report("YAML + HDF5 weights:", m))
    results.append(report("Full model (load_model):", load_model(paths["full"]), compile_it=False))
    if any(r != scores[1] for r in results):
        print("error: a reloaded model does not reproduce the trained model's accuracy", file=sys.stderr)
        return 1
    return 0


def inspect(args):
    from .saving.cli import inspect as _inspect
    from .saving.architecture_file import describe
    from .saving.errors import SavingError
    try:
        print(_inspect(args.file))
    except (SavingError, OSError, ValueError) as exc:
        try:  # not a model or weights file: a JSON/YAML architecture (model.to_json()) is described instead
            text = describe(args.file)
        except (SavingError, ValueError, TypeError) as arch_exc:
            print(f"gpunet inspect: {args.file} is a model architecture file that cannot be rebuilt: {arch_exc}",
                  file=sys.stderr)
            return 1
        if text is None:
            print(f"gpunet inspect: {exc}", file=sys.stderr)
            return 1
        print(text)
    return 0


def convert(args):
    from .saving.cli import convert as _convert
    from .saving.errors import SavingError
    try:
        written = _convert(args.src, args.dst, overwrite=args.overwrite)
    except (SavingError, OSError, ValueError) as exc:
        print(f"gpunet convert: {exc}", file=sys.stderr)
        return 1
    for path in written or [args.dst]:
        print(f"wrote {path}")
    return 0


def run_distributed(args):
    from .distribute.launcher import run
    try:
        return run(args.np, [args.script], args.args, args.mpiexec, args.hosts, args.dry_run)
    except (OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gpunet", description="gpunet: Keras-compatible deep learning on "
                                     "CuPy (GPU) or NumPy (CPU).")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"gpunet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train the tutorial's Pima network, save it every way, reload and re-evaluate",
                       description="Train the seed tutorial's Pima Indians network (Dense 12/8/1, Adam, batch 10), "
                       "save it as JSON/YAML + weights and as a full model, reload each and re-evaluate.")
    p.add_argument("--data", metavar="FILE", help="CSV in the seed's format: 8 feature columns + a 0/1 label, "
                   "comma-separated, no header, e.g. pima-indians-diabetes.csv (not shipped with gpunet: "
                   "see the tutorial). Default: a synthetic, deterministic Pima-shaped data set generated in code")
    p.add_argument("--epochs", type=int, default=150, help="training epochs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7,
                   help="random seed for the data, initial weights and shuffles (default: %(default)s)")
    p.add_argument("--out", default="gpunet-demo", help="folder for the saved files (default: ./%(default)s)")
    p.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2],
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: %(default)s)")
    p.set_defaults(func=demo)
    p = sub.add_parser("inspect", help="describe a saved model, weights or JSON/YAML architecture file")
    p.add_argument("file", help="a .h5, .keras, .weights.h5, or a model.json / model.yaml architecture")
    p.set_defaults(func=inspect)
    p = sub.add_parser("convert", help="convert between .h5, .keras and JSON/YAML + weights")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--overwrite", action="store_true",
                   help="replace DST (and the DST.weights.h5 of a .json/.yaml DST) when it exists")
    p.set_defaults(func=convert)
    p = sub.add_parser("run", help="run a training script on N ranks (gpunet.distribute) through mpiexec",
                       description="Run SCRIPT on N ranks: mpiexec -n N <this python> -m mpi4py SCRIPT ARGS.")
    p.add_argument("-n", "-np", dest="np", type=int, required=True, help="number of ranks (processes)")
    p.add_argument("--hosts", help="machines to run on, as mpiexec takes them (e.g. node1:4,node2:4)")
    p.add_argument("--mpiexec", help="the mpiexec to use (default: the one beside this Python, else on PATH)")
    p.add_argument("--dry-run", action="store_true", help="print the mpiexec command instead of running it")
    p.add_argument("script", help="the training script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    p.set_defaults(func=run_distributed)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
