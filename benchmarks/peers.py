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
``step``, ``loss.item()``) and, for the GPU workloads, on CUDA (`TorchCudaPeer`), with
its fused logits losses (BCEWithLogits, CrossEntropy) standing for sigmoid/softmax +
cross-entropy, as tf.keras does inside.
Keras 3 runs on its torch backend, tf-keras on TensorFlow; both through ``fit``/``predict``.
"""
import os

import numpy

from .workloads import ADAM

PEERS = ("torch", "keras3", "tf_keras")
FRAMEWORKS = ("gpunet",) + PEERS


_LOSSES = {"binary_crossentropy": lambda losses: losses.BinaryCrossentropy(),
           "categorical_crossentropy": lambda losses: losses.CategoricalCrossentropy(),
           "mse": lambda losses: losses.MeanSquaredError()}


class Missing(Exception):
    """A framework that is not installed or cannot run here."""


def load(name):
    try:
        return {"gpunet": GpunetPeer, "torch": TorchPeer, "keras3": Keras3Peer, "tf_keras": TfKerasPeer,
                "torch cuda": TorchCudaPeer}[name]()
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

    def own_loop(self, model, x, y, epochs, batch_size):
        """Keras's guide "Writing a training loop from scratch" (`GradientTape`, ``apply_gradients``), the loss
        read every step; the model's compiled optimizer and loss."""
        gpunet, opt, loss_fn = self.gpunet, model.optimizer, _LOSSES[model.loss](self.gpunet.losses)
        n = x.shape[0]
        for _ in range(epochs):
            order = numpy.random.permutation(n)
            ex, ey = x[order], y[order]
            for lo in range(0, n, batch_size):
                with gpunet.GradientTape() as tape:
                    loss = loss_fn(ey[lo:lo + batch_size], model(ex[lo:lo + batch_size], training=True))
                grads = tape.gradient(loss, model.trainable_weights)
                opt.apply_gradients(zip(grads, model.trainable_weights))
                float(loss)

    def sync(self):
        """Wait for the device's queued work (a no-op on the CPU)."""
        if self.backend == "cupy":
            import cupy
            cupy.cuda.Device().synchronize()

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
    device = None  # the CPU; TorchCudaPeer: "cuda"

    def __init__(self):
        import torch
        self.torch = torch

    def mlp(self, spec, weights, compile=True, **adam_options):
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
                               eps=ADAM["epsilon"], **adam_options)
        return {"net": net, "loss": loss, "opt": opt, "last_act": last_act}

    def fit(self, model, x, y, epochs, batch_size):
        """The idiomatic loop: on the CPU ``loss.item()`` per step; on a GPU the data moved there
        inside ``fit`` (as gpunet uploads inside ``fit``) and the loss kept on the device, read
        once per epoch."""
        torch, dev = self.torch, self.device
        net, lossf, opt = model["net"], model["loss"], model["opt"]
        # tensors already on the device are used as they are (gpu_diagnose's resident case)
        xt, yt = (a if torch.is_tensor(a) else torch.from_numpy(a) for a in (x, y))
        if dev is not None:
            xt, yt = xt.to(dev), yt.to(dev)
        n = xt.shape[0]
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(n, device=dev)
            ex, ey = xt[perm], yt[perm]  # shuffled once per epoch, then contiguous slices (as gpunet does)
            total = 0.0 if dev is None else torch.zeros((), device=dev)
            for lo in range(0, n, batch_size):
                xb, yb = ex[lo:lo + batch_size], ey[lo:lo + batch_size]
                loss = lossf(net(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += (loss.item() if dev is None else loss.detach()) * xb.shape[0]
            float(total)

    def own_loop(self, model, x, y, epochs, batch_size):
        """PyTorch's idiomatic loop is a loop of your own: `fit`'s."""
        self.fit(model, x, y, epochs, batch_size)

    def predict(self, model, x, batch_size):
        torch = self.torch
        net, act = model["net"], model["last_act"]
        xt = torch.from_numpy(x)
        net.eval()
        outs = []
        with torch.inference_mode():
            for lo in range(0, xt.shape[0], batch_size):
                batch = xt[lo:lo + batch_size]
                out = net(batch if self.device is None else batch.to(self.device))
                if act == "softmax":
                    out = torch.softmax(out, dim=-1)
                elif act == "sigmoid":
                    out = torch.sigmoid(out)
                outs.append(out)
        return torch.cat(outs).cpu().numpy()

    def sync(self):
        """Nothing to wait for on the CPU."""

    def adam_step(self, shapes, grads):
        torch = self.torch
        params = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.copy())
        opt = torch.optim.Adam(params, lr=ADAM["learning_rate"], betas=(ADAM["beta_1"], ADAM["beta_2"]),
                               eps=ADAM["epsilon"])
        return opt.step


class TorchCudaPeer(TorchPeer):
    """PyTorch eager on a CUDA GPU, in its idiomatic loop (`TorchPeer.fit`): the data moved to the
    GPU with ``.to("cuda")`` inside ``fit``, shuffled there with ``randperm``, the loss kept on
    the device and read once per epoch. TF32 off, as gpunet's."""

    name = "torch cuda"

    def __init__(self):
        super().__init__()
        if not self.torch.cuda.is_available():
            raise Missing(f"PyTorch {self.torch.__version__} has no usable CUDA device")
        self.torch.backends.cuda.matmul.allow_tf32 = False
        self.device = "cuda"

    def mlp(self, spec, weights, compile=True, **adam_options):
        """As `TorchPeer.mlp`, on the GPU; ``capturable=True`` for a CUDA-graph step (`graph_step`)."""
        model = super().mlp(spec, weights, compile, **adam_options)
        model["net"].to(self.device)  # moves the parameters in place: the optimizer keeps them
        return model

    def graph_step(self, model, x, y):
        """PyTorch's best case for a tiny step: one training step on the batch ``x, y`` captured
        as a CUDA graph (capturable Adam), returned as its zero-argument replay."""
        torch = self.torch
        net, lossf, opt = model["net"], model["loss"], model["opt"]
        xb, yb = torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)

        def step():
            opt.zero_grad(set_to_none=False)
            lossf(net(xb), yb).backward()
            opt.step()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        return graph.replay

    def sync(self):
        self.torch.cuda.synchronize()


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

    def own_loop(self, model, x, y, epochs, batch_size):
        """Keras's guide "Writing a training loop from scratch" at its fastest: the step a ``tf.function`` (traced
        once per batch shape, before the timed rounds too), the loss read every step."""
        tf, opt = self.tf, model.optimizer
        loss_fn = _LOSSES[model.loss](self.keras.losses)
        step = getattr(model, "_bench_step", None)
        if step is None:
            @tf.function
            def step(xb, yb):
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb, training=True))
                grads = tape.gradient(loss, model.trainable_weights)
                opt.apply_gradients(zip(grads, model.trainable_weights))
                return loss
            model._bench_step = step
        n = x.shape[0]
        for _ in range(epochs):
            order = numpy.random.permutation(n)
            ex, ey = x[order], y[order]
            for lo in range(0, n, batch_size):
                float(step(ex[lo:lo + batch_size], ey[lo:lo + batch_size]))

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
