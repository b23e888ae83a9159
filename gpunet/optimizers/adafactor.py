"""Adafactor (tf.keras 2.11+ / Keras 3's ``keras.optimizers.Adafactor``)."""
from .base import Optimizer, _size
from .hyperparameter import check_number
from .precision import rounder


class Adafactor(Optimizer):
    """Adafactor (Shazeer and Stern, 2018), Keras's update rule. At step ``t`` (1 first)::

        lr_t = min(learning_rate, 1 / sqrt(t))          (relative_step and a constant rate; else learning_rate)
        rho_t = min(lr_t, 1 / sqrt(t));  beta_t = 1 - t^beta_2_decay
        alpha = max(epsilon_2, rms(w)) * rho_t;  G = g^2 + epsilon_1
        weights of 2+ dimensions (factored over the last two):
            r = beta_t * r + (1 - beta_t) * mean(G, axis=-1)
            c = beta_t * c + (1 - beta_t) * mean(G, axis=-2)
            v = (r / mean(r, axis=-1))[..., None] * c[..., None, :]
        other weights: v = beta_t * v + (1 - beta_t) * G
        u = g / sqrt(v);  w -= alpha * u / max(1, rms(u) / clip_threshold)

    ``rms`` is over each weight tensor (``sqrt(mean(x^2))``), so the step goes weight by weight.

    Args:
        learning_rate: a number or a `LearningRateSchedule`, default 0.001.
        beta_2_decay: <= 0, default -0.8: the second-moment decay's exponent.
        epsilon_1: >= 0, default 1e-30: added to the squared gradient.
        epsilon_2: >= 0, default 1e-3: the least weight scale the step is relative to.
        clip_threshold: > 0, default 1.0: the RMS the update is clipped to (Adafactor's own
            clipping, besides clipnorm, clipvalue and global_clipnorm).
        relative_step: default True: with a constant rate, cap it by ``1 / sqrt(t)``.
        **kwargs: `Optimizer`'s common arguments (name, clipnorm, clipvalue, global_clipnorm,
            weight_decay, lr, decay).

    Slots (Keras's names): "r" (shape ``w.shape[:-1]``) and "c" (``w.shape[:-2] + w.shape[-1:]``)
    for weights of 2+ dimensions only, and "v" (``w.shape``) for every weight.

    Example::

        model.compile(optimizer=Adafactor(learning_rate=0.01, relative_step=False), loss="mse")
    """

    _hyper_names = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, name=None, **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        decay = check_number(beta_2_decay, "beta_2_decay", "Adafactor")
        if decay > 0.0:  # 1 - t^decay would go negative, and v with it
            raise ValueError(f"Adafactor expects beta_2_decay <= 0 (the paper's -0.8), received "
                             f"beta_2_decay={decay!r}.")
        self.beta_2_decay = decay
        self.epsilon_1 = check_number(epsilon_1, "epsilon_1", "Adafactor", low=0.0)
        self.epsilon_2 = check_number(epsilon_2, "epsilon_2", "Adafactor", low=0.0)
        clip = check_number(clip_threshold, "clip_threshold", "Adafactor")
        if not clip > 0.0:  # the update's RMS is divided by it
            raise ValueError(f"Adafactor expects clip_threshold > 0, received clip_threshold={clip!r}.")
        self.clip_threshold = clip
        self.relative_step = bool(relative_step)

    @property
    def _slot_kinds(self):
        return ("r", "c", "v")

    def slot_shape(self, name, shape):
        shape = tuple(shape)
        if name not in ("r", "c"):  # ("v", and "average" with use_ema)
            return shape
        if len(shape) < 2:  # Keras factors only weights of 2+ dimensions (Keras 3 keeps a scalar placeholder)
            return None
        return shape[:-1] if name == "r" else shape[:-2] + shape[-1:]

    def _update(self, params, grads, lr, t):
        f = rounder(params.dtype)
        step = f(t ** -0.5)  # Keras: rsqrt(iterations + 1), in the variable's dtype
        lr = f(lr)
        if self._lr_schedule is None and self.relative_step:
            lr = min(lr, step)
        rho = min(lr, step)
        beta = f(1.0 - f(f(float(t)) ** f(self.beta_2_decay)))
        scalars = (beta, f(1.0 - beta), f(self.epsilon_1), f(self.epsilon_2), rho, f(self.clip_threshold))
        r_at, c_at = self.slot_segments("r"), self.slot_segments("c")
        for (a, b), shape, r_seg, c_seg in zip(self._bounds, self._shapes, r_at, c_at):
            r, c = (None, None) if r_seg is None else (self._slot_view("r", r_seg), self._slot_view("c", c_seg))
            self._step_one(params, grads, a, b, shape, r, c, scalars)

    def _slot_view(self, name, segment):
        offset, shape = segment
        return self._slots[name][offset:offset + _size(shape)].reshape(shape)

    def _step_one(self, params, grads, a, b, shape, r, c, scalars):
        """One weight's step (``params[a:b]``, of ``shape``), in Keras's operations and order."""
        beta, keep, eps_1, eps_2, rho, clip = scalars
        xp = self.ops.xp
        p, g = params[a:b].reshape(shape), grads[a:b].reshape(shape)
        v = self._slots["v"][a:b].reshape(shape)
        s = self.ops._scratch(params)[a:b].reshape(shape)  # (the backend's reused buffers)
        u = self.ops._scratch(params, 1)[a:b].reshape(shape)
        alpha = xp.maximum(_rms(xp, p, u), eps_2) * rho  # (a device scalar: no read back to the host)
        xp.multiply(g, g, out=s)
        s += eps_1
        if r is None:
            v *= beta
            v += xp.multiply(s, keep, out=s)
        else:
            r *= beta
            r += xp.mean(s, axis=-1) * keep
            c *= beta
            c += xp.mean(s, axis=-2) * keep
            xp.multiply(xp.expand_dims(r / xp.mean(r, axis=-1, keepdims=True), -1), xp.expand_dims(c, -2), out=v)
        xp.sqrt(v, out=s)
        xp.divide(g, s, out=u)
        u /= xp.maximum(_rms(xp, u, s) / clip, 1.0)
        u *= alpha
        p -= u


def _rms(xp, x, scratch):
    """``sqrt(mean(x^2))`` over the whole tensor, a 0-d array; ``scratch``: x's shape, overwritten."""
    xp.multiply(x, x, out=scratch)
    return xp.sqrt(xp.mean(scratch))
