"""Optimizer updates over flat parameter buffers, as backend methods.

Each ``*_update`` method performs one step in place on ``p`` and its slot
buffers (all flat arrays of one size and dtype), following the update rules of
tf.keras 2.11+ / Keras 3 (``keras/optimizers/<name>.py``). Scalars arrive as
Python floats already folded by the optimizer (learning rate after decay, step
``t`` 1-based), so a step is a handful of vectorized operations over the whole
buffer whatever the number of layers. `CupyBackend` may override any of them
with a fused kernel; these are the reference behaviour.

Intermediate results go to scratch buffers reused across steps (at most two,
each the size of the last flat buffer seen) instead of fresh temporaries, and on
NumPy scalar operands go in as 0-d arrays of the buffer's dtype (`_scalars`).
"""
import numpy as _numpy


class OptimizerOps:
    def _scratch(self, like, k=0):
        """Scratch buffer ``k`` shaped like ``like``; contents are garbage."""
        cache = self.__dict__.setdefault("_opt_scratch", {})
        buf = cache.get(k)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = cache[k] = self.xp.empty(like.shape, dtype=like.dtype)
        return buf

    def _scalars(self, like, *values):
        """``values`` as 0-d arrays of ``like``'s dtype, on NumPy; as they are elsewhere.

        NumPy converts a Python float operand to the array's dtype on every call, which
        costs as much as the operation itself on a small model's buffer (0.25 us); a 0-d
        array of that dtype holding the same rounded value gives the same results. The
        arrays are reused: valid until the next call.
        """
        if self.xp is not _numpy:
            return values
        cache = self.__dict__.setdefault("_opt_scalars", {})
        key = (like.dtype, len(values))
        slots = cache.get(key)
        if slots is None:
            slots = cache[key] = [_numpy.empty((), like.dtype) for _ in values]
        for a, v in zip(slots, values):
            a[()] = v
        return slots

    # ---- gradient transforms (Keras's clipvalue / clipnorm / global_clipnorm, weight_decay) ----
    def clip_by_value(self, g, clipvalue, out):
        """``out = clip(g, -clipvalue, clipvalue)``."""
        return self.xp.clip(g, -clipvalue, clipvalue, out=out)

    def clip_by_norm(self, g, clipnorm, bounds, out):
        """Each segment ``out[a:b]`` of ``g`` (one weight tensor each, ``bounds``
        a list of ``(a, b)``) scaled by ``clipnorm / max(norm, clipnorm)``."""
        xp = self.xp
        if out is not g:
            out[...] = g
        for a, b in bounds:
            seg = out[a:b]
            seg *= clipnorm / xp.maximum(xp.sqrt(xp.dot(seg, seg)), clipnorm)
        return out

    def clip_by_global_norm(self, g, clipnorm, out):
        """``out = g * clipnorm / max(||g||, clipnorm)`` over the whole buffer."""
        xp = self.xp
        norm = xp.sqrt(xp.dot(g, g))
        return xp.multiply(g, clipnorm / xp.maximum(norm, clipnorm), out=out)

    def apply_weight_decay(self, p, rate, mask=None):
        """Keras 3's decoupled decay ``p -= p * rate`` (``rate = lr * weight_decay``);
        ``mask`` (1 where decayed, 0 where excluded) or None for every parameter."""
        if mask is None:
            p *= 1.0 - rate
            return
        t = self._scratch(p)
        self.xp.multiply(mask, rate, out=t)
        t *= p
        p -= t

    # ---- updates ----------------------------------------------------------------------------
    def lamb_update(self, p, g, m, v, bounds, lr, beta_1, beta_2, epsilon, t):
        """Keras 3 Lamb at step ``t``: Adam's moments, then each weight's (``bounds``: its ``(start, stop)``
        in the flat buffer) bias-corrected step scaled by ``||w|| / ||step||`` (1 where a norm is 0)."""
        xp = self.xp
        s, step = self._scratch(p), self._scratch(p, 1)
        self._moments(g, m, v, 1.0 - beta_1, 1.0 - beta_2, s)
        xp.divide(v, 1.0 - beta_2 ** t, out=s)
        xp.sqrt(s, out=s)
        s += epsilon
        xp.divide(m, 1.0 - beta_1 ** t, out=step)
        step /= s
        for a, b in bounds:  # (the ratios stay on the device: no host read per weight)
            w_norm, s_norm = xp.sqrt(xp.sum(p[a:b] * p[a:b])), xp.sqrt(xp.sum(step[a:b] * step[a:b]))
            ratio = xp.where((w_norm > 0) & (s_norm > 0), w_norm / xp.where(s_norm > 0, s_norm, 1), 1)
            step[a:b] *= (ratio * lr).astype(p.dtype)
        p -= step

    def moving_average_update(self, average, p, momentum):
        """``average = momentum * average + (1 - momentum) * p`` in place (Keras 3's weight EMA)."""
        average *= momentum
        s = self._scratch(p)
        self.xp.multiply(p, 1.0 - momentum, out=s)
        average += s

    def sgd_update(self, p, g, velocity, lr, momentum, nesterov):
        """Keras SGD: ``v = momentum*v - lr*g``; ``p += v``, or with Nesterov
        ``p += momentum*v - lr*g``. ``velocity`` is None without momentum."""
        xp = self.xp
        t = xp.multiply(g, lr, out=self._scratch(p))
        if velocity is None:
            p -= t
            return
        velocity *= momentum
        velocity -= t
        if nesterov:
            p -= t
            xp.multiply(velocity, momentum, out=t)
        else:
            t = velocity
        p += t

    def adam_update(self, p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t):
        """Keras Adam at step ``t`` (1-based); ``vhat`` is None unless amsgrad::

            m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
            vhat = max(vhat, v)                                  (amsgrad)
            p -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
        """
        xp = self.xp
        s = self._scratch(p)
        alpha = lr * (1.0 - beta_2**t) ** 0.5 / (1.0 - beta_1**t)
        c1, c2, eps, alpha = self._scalars(p, 1.0 - beta_1, 1.0 - beta_2, epsilon, alpha)
        self._moments(g, m, v, c1, c2, s)
        if vhat is not None:
            xp.maximum(vhat, v, out=vhat)
            v = vhat
        xp.sqrt(v, out=s)
        s += eps
        xp.divide(m, s, out=s)
        s *= alpha
        p -= s

    def adamw_update(self, p, g, m, v, vhat, lr, weight_decay, beta_1, beta_2, epsilon, t):
        """Keras 3 AdamW: decoupled decay ``p -= p * lr * weight_decay``, then `adam_update`."""
        p *= 1.0 - lr * weight_decay
        self.adam_update(p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t)

    def adamax_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, t):
        """Keras Adamax (``v`` is the infinity norm Keras 3 calls ``u``)::

            m += (g - m) * (1 - beta_1);  v = max(beta_2 * v, |g|)
            p -= lr * m / ((1 - beta_1^t) * (v + epsilon))
        """
        xp = self.xp
        s = self._scratch(p)
        xp.subtract(g, m, out=s)
        s *= 1.0 - beta_1
        m += s
        v *= beta_2
        xp.maximum(v, xp.abs(g, out=s), out=v)
        xp.add(v, epsilon, out=s)
        xp.divide(m, s, out=s)
        s *= lr / (1.0 - beta_1**t)
        p -= s

    def nadam_update(self, p, g, m, v, lr, beta_1, beta_2, epsilon, t, u_t, u_next, u_product):
        """Keras Nadam at step ``t``: ``u_t``, ``u_next`` are the momentum schedule
        ``beta_1 * (1 - 0.5 * 0.96^t)`` at ``t`` and ``t + 1``; ``u_product`` is
        the product of the schedule up to and including ``u_t``::

            m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
            p -= lr * m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)
        """
        xp = self.xp
        s, s2 = self._scratch(p), self._scratch(p, 1)
        self._moments(g, m, v, *self._scalars(p, 1.0 - beta_1, 1.0 - beta_2), s)
        xp.multiply(m, u_next / (1.0 - u_product * u_next), out=s)
        xp.multiply(g, (1.0 - u_t) / (1.0 - u_product), out=s2)
        s += s2
        xp.multiply(v, 1.0 / (1.0 - beta_2**t), out=s2)
        xp.sqrt(s2, out=s2)
        s2 += epsilon
        s /= s2
        s *= lr
        p -= s

    def rmsprop_update(self, p, g, rms, mom, mg, lr, rho, momentum, epsilon, centered):
        """Keras RMSprop; ``mom`` is None without momentum, ``mg`` None unless centered::

            rms = rho * rms + (1 - rho) * g^2;  mg = rho * mg + (1 - rho) * g
            step = lr * g / sqrt(rms - mg^2 + epsilon)          (no mg^2 unless centered)
            mom = momentum * mom + step; p -= mom                (p -= step without momentum)
        """
        xp = self.xp
        s = self._scratch(p)
        xp.multiply(g, g, out=s)
        s *= 1.0 - rho
        rms *= rho
        rms += s
        if centered:
            xp.multiply(g, 1.0 - rho, out=s)
            mg *= rho
            mg += s
            xp.multiply(mg, mg, out=s)
            xp.subtract(rms, s, out=s)
            s += epsilon
        else:
            xp.add(rms, epsilon, out=s)
        xp.sqrt(s, out=s)
        xp.divide(g, s, out=s)
        s *= lr
        if mom is not None:
            mom *= momentum
            mom += s
            s = mom
        p -= s

    def adagrad_update(self, p, g, accumulator, lr, epsilon):
        """Keras Adagrad: ``acc += g^2``; ``p -= lr * g / sqrt(acc + epsilon)``."""
        xp = self.xp
        s = xp.multiply(g, g, out=self._scratch(p))
        accumulator += s
        xp.add(accumulator, epsilon, out=s)
        xp.sqrt(s, out=s)
        xp.divide(g, s, out=s)
        s *= lr
        p -= s

    def adadelta_update(self, p, g, accum_grad, accum_var, lr, rho, epsilon):
        """Keras Adadelta::

            accum_grad = rho * accum_grad + (1 - rho) * g^2
            delta = sqrt(accum_var + epsilon) * g / sqrt(accum_grad + epsilon)
            accum_var = rho * accum_var + (1 - rho) * delta^2;  p -= lr * delta
        """
        xp = self.xp
        s, s2 = self._scratch(p), self._scratch(p, 1)
        xp.multiply(g, g, out=s)
        s *= 1.0 - rho
        accum_grad *= rho
        accum_grad += s
        xp.add(accum_var, epsilon, out=s)
        xp.sqrt(s, out=s)
        s *= g
        xp.add(accum_grad, epsilon, out=s2)
        xp.sqrt(s2, out=s2)
        s /= s2
        xp.multiply(s, s, out=s2)
        s2 *= 1.0 - rho
        accum_var *= rho
        accum_var += s2
        s *= lr
        p -= s

    def _moments(self, g, m, v, c1, c2, s):
        """Adam's moment updates ``m += (g - m) * c1``, ``v += (g^2 - v) * c2`` where
        ``c1 = 1 - beta_1`` and ``c2 = 1 - beta_2``."""
        xp = self.xp
        xp.subtract(g, m, out=s)
        s *= c1
        m += s
        xp.multiply(g, g, out=s)
        s -= v
        s *= c2
        v += s
