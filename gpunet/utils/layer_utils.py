"""``keras.utils.layer_utils`` (Keras 2): `count_params` and `print_summary`."""


def count_params(weights):
    """The number of values in ``weights`` (gpunet `Weight`s or arrays), each counted once."""
    seen, total = set(), 0
    for w in weights:
        if id(w) in seen:
            continue
        seen.add(id(w))
        n = 1
        for d in tuple(w.shape):
            n *= int(d)
        total += n
    return total


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                  layer_range=None):
    """``model.summary(...)``, as Keras 2's ``print_summary(model)``."""
    model.summary(line_length=line_length, positions=positions, print_fn=print_fn, expand_nested=expand_nested,
                  show_trainable=show_trainable, layer_range=layer_range)
