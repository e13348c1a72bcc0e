"""PyTorch's default initialisation of a Linear layer, for Keras Dense layers.

torch.nn.Linear draws its weight with kaiming_uniform(a=sqrt(5)) and its bias from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)); both come to U(+-1/sqrt(fan_in)). The reference
implementations build their weighting network (MW-Net's VNet) and the FaMUS samplers
from such layers (ALGORITHM.md §4.2, §13.8), unlike Keras' glorot_uniform / zeros.
"""
import math

import keras


def linear_uniform(fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for a Dense kernel and its bias alike."""
    bound = 1.0 / math.sqrt(max(int(fan_in), 1))
    return keras.initializers.RandomUniform(-bound, bound)


def linear(units, fan_in, **kwargs):
    """A Dense layer initialised as torch.nn.Linear(fan_in, units)."""
    return keras.layers.Dense(units, kernel_initializer=linear_uniform(fan_in),
                              bias_initializer=linear_uniform(fan_in), **kwargs)
