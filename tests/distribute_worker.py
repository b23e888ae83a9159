"""One rank of the data-parallel tests (tests/test_distribute.py launches 2 with mpirun).

    python distribute_worker.py CASE OUT

writes ``OUT/<what>_r<rank>.npz`` (weights, History, results) for the test to compare, and files
named with the rank, so the test sees which rank wrote what.
"""
import json
import os
import sys

import numpy

import gpunet
import gpunet.distribute as dist
from gpunet.callbacks import CSVLogger, LambdaCallback, ModelCheckpoint
from gpunet.models import load_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distribute_cases as C  # noqa: E402


def dump(out, what, model, history=None, **extra):
    r = dist.rank()
    numpy.savez(os.path.join(out, f"{what}_r{r}.npz"), params=numpy.asarray(model._params),
                iterations=model.optimizer.iterations, **extra)
    if history is not None:
        with open(os.path.join(out, f"{what}_history_r{r}.json"), "w") as f:
            json.dump(history, f)


def train(out):
    """The CASES: each rank built from a different seed (the broadcast repairs it)."""
    for case, (kind, opt, n, epochs, floatx) in C.CASES.items():
        x, y = C.data(n, dtype=floatx)
        m = C.model(kind, 7 + 100 * dist.rank(), floatx)
        m.compile(optimizer=dist.DistributedOptimizer(C.optimizer(opt)), loss="binary_crossentropy",
                  metrics=["accuracy"])
        h = m.fit(x, y, batch_size=C.BATCH, epochs=epochs, verbose=0, validation_data=C.data(37, seed=1, dtype=floatx),
                  callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
        xe, ye = C.data(29, seed=2, dtype=floatx)
        dump(out, case, m, h.history, evaluate=numpy.asarray(m.evaluate(xe, ye, batch_size=5, verbose=0)),
             predict=m.predict(xe, batch_size=5), path=type(m._plan).__name__)  # the fused plan, or bool: the layers


def files(out):
    """Callbacks that print or write, save, warmup, metric averaging, then resume from a checkpoint."""
    r = dist.rank()
    x, y = C.data(2 * C.BATCH * 6, dtype="float64")
    m = C.model("plan", 7, "float64")
    m.compile(optimizer=dist.DistributedOptimizer(C.optimizer("sgd")), loss="binary_crossentropy",
              metrics=["accuracy"])
    add_rank = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(rank_value=float(r)))
    cbs = [dist.BroadcastGlobalVariablesCallback(0), add_rank, dist.MetricAverageCallback(),
           dist.LearningRateWarmupCallback(warmup_epochs=2, verbose=1),
           ModelCheckpoint(os.path.join(out, f"ckpt_r{r}.h5")), CSVLogger(os.path.join(out, f"log_r{r}.csv"))]
    refused = []  # data each rank sharded itself: refused on every rank, nothing trained
    for call in (lambda: m.fit(x[r::2], y[r::2], batch_size=C.BATCH, epochs=1, verbose=0),
                 lambda: m.evaluate(x[r::2], y[r::2], verbose=0), lambda: m.predict(x[r:])):
        try:
            call()
            refused.append("")
        except ValueError as exc:
            refused.append(str(exc))
    with open(os.path.join(out, f"refused_r{r}.json"), "w") as f:
        json.dump(refused, f)
    h = m.fit(x, y, batch_size=C.BATCH, epochs=3, verbose=2, callbacks=cbs)
    m.save(os.path.join(out, f"model_r{r}.h5"))
    if r == 1:  # rank 1's weights and optimizer state drift; the broadcast gives it rank 0's again
        m._params += 1.0
        m.optimizer.iterations += 5
        m.optimizer.learning_rate = 0.123
        m.optimizer.slots()["momentum"] += 1.0
    dist.broadcast_weights(m, root=0)
    dump(out, "files", m, h.history, momentum=numpy.asarray(m.optimizer.slots()["momentum"]),
         lr=float(m.optimizer.learning_rate))

    # resume: 2 epochs, save, load on every rank, 2 more == 4 straight
    def fresh():
        m = C.model("layers", 11, "float64")
        m.compile(optimizer=dist.DistributedOptimizer(C.optimizer("adam")), loss="binary_crossentropy")
        return m
    x, y = C.data(2 * C.BATCH * 5 + 1)
    straight = fresh()
    straight.fit(x, y, batch_size=C.BATCH, epochs=4, verbose=0, callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
    first = fresh()
    first.fit(x, y, batch_size=C.BATCH, epochs=2, verbose=0, callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
    path = os.path.join(out, "resume.h5")
    first.save(path)  # rank 0 writes
    dist.barrier()
    resumed = load_model(path)
    resumed.compile(optimizer=dist.DistributedOptimizer(resumed.optimizer), loss="binary_crossentropy")
    resumed.fit(x, y, batch_size=C.BATCH, epochs=4, initial_epoch=2, verbose=0,
                callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
    dump(out, "straight", straight)
    dump(out, "resumed", resumed)


def fault(out, kind):
    """A rank that fails in the middle of training (rank 1, at its third step); "stop": every rank
    has the callback and rank 1's stops training there (every rank then stops with it); "short":
    rank 1 alone has it (the other ranks cannot know, and wait)."""
    r = dist.rank()
    x, y = C.data(2 * C.BATCH * 50 + 1)  # (a padded last step: rank 1 has no sample in it)
    m = C.model("plan", 7, "float64")
    m.compile(optimizer=dist.DistributedOptimizer(C.optimizer("adam")), loss="binary_crossentropy")

    def on_batch(batch, logs):
        if r != 1 or batch != 2:
            return
        if kind == "raise":
            raise ValueError("rank 1 fails on purpose")
        if kind == "exit":
            sys.exit(0)
        if kind in ("short", "stop"):
            m.stop_training = True  # leaves the epoch after this step
        if kind == "kill":
            os.kill(os.getpid(), 9)
    callbacks = [LambdaCallback(on_batch_end=on_batch)] if kind != "short" or r == 1 else []
    h = m.fit(x, y, batch_size=C.BATCH, epochs=3, verbose=0, callbacks=callbacks)
    if kind == "stop":
        dump(out, "stop", m, h.history)
    if kind == "short" and r == 1:
        sys.exit(0)


def extras(out):
    """Stateful metrics, evaluate's batches, BatchNormalization's moving statistics, refusals and
    messages: results or error messages per rank, in extras_r<rank>.json / .npz."""
    r, results = dist.rank(), {}
    x, y = C.data(2 * C.BATCH * 12 + 3)  # (an uneven last batch; no padded step: SummedMAE ignores weights)
    xe, ye = C.data(29, seed=2)
    m = C.extras_model(7 + r)  # (different seeds: the broadcast makes them equal)
    m.compile(optimizer=dist.DistributedOptimizer(m.optimizer), loss="binary_crossentropy",
              metrics=["accuracy", C.SummedMAE()])
    scheduler = gpunet.callbacks.LearningRateScheduler(lambda epoch, lr: lr, verbose=1)
    results["history"] = m.fit(x, y, batch_size=C.BATCH, epochs=2, verbose=0,
                               callbacks=[dist.BroadcastGlobalVariablesCallback(0), scheduler]).history
    results["evaluate"] = m.evaluate(xe, ye, batch_size=5, verbose=0)
    m.compile(optimizer=dist.DistributedOptimizer(gpunet.optimizers.Adam(0.01)), loss="hinge")
    results["hinge_evaluate"] = m.evaluate(*C.hinge_evaluation_data(), batch_size=4, verbose=0)
    m.compile(optimizer=dist.DistributedOptimizer(gpunet.optimizers.Adam(0.01)), loss="binary_crossentropy",
              metrics=C.per_class_metrics())
    results["one_batch_evaluate"] = m.evaluate(xe[:4], ye[:4], batch_size=5, verbose=0)  # (rank 1: no rows)
    scheduled = C.extras_model(7 + r)  # a LearningRateSchedule: the broadcast must not assign the rate
    scheduled.compile(optimizer=dist.DistributedOptimizer(gpunet.optimizers.Adam(
        gpunet.optimizers.schedules.ExponentialDecay(0.01, 5, 0.5))), loss="binary_crossentropy")
    scheduled.fit(x, y, batch_size=C.BATCH, epochs=1, verbose=0, callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
    results["scheduled"] = [scheduled.optimizer.iterations, float(scheduled.optimizer.learning_rate),
                             float(numpy.abs(numpy.concatenate([w.ravel() for w in scheduled.get_weights()])).sum())]
    bn = C.extras_model(7 + r, norm=True)  # unsynchronized: each rank's own batch statistics
    bn.compile(optimizer=dist.DistributedOptimizer(bn.optimizer), loss="binary_crossentropy")
    bn.fit(x, y, batch_size=C.BATCH, epochs=2, verbose=0, callbacks=[dist.BroadcastGlobalVariablesCallback(0)])
    moving = numpy.concatenate([numpy.asarray(w) for w in bn.layers[1].get_weights()[2:]])
    xp, yp = C.data(2 * C.BATCH * 5 + 1)  # a last global batch of 1 sample: rank 1 takes a padded step
    padded = C.extras_model(7 + r, norm=True)
    padded.compile(optimizer=dist.DistributedOptimizer(padded.optimizer), loss="binary_crossentropy")
    kernels = []  # the first Dense layer's weights at each step (the same on every rank)
    record = gpunet.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: kernels.append(
        numpy.concatenate([numpy.ravel(w) for w in padded.layers[0].get_weights()])))
    padded.fit(xp, yp, batch_size=C.BATCH, epochs=2, shuffle=False, verbose=0,
               callbacks=[dist.BroadcastGlobalVariablesCallback(0), record])
    numpy.savez(os.path.join(out, f"extras_r{r}.npz"), moving=moving, predict=bn.predict(xe, batch_size=5),
                params=numpy.asarray(m._params), padded_steps=numpy.asarray(kernels),
                padded_moving=numpy.concatenate([numpy.asarray(w) for w in padded.layers[1].get_weights()[2:]]))
    bn.save(os.path.join(out, f"extras_bn_r{r}.h5"))
    refusals = {
        "sum-reduction": lambda: (m.compile(optimizer=dist.DistributedOptimizer(gpunet.optimizers.SGD()),
                                            loss=gpunet.losses.BinaryCrossentropy(reduction="sum")),
                                  m.fit(x, y, batch_size=C.BATCH, epochs=1, verbose=0)),
        "shuffle": lambda: (m.compile(optimizer=dist.DistributedOptimizer(gpunet.optimizers.SGD()),
                                      loss="binary_crossentropy"),
                            m.fit(x, y, batch_size=C.BATCH, epochs=1, verbose=0, shuffle=r == 0)),
        "labels": lambda: m.fit(x, numpy.where(numpy.arange(len(y))[:, None] == 1 + r, 1 - y, y),
                                batch_size=C.BATCH, epochs=1, verbose=0),
        "model": lambda: dist.broadcast_weights(C.extras_model(1, norm=r == 0)),
    }
    for name, call in refusals.items():
        try:
            call()
            results[name] = ""
        except (ValueError, RuntimeError) as exc:
            results[name] = f"{type(exc).__name__}: {exc}"
    with open(os.path.join(out, f"extras_r{r}.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    case, out = sys.argv[1], sys.argv[2]
    dist.init()
    if case == "train":
        train(out)
    elif case == "files":
        files(out)
    elif case == "extras":
        extras(out)
    else:
        fault(out, case)
