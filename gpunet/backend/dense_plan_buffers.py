"""What `DensePlan` (dense_plan.py) works on: each Dense layer's views into the flat parameter and
gradient buffers (`DenseLayerView`: the bias folded under the kernel), and every buffer a batch
size needs, made once (`BatchBuffers`)."""
import numpy


class DenseLayerView:
    """One Dense layer as the plan runs it."""

    def __init__(self, entry, params, grads, offset):
        """``entry``: a `layer_stack.Folded` (the Dense layer and the activation it applies)."""
        layer = entry.layer
        k, n = layer.kernel.shape
        self.w = params[offset:offset + (k + 1) * n].reshape(k + 1, n)  # [kernel; bias]
        self.kernel_t = self.w[:k].T  # for the input gradient, dz @ kernel.T
        self.g = grads[offset:offset + (k + 1) * n].reshape(k + 1, n)
        self.act, self.params = entry.activation.name, entry.activation.params
        self.relu = self.act == "relu" and not self.params  # in place; others through the backend's ops
        self.units = n
        self.source = entry.source


class BatchBuffers:
    """Everything one batch size needs, allocated once, laid out as the step walks it:
    ``forward`` per hidden layer ``(i, layer, z, out, a)``: pre-activation ``z``, the next
    layer's input ``a`` (ones in its last column) and ``out``, the rest of ``a``, where the
    activation goes; ``backward`` per layer from the last to the second ``(layer, a, da, i)``:
    its input, and the gradient buffer of the layer below (``i``)."""

    def __init__(self, plan, size):
        dtype, layers = plan.dtype, plan.layers
        self.z = [numpy.empty((size, layer.units), dtype) for layer in layers]
        self.dz = [numpy.empty((size, layer.units), dtype) for layer in layers]
        self.mask = [numpy.empty((size, layer.units), bool) for layer in layers]
        self.y = [None] * len(layers)  # outputs of activations run by the backend's ops
        inputs = [None] + [numpy.ones((size, layer.units + 1), dtype) for layer in layers[:-1]]
        self.forward = [(i, layer, self.z[i], inputs[i + 1][:, :-1], inputs[i + 1])
                        for i, layer in enumerate(layers[:-1])]
        self.backward = [(layers[i], inputs[i], self.dz[i - 1], i - 1) for i in range(len(layers) - 1, 0, -1)]
        self.clipped = numpy.empty((size, layers[-1].units), bool)
        # the batch after the input's dropout (the column of ones copied along with it)
        self.xin = numpy.empty((size, layers[0].w.shape[0]), dtype) if plan.input_drops else None
        self.scale = numpy.empty((), dtype)  # the fused gradient's 1 / n, before sample weights
        if plan.fused:
            self.scale[()] = plan.loss._scale(size, None, None) / layers[-1].units
