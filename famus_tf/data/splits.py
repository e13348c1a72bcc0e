"""Index splits: the clean meta set per class, and stratified train/test splits."""
import numpy as np


def take_per_class(labels, n_per_class, seed):
    """(taken, rest): n_per_class random indices of every class, and the others (sorted)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    taken = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < n_per_class:
            raise ValueError(f"class {c} has {len(members)} examples, fewer than the "
                             f"{n_per_class} asked for the meta set")
        taken.append(rng.choice(members, n_per_class, replace=False))
    taken = np.sort(np.concatenate(taken)).astype(np.int64) if taken else np.zeros(0, np.int64)
    rest = np.setdiff1d(np.arange(len(labels)), taken).astype(np.int64)
    return taken, rest


def stratified_split(labels, fraction, seed):
    """(first, second): `fraction` of every class goes to `second` (rounded)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    second = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        second.append(members[:int(round(fraction * len(members)))])
    second = np.sort(np.concatenate(second)).astype(np.int64)
    return np.setdiff1d(np.arange(len(labels)), second).astype(np.int64), second
