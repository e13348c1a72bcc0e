"""Optimisers as the reference implementations use them.

PyTorch's SGD adds weight_decay * w to the gradient before momentum; Keras' SGD
`weight_decay` is decoupled (applied outside momentum), which is not the same
thing. So optimisers here are built with `weight_decay=None` and `with_decay` adds
the coupled term to the gradients. Keras' Nesterov update equals PyTorch's for a
constant learning rate and differs slightly for one step after a decay.
"""
import keras


def sgd(learning_rate, momentum=0.9, nesterov=True, name=None):
    """Keras SGD without decoupled decay; `learning_rate` may be a schedule."""
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum,
                                nesterov=nesterov and momentum > 0, name=name)


def with_decay(grads, variables, weight_decay):
    """grads + weight_decay * w (PyTorch-style L2 in the gradient)."""
    if not weight_decay:
        return list(grads)
    return [g + weight_decay * v.value for g, v in zip(grads, variables)]


def piecewise(lr, boundaries, decay):
    """Piecewise-constant schedule by iteration: lr * decay**(boundaries b <= iteration).

    Iteration b (counted from 0) is the first to use the decayed rate, so a boundary at
    epoch E * steps_per_epoch decays from the first step of epoch E. (Keras'
    PiecewiseConstantDecay switches after its boundary, hence the b - 1.)
    """
    if not boundaries:
        return float(lr)
    values = [float(lr) * decay ** i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay([int(b) - 1 for b in boundaries], values)
