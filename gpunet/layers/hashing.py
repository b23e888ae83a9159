"""tf.keras 2's `Hashing`: strings or integers into ``num_bins`` bins by TensorFlow's hashes, bit for bit (FarmHash's
Fingerprint64; with a ``salt``, SipHash-2-4: backend/string_hash.py), then the categorical output modes."""
from ..backend import eager
from ..backend import string_hash as H
from . import categorical as cat
from .base import Layer


class Hashing(Layer):
    """Hashes each value to an index in ``[0, num_bins)``: FarmHash's Fingerprint64 of its text (an integer's
    decimal text) modulo ``num_bins``, or, with ``salt`` (an int, or two), the keyed SipHash-2-4 TensorFlow's
    ``to_hash_bucket_strong`` computes. With ``mask_value``, that value goes to 0 and the others to ``[1,
    num_bins)``. ``output_mode``: "int" (int64 indices), "one_hot", "multi_hot", "count".

    Called on data (strings, integers), it hashes on the host and returns a NumPy array, as `StringLookup` does;
    integers may also come through a model (as the whole numbers its float arrays carry, on its device). ``sparse=True`` is
    refused: gpunet has no sparse tensors. Needs pyfarmhash (``pip install 'gpunet[hashing]'``) for the unsalted
    hash."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        if num_bins is None or isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins <= 0:
            raise ValueError("The `num_bins` for `Hashing` cannot be `None` or non-positive values. Received: "
                             f"num_bins={num_bins}.")
        int_dtype = cat.split_dtype(kwargs)  # (a float dtype with output_mode "int": int64 out, as tf.keras)
        super().__init__(**kwargs)
        cat.validate_string_arg(output_mode, (cat.INT, cat.ONE_HOT, cat.MULTI_HOT, cat.COUNT), "Hashing",
                                "output_mode")
        if sparse and output_mode == cat.INT:
            raise ValueError('`sparse` may only be true if `output_mode` is `"one_hot"`, `"multi_hot"`, or '
                             f'`"count"`. Received: sparse={sparse} and output_mode={output_mode}')
        cat.refuse_sparse(sparse, "Hashing")
        if salt is not None and not (isinstance(salt, int) and not isinstance(salt, bool)) and not (
                isinstance(salt, (tuple, list)) and len(salt) == 2 and all(isinstance(s, int) for s in salt)):
            raise ValueError("The `salt` argument for `Hashing` can only be a tuple of size 2 integers, or a single "
                             f"integer. Received: salt={salt}.")
        self.num_bins, self.mask_value, self.output_mode, self.sparse = num_bins, mask_value, output_mode, False
        self.salt = None if salt is None else ([salt, salt] if isinstance(salt, int) else list(salt))
        self.strong_hash = salt is not None
        self.output_dtype = int_dtype or ("int64" if output_mode == cat.INT else self.dtype)

    def __call__(self, inputs, *args, **kwargs):
        """``layer(x)``: strings or integers (a list, an array, a tensor of them) hashed on the host, integers as
        they are (not through the layer's float dtype, which would round large ones); a symbolic tensor (a
        functional model's integer input) makes the layer part of the model."""
        from .symbolic import is_symbolic
        if is_symbolic(inputs):
            return super().__call__(inputs, *args, **kwargs)
        with cat.called_directly():
            return _on_host(self._encode(H.as_tokens(_host(inputs)), _host_ops()))

    def forward(self, x, training=False):
        self._x = x
        return self._encode(H.as_tokens(self.ops.to_host(x)), self.ops)

    def backward(self, dy, need_dx=True):
        return cat.no_input_gradient(self, self._x) if need_dx else None

    def _encode(self, tokens, ops):
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        indices = H.hash_bins(tokens, bins - 1 if masked else bins, self.salt)
        if masked:  # (the mask value to bin 0, the others one up, as tf.keras)
            mask = tokens == H.as_tokens([self.mask_value])[0]
            indices = (indices + 1) * ~mask
        return cat.encode(ops, ops.asarray(indices), self.output_mode, bins, cat.result_dtype(self))

    def compute_output_shape(self, input_shape):
        return cat.encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.output_dtype
        config.update({"num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                       "output_mode": self.output_mode, "sparse": self.sparse})
        return config


def _host_ops():
    from .. import backend as B
    return B.resolve("numpy")


def _on_host(array):
    """A direct call's result: computed on the host, a NumPy array with ``.numpy()`` (as StringLookup's)."""
    return eager.view(_host_ops().xp, array)


def _host(data):
    """``data`` as the host holds it: a tensor's or a device array's values, else itself (text, lists, arrays)."""
    if hasattr(data, "__cuda_array_interface__"):
        return cat.host_array(data)
    return data.numpy() if hasattr(data, "numpy") and not hasattr(data, "__array_interface__") else data


class HashedCrossing(Layer):
    """Crosses two or more features (strings or integers, each of shape ``()``, ``(batch,)`` or ``(batch, 1)``)
    into ``num_bins`` bins as tf.keras 2 does (``tf.sparse.cross_hashed``: each string's FarmHash fingerprint, each
    integer itself, folded together by TensorFlow's ``FingerprintCat64``). ``output_mode``: "int" or "one_hot".
    Called on a list or tuple of inputs: strings on the host, integers in a model too. Needs pyfarmhash."""

    _multi_input = True  # (a list of tensors in a functional model, as the merge layers)

    def __init__(self, num_bins, output_mode="int", sparse=False, **kwargs):
        int_dtype = cat.split_dtype(kwargs)
        super().__init__(**kwargs)
        cat.validate_string_arg(output_mode, (cat.INT, cat.ONE_HOT), "HashedCrossing", "output_mode")
        cat.refuse_sparse(sparse, "HashedCrossing")
        self.num_bins, self.output_mode, self.sparse = num_bins, output_mode, False
        self.output_dtype = int_dtype or ("int64" if output_mode == cat.INT else self.dtype)

    def __call__(self, inputs, *args, **kwargs):
        from .symbolic import is_symbolic
        _check_crossed(inputs)
        if any(is_symbolic(x) for x in inputs):
            return super().__call__(list(inputs), *args, **kwargs)
        with cat.called_directly():
            return _on_host(self._encode([_host(x) for x in inputs], _host_ops()))

    def forward(self, xs, training=False):
        self._xs = xs
        return self._encode([self.ops.to_host(x) for x in xs], self.ops)

    def backward(self, dy, need_dx=True):
        return [cat.no_input_gradient(self, x) for x in self._xs] if need_dx else None

    def _encode(self, columns, ops):
        shapes = {tuple(getattr(c, "shape", ())) or None for c in columns}
        shape = tuple(getattr(columns[0], "shape", ()))
        if len(shapes) > 1 or len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError("All `HashedCrossing` inputs should have shape `[]`, `[batch_size]` or `[batch_size, 1]`. "
                             f"Received: inputs of shapes {[tuple(getattr(c, 'shape', ())) for c in columns]}")
        bins = ops.asarray(H.cross_bins(columns, self.num_bins))
        return cat.encode(ops, bins, self.output_mode, self.num_bins, cat.result_dtype(self))

    def compute_output_shape(self, input_shape):
        _check_crossed(input_shape)
        return cat.encoded_shape(input_shape[0], self.output_mode, self.num_bins)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.output_dtype
        config.update({"num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": self.sparse})
        return config


def _check_crossed(inputs):
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"`HashedCrossing` should be called on a list or tuple of inputs. Received: inputs={inputs}")
    if len(inputs) < 2:
        raise ValueError(f"`HashedCrossing` should be called on at least two inputs. Received: inputs={inputs}")
