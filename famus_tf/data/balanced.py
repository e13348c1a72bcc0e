"""Class-balanced sampling: the one place every balanced pipeline calls.

The Clothing1M protocol of DivideMix (which FaMUS follows: "1000 mini-batches per
epoch while keeping the classes balanced"): every epoch, shuffle the noisy training
list and take examples in that order, at most num_samples / num_classes of each class,
until num_samples are taken. Each epoch draws afresh from np.random.default_rng([seed,
epoch]), so an epoch's sample is reproducible from (seed, epoch) alone, also after a
restart.
"""
import math

import numpy as np


def balanced_indices(labels, num_samples, num_classes, rng):
    """Shuffled indices, at most ceil(num_samples / num_classes) per class.

    Stops when num_samples are taken or the list is exhausted (a class smaller than its
    share contributes all it has). An empty class is an error.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes)
    empty = np.flatnonzero(counts[:num_classes] == 0)
    if empty.size:
        raise ValueError(f"class-balanced sampling: class {empty[0]} has no examples")
    cap = math.ceil(num_samples / num_classes)
    order = rng.permutation(len(labels))
    taken_per_class = np.zeros(num_classes, np.int64)
    chosen = []
    for i in order:
        c = labels[i]
        if taken_per_class[c] < cap:
            taken_per_class[c] += 1
            chosen.append(i)
            if len(chosen) == num_samples:
                break
    chosen = np.asarray(chosen, np.int64)
    return chosen[rng.permutation(len(chosen))]


def epoch_indices(labels, num_batches, batch_size, num_classes, seed, epoch):
    """The balanced sample of one epoch: num_batches * batch_size indices."""
    rng = np.random.default_rng([seed, epoch])
    return balanced_indices(labels, num_batches * batch_size, num_classes, rng)
