"""Optimizer updates over flat parameter buffers, as backend methods.

Each method updates ``p`` (and its slot buffers) in place for one step. They
work on the whole flat buffer at once, so a step costs a handful of vectorized
operations whatever the number of layers.
"""


class OptimizerOps:
    def sgd_update(self, p, g, velocity, lr, momentum, nesterov):
        """Keras SGD: ``v = m*v - lr*g``; ``p += v`` (or ``p += m*v - lr*g`` with Nesterov)."""
        if velocity is None:
            p -= lr * g
            return
        velocity *= momentum
        velocity -= lr * g
        if nesterov:
            p += momentum * velocity - lr * g
        else:
            p += velocity

    def adam_update(self, p, g, m, v, vhat, lr, beta_1, beta_2, epsilon, t):
        """Keras Adam at step ``t`` (1-based); ``vhat`` is None unless amsgrad."""
        xp = self.xp
        m *= beta_1
        m += (1 - beta_1) * g
        v *= beta_2
        v += (1 - beta_2) * (g * g)
        alpha = lr * (1 - beta_2**t) ** 0.5 / (1 - beta_1**t)
        if vhat is not None:
            xp.maximum(vhat, v, out=vhat)
            v = vhat
        p -= alpha * m / (xp.sqrt(v) + epsilon)
