"""One adapter per framework, so every suite asks each the same thing the same way.

``load(name)`` returns the adapter or raises `Missing` with a sentence saying
why (the conftest turns that into a skip). Each adapter offers:

- ``mlp(spec, weights, compile=True)``: the network of `workloads.MLP` ``spec`` with
  those initial weights, compiled with Adam (`workloads.ADAM`) and ``spec.loss``;
- ``fit(model, x, y, epochs, batch_size)``: shuffled mini-batch training;
- ``predict(model, x, batch_size)``: outputs as a NumPy array;
- ``adam_step(shapes, grads)``: a zero-argument callable doing one Adam step over
  parameter tensors of those shapes with those (fixed) gradients.

PyTorch runs eager on the CPU (its idiomatic loop: ``zero_grad``, ``backward``,
``step``, ``loss.item()``), with its fused logits losses (BCEWithLogits,
CrossEntropy) standing for sigmoid/softmax + cross-entropy, as tf.keras does inside.
Keras 3 runs on its torch backend, tf-keras on TensorFlow; both through ``fit``/``predict``.
"""
import os

import numpy

from .workloads import ADAM

PEERS = ("torch", "keras3", "tf_keras")
FRAMEWORKS = ("gpunet",) + PEERS


class Missing(Exception):
    """A framework that is not installed or cannot run here."""


def load(name):
    try:
        return {"gpunet": GpunetPeer, "torch": TorchPeer, "keras3": Keras3Peer, "tf_keras": TfKerasPeer}[name]()
    except ImportError as exc:
        raise Missing(f"{name} is not installed ({exc}); pip install 'gpunet[benchmarks]' to compare with it")


# ---- gpunet ---------------------------------------------------------------------------------

class GpunetPeer:
    name = "gpunet"

    def __init__(self, backend="numpy"):
        import gpunet
        from gpunet import backend as B
        self.gpunet, self.B, self.backend = gpunet, B, backend

    def mlp(self, spec, weights, compile=True):
        from gpunet.layers import Dense
        from gpunet.models import Sequential
        from gpunet.optimizers import Adam
        with self.B.use_backend(self.backend):
            model = Sequential(name="bench")
            width = spec.input_dim
            for i, (units, act) in enumerate(spec.layers):
                kw = {"input_dim": width} if i == 0 else {}
                model.add(Dense(units, activation=act, **kw))
            if compile:
                model.compile(optimizer=Adam(**ADAM), loss=spec.loss)
            model.set_weights(weights)
        return model

    def fit(self, model, x, y, epochs, batch_size):
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)

    def predict(self, model, x, batch_size):
        return model.predict(x, batch_size=batch_size, verbose=0)

    def adam_step(self, shapes, grads):
        """gpunet's optimizer contract: one flat parameter buffer, ``build`` then ``apply``."""
        from gpunet.optimizers import Adam
        ops = self.B.resolve(self.backend)
        sizes = [int(numpy.prod(s)) for s in shapes]
        params = ops.zeros((sum(sizes),), "float32")
        flat_grads = ops.asarray(numpy.concatenate([g.reshape(-1) for g in grads]), dtype="float32")
        layout, offset = [], 0
        for i, (shape, n) in enumerate(zip(shapes, sizes)):
            layout.append((f"bench/w{i}", offset, tuple(shape)))
            offset += n
        opt = Adam(**ADAM)
        opt.build(ops, params, layout)
        return lambda: opt.apply(params, flat_grads)


# ---- PyTorch ----------------------------------------------------------------------------------

class TorchPeer:
    name = "torch"

    def __init__(self):
        import torch
        self.torch = torch

    def mlp(self, spec, weights, compile=True):
        torch, nn = self.torch, self.torch.nn
        mods, last_act = [], None
        width = spec.input_dim
        for i, (units, act) in enumerate(spec.layers):
            lin = nn.Linear(width, units)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(weights[2 * i].T)))
                lin.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
            mods.append(lin)
            last = i == len(spec.layers) - 1
            if last and act in ("sigmoid", "softmax"):
                last_act = act            # folded into the loss (logits), applied by predict
            elif act == "relu":
                mods.append(nn.ReLU())
            elif act != "linear":
                raise ValueError(f"no torch mapping for activation {act!r}")
            width = units
        net = nn.Sequential(*mods)
        loss = {"binary_crossentropy": nn.BCEWithLogitsLoss, "categorical_crossentropy": nn.CrossEntropyLoss,
                "mse": nn.MSELoss}[spec.loss]()
        opt = torch.optim.Adam(net.parameters(), lr=ADAM["learning_rate"], betas=(ADAM["beta_1"], ADAM["beta_2"]),
                               eps=ADAM["epsilon"])
        return {"net": net, "loss": loss, "opt": opt, "last_act": last_act}

    def fit(self, model, x, y, epochs, batch_size):
        torch = self.torch
        net, lossf, opt = model["net"], model["loss"], model["opt"]
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        n = xt.shape[0]
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(n)
            ex, ey = xt[perm], yt[perm]  # shuffled once per epoch, then contiguous slices (as gpunet does)
            total = 0.0
            for lo in range(0, n, batch_size):
                xb, yb = ex[lo:lo + batch_size], ey[lo:lo + batch_size]
                loss = lossf(net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * xb.shape[0]

    def predict(self, model, x, batch_size):
        torch = self.torch
        net, act = model["net"], model["last_act"]
        xt = torch.from_numpy(x)
        net.eval()
        outs = []
        with torch.inference_mode():
            for lo in range(0, xt.shape[0], batch_size):
                out = net(xt[lo:lo + batch_size])
                if act == "softmax":
                    out = torch.softmax(out, dim=-1)
                elif act == "sigmoid":
                    out = torch.sigmoid(out)
                outs.append(out)
        return torch.cat(outs).numpy()

    def adam_step(self, shapes, grads):
        torch = self.torch
        params = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        opt = torch.optim.Adam(params, lr=ADAM["learning_rate"], betas=(ADAM["beta_1"], ADAM["beta_2"]),
                               eps=ADAM["epsilon"])
        return opt.step


# ---- Keras 3 (torch backend) and tf-keras ----------------------------------------------------------

class _KerasPeer:
    keras = None

    def mlp(self, spec, weights, compile=True):
        K = self.keras
        layers = [K.Input(shape=(spec.input_dim,))]
        layers += [K.layers.Dense(units, activation=act) for units, act in spec.layers]
        model = K.Sequential(layers)
        if compile:
            model.compile(optimizer=K.optimizers.Adam(**ADAM), loss=spec.loss)
        model.set_weights(weights)
        return model

    def fit(self, model, x, y, epochs, batch_size):
        model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)

    def predict(self, model, x, batch_size):
        return numpy.asarray(model.predict(x, batch_size=batch_size, verbose=0))


class Keras3Peer(_KerasPeer):
    name = "keras3"

    def __init__(self):
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras
        if not keras.__version__.startswith("3."):
            raise Missing(f"keras {keras.__version__} is installed, the Keras 3 peer needs keras>=3")
        if keras.backend.backend() != "torch":
            raise Missing(f"Keras 3 runs on its {keras.backend.backend()!r} backend here; the peer is Keras 3 on "
                          "torch: set KERAS_BACKEND=torch before keras is imported")
        self.keras = keras

    def adam_step(self, shapes, grads):
        K = self.keras
        variables = [K.Variable(numpy.zeros(s, numpy.float32)) for s in shapes]
        tensors = [K.ops.convert_to_tensor(g) for g in grads]
        opt = K.optimizers.Adam(**ADAM)
        opt.build(variables)
        return lambda: opt.apply(tensors, variables)


class TfKerasPeer(_KerasPeer):
    name = "tf_keras"

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tf_keras
        import tensorflow as tf
        self.keras, self.tf = tf_keras, tf

    def adam_step(self, shapes, grads):
        """As ``fit`` runs it: ``apply_gradients`` inside a ``tf.function``."""
        tf = self.tf
        variables = [tf.Variable(numpy.zeros(s, numpy.float32)) for s in shapes]
        tensors = [tf.constant(g) for g in grads]
        opt = self.keras.optimizers.Adam(**ADAM)

        @tf.function
        def step():
            opt.apply_gradients(zip(tensors, variables))

        return step
