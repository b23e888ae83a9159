"""Launch plans of kernels/optimizers.cu's fused updates (one launch per step over the flat parameter
buffer), run by `CupyBackend` on the layer path and by the GPU step plans (gpu_optimizer.py), whose
per-step scalars come from a device table (``table``, ``index``). Its constraint plans stay in
cuda_kernels.py, beside the other weight launches."""
import numpy

from .cuda_kernels import ELEMENTWISE_BLOCK, Launch, _grid_stride, _kernel, _ptr


def _update(kernel, p, sm_count, args):
    """The update ``kernel`` over the flat buffer ``p``: block 256, a grid-stride grid."""
    return Launch("optimizers", _kernel(kernel, p.dtype), _grid_stride(p.size, sm_count), (ELEMENTWISE_BLOCK, 1, 1),
                  args)


def plan_sgd(p, g, velocity, lr, momentum, nesterov, sm_count, table=None, index=None):
    """With ``table`` ((steps, 2): each step's learning rate and momentum) and ``index`` (a device
    int64), lr and momentum are ``table[index[0]]``, read on the device: a captured step replays
    with each step's values."""
    t = p.dtype.type
    return _update("sgd_update", p, sm_count, (p, g, _ptr(velocity), numpy.int64(p.size), t(lr), t(momentum),
                                               numpy.int32(bool(nesterov)), _ptr(table), _ptr(index)))


def plan_adam(p, g, m, v, vhat, alpha, beta_1, beta_2, epsilon, sm_count, table=None, index=None):
    """``alpha`` is the bias-corrected step size the reference computes on the host (or, with
    ``table``, ``table[index[0], 0]``, as `plan_sgd`)."""
    t = p.dtype.type
    return _update("adam_update", p, sm_count, (p, g, m, v, _ptr(vhat), numpy.int64(p.size), t(alpha), t(1.0 - beta_1),
                                                t(1.0 - beta_2), t(epsilon), _ptr(table), _ptr(index)))


def plan_rmsprop(p, g, rms, mom, mg, lr, rho, momentum, epsilon, sm_count, table=None, index=None):
    """``table``, ``index``: as `plan_sgd`."""
    t = p.dtype.type
    return _update("rmsprop_update", p, sm_count, (p, g, rms, _ptr(mom), _ptr(mg), numpy.int64(p.size), t(lr), t(rho),
                                                   t(1.0 - rho), t(momentum), t(epsilon), _ptr(table), _ptr(index)))


def plan_adagrad(p, g, accumulator, lr, epsilon, sm_count, table=None, index=None):
    """``table``, ``index``: as `plan_sgd`."""
    t = p.dtype.type
    return _update("adagrad_update", p, sm_count, (p, g, accumulator, numpy.int64(p.size), t(lr), t(epsilon),
                                                   _ptr(table), _ptr(index)))


def plan_adamax(p, g, m, v, lr_t, beta_1, beta_2, epsilon, sm_count, table=None, index=None):
    """``lr_t``: lr / (1 - beta_1^t), as the reference folds it (or, with ``table``, as `plan_sgd`)."""
    t = p.dtype.type
    return _update("adamax_update", p, sm_count, (p, g, m, v, numpy.int64(p.size), t(lr_t), t(1.0 - beta_1), t(beta_2),
                                                  t(epsilon), _ptr(table), _ptr(index)))


def plan_lion(p, g, m, lr, beta_1, beta_2, sm_count, table=None, index=None):
    """Lion's update (``beta_1``, ``beta_2`` as the reference rounds them to ``p``'s dtype, and their
    complements computed from those); ``lr`` as `plan_sgd`'s."""
    t = p.dtype.type
    b1, b2 = t(beta_1), t(beta_2)
    return _update("lion_update", p, sm_count, (p, g, m, numpy.int64(p.size), t(lr), b1, t(1.0 - float(b1)), b2,
                                                t(1.0 - float(b2)), _ptr(table), _ptr(index)))


def plan_adadelta(p, g, accum_grad, accum_var, lr, rho, epsilon, sm_count, table=None, index=None):
    """Adadelta's update; ``lr`` as `plan_sgd`'s."""
    t = p.dtype.type
    return _update("adadelta_update", p, sm_count, (p, g, accum_grad, accum_var, numpy.int64(p.size), t(lr), t(rho),
                                                    t(1.0 - rho), t(epsilon), _ptr(table), _ptr(index)))


def plan_ftrl(p, g, accum, linear, lr, optimizer, sm_count, table=None, index=None):
    """Ftrl's update with ``optimizer``'s (a gpunet Ftrl's) hyperparameters; ``lr`` as `plan_sgd`'s."""
    t, o = p.dtype.type, optimizer
    return _update("ftrl_update", p, sm_count,
                   (p, g, accum, linear, numpy.int64(p.size), t(lr), -t(o.learning_rate_power),
                    t(o.l1_regularization_strength), t(o.l2_regularization_strength), t(o.beta),
                    t(2.0 * float(t(o.l2_shrinkage_regularization_strength))), _ptr(table), _ptr(index)))


def nadam_scalars(lr, beta_1, beta_2, t, u_t, u_next, u_product):
    """nadam_update's (lr, a, b, c) of step ``t``, folded as `OptimizerOps.nadam_update` folds them."""
    return lr, u_next / (1.0 - u_product * u_next), (1.0 - u_t) / (1.0 - u_product), 1.0 / (1.0 - beta_2**t)


def plan_nadam(p, g, m, v, scalars, beta_1, beta_2, epsilon, sm_count, table=None, index=None):
    """``scalars``: `nadam_scalars`' four values (or, with ``table``, ``table[index[0]]``, rows of 4)."""
    t = p.dtype.type
    return _update("nadam_update", p, sm_count, (p, g, m, v, numpy.int64(p.size), *(t(s) for s in scalars),
                                                 t(1.0 - beta_1), t(1.0 - beta_2), t(epsilon), _ptr(table),
                                                 _ptr(index)))
