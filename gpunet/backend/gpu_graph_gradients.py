"""`Gradients`: where each tensor's gradient lives while the GPU graph step's backward is laid out
(gpu_graph_step.py), and the entries that add, copy, scale and split them (the merges' backward)."""
from .gpu_elementwise import Elementwise, add_into, copy_into, multiply_into, negate_into


class Gradients:
    """Each tensor's gradient buffer while the step's backward is laid out (statically: the graph
    fixes which call hands a tensor its first gradient and which add to it). The first gradient is
    kept as handed where it is a whole buffer (an Add's inputs share their output's); a later one is
    added into a buffer of the tensor's own, so no buffer handed on is written again."""

    def __init__(self, xp, empty, entries, inputs):
        self.xp, self.empty, self.entries, self.inputs = xp, empty, entries, inputs
        self.of, self._own = {}, {}

    def own(self, t, shape):
        buf = self._own.get(id(t))
        if buf is None:
            buf = self._own[id(t)] = self.empty(shape)
        self.of[id(t)] = buf
        return buf

    def is_own(self, t, g):
        """Whether ``g`` is ``t``'s own buffer (no other tensor's gradient)."""
        return self._own.get(id(t)) is g

    def owned_copy(self, t, g):
        """``g`` copied into ``t``'s own buffer (for a backward that works on it in place)."""
        buf = self._own.get(id(t))
        if buf is None or buf is g:
            buf = self._own[id(t)] = self.empty(g.shape)
        self.entries.append(Elementwise(copy_into(self.xp, buf, g)))
        self.of[id(t)] = buf
        return buf

    def target(self, t, shape):
        """Where a Dense backward writes the gradient of its input ``t``: None for a model input (or what
        only inputs make, graph_flow.constant_tensors), the
        tensor's own buffer for its first gradient, else a scratch buffer `written` then adds."""
        if id(t) in self.inputs:
            return None
        if id(t) not in self.of:
            return self.own(t, shape)
        return self.empty(shape)

    def written(self, t, dx):
        """After a Dense backward wrote ``dx`` for ``t`` (see `target`)."""
        if dx is not None and dx is not self.of.get(id(t)):
            self.give(t, dx)

    def give(self, t, g):
        """Hand ``t`` the gradient ``g`` (a buffer, or a column view of one; dropped for a constant tensor)."""
        if id(t) in self.inputs:
            return
        have = self.of.get(id(t))
        contiguous = g.flags.c_contiguous
        if have is None and contiguous:
            self.of[id(t)] = g
            return
        mine = self._own.get(id(t))
        if have is None:
            self.entries.append(Elementwise(copy_into(self.xp, self.own(t, g.shape), g)))
            return
        dst = mine if mine is not None else self.own(t, g.shape)
        self.of[id(t)] = dst
        self.entries.append(Elementwise(add_into(self.xp, have, g, dst)))

    def merge_backward(self, kind, inputs, g):
        if kind == "Concatenate":
            lo = 0
            for t in inputs:
                width = t.shape[1]
                self.give(t, g[:, lo:lo + width])
                lo += width
            return
        if kind == "Average":
            scaled = self.empty(g.shape)
            self.entries.append(Elementwise(multiply_into(self.xp, g, 1.0 / len(inputs), scaled)))
            g = scaled
        self.give(inputs[0], g)
        if kind == "Subtract":
            negated = self.empty(g.shape)
            self.entries.append(Elementwise(negate_into(self.xp, g, negated)))
            self.give(inputs[1], negated)
            return
        for t in inputs[1:]:
            self.give(t, g)
