"""Whole recurrent sequences as one step of the tape: Keras's default LSTM (tanh, sigmoid), GRU (tanh,
sigmoid, ``reset_after=True``) and SimpleRNN (tanh or relu), the recurrent layers' path for those cells
(layers/recurrent.py). The forward
loop keeps each step's gates; the backward loop is backpropagation through time written out. The inputs' product
with the kernel is one matrix product for all steps, as Keras's ``implementation=2``; per step there is one
product with the recurrent kernel forward and two backward. The values are the per-step cells'
(layers/recurrent_cells.py), in the same order of operations, so the two paths agree to rounding; on 2 CPU cores
an IMDB-sized LSTM trains three times faster than on the per-step tape, whose bookkeeping dominates there.

Masks as tf.keras 2 applies them: a masked step keeps the states and outputs the last output (or zeros with
``zero_output_for_mask``). Dropout masks (already scaled) multiply the inputs and the previous state's product.
"""
from .. import backend as B
from .tensor import lift, result


class _Steps:
    """The loop both cells share: directions, the sequence mask, the outputs, and their gradients."""

    def __init__(self, xp, keep, steps, go_backwards, zero_output, return_sequences, batch, units, dtype):
        self.xp, self.zero_output, self.return_sequences = xp, zero_output, return_sequences
        self.order = list(range(steps - 1, -1, -1)) if go_backwards else list(range(steps))
        self.keeps = None if keep is None else xp.asarray(keep, bool)
        self.last = xp.zeros((batch, units), dtype)
        self.outs = []

    def forward(self, t, states, new_states):
        """The states after step ``t`` and its output, masked as Keras masks them."""
        xp = self.xp
        if self.keeps is None:
            out, kept = new_states[0], new_states
        else:
            k = self.keeps[:, t:t + 1]
            out = xp.where(k, new_states[0], 0.0 if self.zero_output else self.last)
            kept = [xp.where(k, n, s) for n, s in zip(new_states, states)]
        self.last = out
        self.outs.append(out)
        return kept

    def outputs(self):
        return self.xp.stack(self.outs, axis=1) if self.return_sequences else self.last

    def backward(self, d_seq, d_states, step_backward):
        """Run ``step_backward(n, t, d_new_states)`` from the last step to the first (it returns the gradients
        of the states the step started from); returns the first states' gradients."""
        xp = self.xp
        carry = xp.zeros_like(d_states[0]) if self.return_sequences else d_seq
        for n in range(len(self.order) - 1, -1, -1):
            t = self.order[n]
            d_out = d_seq[:, n] + carry if self.return_sequences else carry
            if self.keeps is None:
                carry = xp.zeros_like(d_out)
                d_new = [d_out + d_states[0]] + list(d_states[1:])
                passed = [0.0] * len(d_states)
            else:
                k = self.keeps[:, t:t + 1].astype(d_out.dtype)
                carry = xp.zeros_like(d_out) if self.zero_output else d_out * (1 - k)
                d_new = [(d_out + d_states[0]) * k] + [d * k for d in d_states[1:]]
                passed = [d * (1 - k) for d in d_states]
            d_states = [d + p for d, p in zip(step_backward(n, t, d_new), passed)]
        return d_states


def _begin(x, states, kernel, recurrent_kernel, bias, input_mask, steps_args, input_bias=lambda b: b):
    """What every sequence starts from: the tape operands, the backend, the arrays (the inputs with their dropout,
    their product with the kernel for all steps plus ``input_bias(bias)``) and the loop over the steps
    (``steps_args``: keep, go_backwards, zero_output_for_mask, return_sequences)."""
    ts = [lift(t) for t in (x, *states, kernel, recurrent_kernel)] + ([lift(bias)] if bias is not None else [])
    ops = B.get_backend()
    n = len(states)
    data, w, rk = ts[0].data, ts[1 + n].data, ts[2 + n].data
    dropped = data * input_mask[:, None, :] if input_mask is not None else data
    xw = ops.xp.matmul(dropped, w)
    bias_data = ts[3 + n].data if bias is not None else None
    if bias_data is not None:
        xw += input_bias(bias_data)
    arrays = {"data": data, "states": [t.data for t in ts[1:1 + n]], "w": w, "rk": rk, "dropped": dropped, "xw": xw,
              "bias": bias_data}
    keep, go_backwards, zero_output, return_sequences = steps_args
    loop = _Steps(ops.xp, keep, data.shape[1], go_backwards, zero_output, return_sequences, data.shape[0],
                  rk.shape[0], data.dtype)
    return ts, ops, arrays, loop


def _packed(ops, tensors, seq, states, backward):
    """One tape tensor holding the outputs and the final states; ``backward(upstream)`` gives every operand's
    gradient, computed once for the one upstream the tape hands them all."""
    xp = ops.xp
    batch = seq.shape[0]
    packed = xp.concatenate([seq.reshape(batch, -1)] + list(states), axis=1)
    cache = {}

    def part(k):
        def vjp(g):
            if cache.get("upstream") is not g:
                cache["upstream"], cache["grads"] = g, backward(g)
            return cache["grads"][k]
        return vjp
    out = result(packed, *[(t, part(k)) for k, t in enumerate(tensors)])
    from . import shape_ops as S
    cut = seq.size // batch
    parts, at = [S.reshape(out[:, :cut], tuple(seq.shape))], cut
    for s in states:
        parts.append(out[:, at:at + s.shape[1]])
        at += s.shape[1]
    return parts


def _split_upstream(g, seq_shape, widths):
    cut = 1
    for d in seq_shape[1:]:
        cut *= d
    parts, at = [g[:, :cut].reshape(seq_shape)], cut
    for w in widths:
        parts.append(g[:, at:at + w])
        at += w
    return parts


def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, keep=None, input_mask=None, recurrent_mask=None,
                  go_backwards=False, zero_output_for_mask=False, return_sequences=False):
    """``(outputs, h, c)`` of Keras's LSTM over ``x`` ``(batch, steps, features)`` from ``h0``, ``c0``: outputs
    ``(batch, steps, units)`` in the order the steps ran (``return_sequences``), else the last output.
    ``keep``: the sequence mask ``(batch, steps)``."""
    ts, ops, a, loop = _begin(x, (h0, c0), kernel, recurrent_kernel, bias, input_mask,
                              (keep, go_backwards, zero_output_for_mask, return_sequences))
    xp, (h, c), w, rk, dropped, xw = ops.xp, a["states"], a["w"], a["rk"], a["dropped"], a["xw"]
    u = rk.shape[0]
    saved = []
    for t in loop.order:
        h_used = h * recurrent_mask if recurrent_mask is not None else h
        z = xw[:, t] + h_used @ rk
        i, f, o = (ops.sigmoid(z[:, k * u:(k + 1) * u]) for k in (0, 1, 3))
        g = xp.tanh(z[:, 2 * u:3 * u])
        c_new = f * c + i * g
        tanh_c = xp.tanh(c_new)
        saved.append((i, f, g, o, c, tanh_c, h_used))
        h, c = loop.forward(t, [h, c], [o * tanh_c, c_new])
    seq = loop.outputs()

    def backward(upstream):
        d_seq, dh, dc = _split_upstream(upstream, seq.shape, (u, u))
        dxw, drk = xp.zeros_like(xw), xp.zeros_like(rk)

        def step(n, t, d_new):
            nonlocal drk
            i, f, g, o, c_prev, tanh_c, h_used = saved[n]
            d_h, d_c = d_new
            d_c = d_c + d_h * o * (1 - tanh_c * tanh_c)
            dz = xp.concatenate([d_c * g * i * (1 - i), d_c * c_prev * f * (1 - f), d_c * i * (1 - g * g),
                                 d_h * tanh_c * o * (1 - o)], axis=1)
            dxw[:, t] = dz
            drk += h_used.T @ dz
            d_h_used = dz @ rk.T
            return [d_h_used * recurrent_mask if recurrent_mask is not None else d_h_used, d_c * f]
        dh, dc = loop.backward(d_seq, [dh, dc], step)
        return _input_grads(xp, dxw, w, dropped, input_mask, [dh, dc, None, drk], bias is not None)
    return _packed(ops, ts, seq, [h, c], backward)


def gru_sequence(x, h0, kernel, recurrent_kernel, bias, keep=None, input_mask=None, recurrent_mask=None,
                 go_backwards=False, zero_output_for_mask=False, return_sequences=False):
    """``(outputs, h)`` of Keras's GRU (``reset_after=True``: ``bias`` ``(2, 3 * units)``, input then recurrent)
    over ``x`` from ``h0``; as `lstm_sequence`."""
    ts, ops, a, loop = _begin(x, (h0,), kernel, recurrent_kernel, bias, input_mask,
                              (keep, go_backwards, zero_output_for_mask, return_sequences), lambda b: b[0])
    xp, data, (h,), w, rk, dropped, xw = ops.xp, a["data"], a["states"], a["w"], a["rk"], a["dropped"], a["xw"]
    u = rk.shape[0]
    b_rec = None if bias is None else a["bias"][1]
    saved = []
    for t in loop.order:
        h_used = h * recurrent_mask if recurrent_mask is not None else h
        rec = h_used @ rk
        if b_rec is not None:
            rec += b_rec
        xz = xw[:, t]
        z = ops.sigmoid(xz[:, :u] + rec[:, :u])
        r = ops.sigmoid(xz[:, u:2 * u] + rec[:, u:2 * u])
        hh = xp.tanh(xz[:, 2 * u:] + r * rec[:, 2 * u:])
        saved.append((z, r, hh, rec[:, 2 * u:], h, h_used))
        h, = loop.forward(t, [h], [z * h + (1 - z) * hh])
    seq = loop.outputs()

    def backward(upstream):
        d_seq, dh = _split_upstream(upstream, seq.shape, (u,))
        dxw, drk = xp.zeros_like(xw), xp.zeros_like(rk)
        d_rec_bias = xp.zeros((3 * u,), data.dtype)

        def step(n, t, d_new):
            nonlocal drk, d_rec_bias
            z, r, hh, rec_h, h_prev, h_used = saved[n]
            d_h = d_new[0]
            d_hh = d_h * (1 - z) * (1 - hh * hh)
            d_r = d_hh * rec_h * r * (1 - r)
            d_z = d_h * (h_prev - hh) * z * (1 - z)
            dxw[:, t] = xp.concatenate([d_z, d_r, d_hh], axis=1)
            d_rec = xp.concatenate([d_z, d_r, d_hh * r], axis=1)
            drk += h_used.T @ d_rec
            d_rec_bias += d_rec.sum(axis=0)
            d_h_used = d_rec @ rk.T
            return [d_h * z + (d_h_used * recurrent_mask if recurrent_mask is not None else d_h_used)]
        dh, = loop.backward(d_seq, [dh], step)
        grads = _input_grads(xp, dxw, w, dropped, input_mask, [dh, None, drk], bias is not None)
        if bias is not None:
            grads[-1] = xp.stack([grads[-1], d_rec_bias])
        return grads
    return _packed(ops, ts, seq, [h], backward)


def simple_sequence(x, h0, kernel, recurrent_kernel, bias, activation="tanh", keep=None, input_mask=None,
                    recurrent_mask=None, go_backwards=False, zero_output_for_mask=False, return_sequences=False):
    """``(outputs, h)`` of Keras's SimpleRNN (``activation`` "tanh" or "relu") over ``x`` from ``h0``; as
    `lstm_sequence`."""
    ts, ops, a, loop = _begin(x, (h0,), kernel, recurrent_kernel, bias, input_mask,
                              (keep, go_backwards, zero_output_for_mask, return_sequences))
    xp, (h,), w, rk, dropped, xw = ops.xp, a["states"], a["w"], a["rk"], a["dropped"], a["xw"]
    u = rk.shape[0]
    saved = []
    for t in loop.order:
        h_used = h * recurrent_mask if recurrent_mask is not None else h
        pre = xw[:, t] + h_used @ rk
        h_new = xp.tanh(pre) if activation == "tanh" else xp.maximum(pre, 0)
        saved.append((h_new, h_used))
        h, = loop.forward(t, [h], [h_new])
    seq = loop.outputs()

    def backward(upstream):
        d_seq, dh = _split_upstream(upstream, seq.shape, (u,))
        dxw, drk = xp.zeros_like(xw), xp.zeros_like(rk)

        def step(n, t, d_new):
            nonlocal drk
            h_new, h_used = saved[n]
            da = d_new[0] * (1 - h_new * h_new) if activation == "tanh" else d_new[0] * (h_new > 0)
            dxw[:, t] = da
            drk += h_used.T @ da
            d_h_used = da @ rk.T
            return [d_h_used * recurrent_mask if recurrent_mask is not None else d_h_used]
        dh, = loop.backward(d_seq, [dh], step)
        return _input_grads(xp, dxw, w, dropped, input_mask, [dh, None, drk], bias is not None)
    return _packed(ops, ts, seq, [h], backward)


def _input_grads(xp, dxw, w, dropped, input_mask, middle, with_bias):
    """``[dx, *middle, (dbias)]`` with the kernel's gradient where ``middle`` holds None."""
    flat = dxw.reshape(-1, dxw.shape[-1])
    dx = dxw @ w.T
    dw = dropped.reshape(-1, dropped.shape[-1]).T @ flat
    grads = [dx * input_mask[:, None, :] if input_mask is not None else dx] + [dw if m is None else m for m in middle]
    return grads + ([flat.sum(axis=0)] if with_bias else [])
