"""`EinsumDense`: a dense layer over any axes, its product written as an einsum equation (Keras 3's core
layer, tf.keras 2's ``keras.layers.EinsumDense``): ``EinsumDense("abc,cd->abd", output_shape=(None, 64),
bias_axes="d")`` is a Dense applied at each step of a sequence; ``"...b,bc->...c"`` at any number of them.
"""
import re

from .. import activations, initializers
from ..backend.einsum_ops import explicit_subscripts
from ..variance_scaling import VarianceScaling
from .base import Layer
from .weight_args import keep_weight_arguments, weight_arguments_config

_FORMS = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False),  # (Keras's three forms of equation)
          ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
          ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False))


def _parse(equation):
    """``(input_spec, weight_spec, output_spec, left_elided)`` of ``equation``."""
    if not isinstance(equation, str):
        raise TypeError(f"EinsumDense expects an einsum equation string, received {equation!r}")
    dotted = equation.replace("...", "0")
    for pattern, left in _FORMS:
        found = re.fullmatch(pattern, dotted)
        if found:
            specs = found.groups()
            if any(len(set(spec)) != len(spec) for spec in specs):
                raise ValueError(f"Invalid einsum equation '{equation}': an axis named twice within one operand "
                                 f"(a diagonal) is not supported by EinsumDense.")
            return specs + (left,)
    raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form "
                     f"[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")


def analyze(equation, bias_axes, input_shape, output_shape):
    """Keras's shape analysis: ``(kernel_shape, bias_shape, full_output_shape, input_axes, output_axes)`` for
    an input of ``input_shape`` (batch axis first); ``input_axes``/``output_axes`` are the kernel's axes that
    meet the input and those that make the output (its fans)."""
    input_spec, weight_spec, output_spec, left_elided = _parse(equation)
    input_shape = list(input_shape)
    elided = len(input_shape) - len(input_spec)
    if elided < 0 or (elided and "..." not in equation):
        raise ValueError(f"EinsumDense: equation '{equation}' expects inputs of rank {len(input_spec)}"
                         f"{' or more' if '...' in equation else ''}, received input shape {tuple(input_shape)}")
    full = [input_shape[0]] + list(output_shape)
    if elided > 0 and left_elided:
        full[1:1] = input_shape[1:elided]
    elif elided > 0:
        full += input_shape[len(input_shape) - elided:]
    offset = elided if left_elided else 0
    input_at = {dim: i + offset for i, dim in enumerate(input_spec)}
    output_at = {dim: i + offset for i, dim in enumerate(output_spec)}
    if len(full) != len(output_spec) + elided:
        raise ValueError(f"EinsumDense: output_shape {tuple(output_shape)} gives {len(full) - 1} non-batch axes; "
                         f"equation '{equation}' on an input of shape {tuple(input_shape)} makes "
                         f"{len(output_spec) + elided - 1}.")
    for dim in input_spec:
        if dim in output_at and full[output_at[dim]] is None:  # (Keras leaves these unknown; the input knows)
            full[output_at[dim]] = input_shape[input_at[dim]]
        elif dim in output_at and full[output_at[dim]] != input_shape[input_at[dim]]:
            raise ValueError(f"Input shape and output shape do not match at shared dimension '{dim}'. Input shape is "
                             f"{input_shape[input_at[dim]]}, and output shape is {full[output_at[dim]]}.")
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(f"Dimension '{dim}' was specified in the output '{output_spec}' but has no "
                             f"corresponding dim in the input spec '{input_spec}' or weight spec '{weight_spec}'")
    kernel_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_at:
            kernel_shape.append(full[output_at[dim]])
            output_axes.append(i)
        elif dim in input_at:
            kernel_shape.append(input_shape[input_at[dim]])
            input_axes.append(i)
        else:
            raise ValueError(f"Weight dimension '{dim}' did not have a match in either the input spec "
                             f"'{input_spec}' or the output spec '{output_spec}'. For this layer, the weight "
                             f"must be fully specified.")
    bias_shape = None
    if bias_axes is not None:
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(f"Bias dimension '{char}' was requested, but is not part of the output spec "
                                 f"'{output_spec}'")
        first = min(output_spec.find(char) for char in bias_axes)
        bias_shape = [full[output_at[c]] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias_shape += [1] * elided
    return kernel_shape, bias_shape, full, input_axes, output_axes


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``: Keras's arguments and weights (``kernel``,
    then ``bias`` over the output axes named in ``bias_axes``; none without them). ``output_shape`` leaves
    out the batch axis and any axes the ellipsis stands for; ``None`` where the input decides.

    A variance-scaling kernel initializer (the default glorot_uniform) takes its fans from the kernel's
    axes that meet the input and those that make the output, as Keras 3 does (tf.keras 2 treated the
    kernel as a convolution's, which mis-scales any kernel of three or more axes).
    """

    supports_masking = False

    def __init__(self, equation, output_shape, activation=None, bias_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        _parse(equation)
        self.equation = equation
        self.partial_output_shape = _partial_shape(output_shape)
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise TypeError(f"EinsumDense expects `bias_axes` as a string of output axes (or None), "
                            f"received {bias_axes!r}")
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        keep_weight_arguments(self, locals(), ("kernel", "bias"))
        self.kernel = self.bias = None

    def build(self, input_shape):
        kernel_shape, bias_shape, full, input_axes, output_axes = analyze(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        if any(size is None for size in kernel_shape + (bias_shape or [])):
            raise ValueError(f"EinsumDense '{self.name}': the kernel's shape {tuple(kernel_shape)} (or the bias's) "
                             f"needs known sizes; equation '{self.equation}', input shape {tuple(input_shape)}, "
                             f"output_shape {tuple(self.partial_output_shape)}")
        init = initializers.get(self.kernel_initializer)
        if isinstance(init, VarianceScaling) and (init.input_axes is None or init.output_axes is None):
            init = type(init).from_config({**init.get_config(), "input_axes": input_axes, "output_axes": output_axes})
        self.full_output_shape = tuple(full)
        self.kernel = self.add_weight(name="kernel", shape=tuple(kernel_shape), initializer=init,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if bias_shape is not None:
            self.bias = self.add_weight(name="bias", shape=tuple(bias_shape), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(analyze(self.equation, self.bias_axes, input_shape, self.partial_output_shape)[2])

    def forward(self, x, training=False):
        want = self.input_shape
        if x.ndim != len(want) or any(w is not None and w != h for w, h in zip(want[1:], x.shape[1:])):
            raise ValueError(f"EinsumDense layer '{self.name}' expects inputs of shape {(None,) + tuple(want[1:])}, "
                             f"received {tuple(x.shape)}.")
        w = self.kernel.value
        self._terms, self._output = explicit_subscripts(self.equation, [x.ndim, w.ndim])
        z = self.ops.einsum(f"{','.join(self._terms)}->{self._output}", x, w)
        if self.bias is not None:
            z = z + self.bias.value
        self._x = x
        act = self.activation
        if act.custom:  # the user's function runs on the tape
            y, self._act_backward = act.forward(self.ops, z)
        else:
            y = self.ops.activation_forward(act.name, z, act.params)
            self._z, self._y = z, y
        return y.astype(x.dtype, copy=False)

    def backward(self, dy, need_dx=True):
        act, ops = self.activation, self.ops
        if act.custom:
            dz = self._act_backward(dy)
        else:
            dz = ops.activation_backward(act.name, dy, self._z, self._y, act.params)
        operands = [self._x, self.kernel.value]
        if self.bias is not None and self.bias.grad is not None:
            self.bias.grad[...] = ops.sum_to_shape(dz, self.bias.shape)
        if self.kernel.grad is not None:
            self.kernel.grad[...] = ops.einsum_gradient(self._terms, self._output, 1, dz, operands)
        if not need_dx:
            return None
        return ops.einsum_gradient(self._terms, self._output, 0, dz, operands).astype(dy.dtype, copy=False)

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_shape": list(self.partial_output_shape),
            "equation": self.equation,
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
        })
        config.update(weight_arguments_config(self, ("kernel", "bias")))
        return config


def _partial_shape(output_shape):
    shape = [output_shape] if isinstance(output_shape, int) else output_shape
    if (not isinstance(shape, (list, tuple))
            or any(s is not None and (isinstance(s, bool) or not isinstance(s, int) or s <= 0) for s in shape)):
        raise ValueError(f"EinsumDense expects `output_shape` as a positive int or a list of positive ints or None, "
                         f"received {output_shape!r}")
    return list(shape)
