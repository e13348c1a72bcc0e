"""Which parameter tensors FaMUS may gate, which are always on, and how gates are drawn.

A model's parameter tensors are indexed by their position in
`model.trainable_variables`, which follows depth (stem first, head last).

Candidate specs (`candidates`):
  'all'                every tensor that is not always on;
  'top:N'              the N tensors just below the always-on head (the official
                       CNWL code gates `params[-15:-2]`, i.e. 'top:13' with the head on);
  'block:P1[,P2...]'   every tensor whose variable path starts with one of the prefixes
                       (e.g. 'block:stage4', the last stage of PreAct ResNet-18).
Tensors that are neither candidates nor always on keep their place in the virtual
step but never carry a second-order path (stop_gradient), as in the official code.

The cost of a FaMUS meta step is set by the lowest tensor whose second-order path is
kept: the double backward runs from the logits down to it. Candidates are therefore
split into contiguous `segments`; the step traces one branch per segment (plus one
for "no candidate on") and runs, each iteration, the branch of the lowest active
segment. Within a branch the gates act as exact 0/1 masks. With `num_segments=0`
there is one graph over all candidates (for XLA, see `resolve`).
"""
import dataclasses

import numpy as np
import tensorflow as tf

from famus_tf import counter_rng


@dataclasses.dataclass(frozen=True)
class Selection:
    candidates: tuple   # indices of gated tensors, ascending
    always_on: tuple    # indices whose second-order path is always kept (the head)
    head: tuple         # indices of the classifier tensors (targets of L_g)
    segment_starts: tuple  # positions into `candidates` where each segment begins
    branched: bool = True  # False: one graph over every candidate, gates as masks only

    @property
    def num_branches(self):
        return len(self.segment_starts) + 1 if self.branched else 1

    def branch_tensors(self, branch):
        """Tensor indices whose second-order path a branch computes, ascending."""
        low = (self.candidates[self.segment_starts[branch]]
               if branch < len(self.segment_starts) else None)
        chosen = set(self.always_on) | set(self.head)
        if low is not None:
            chosen |= {c for c in self.candidates if c >= low}
        return tuple(sorted(chosen))


def _head_indices(paths, head_prefix):
    head = tuple(i for i, p in enumerate(paths) if p.startswith(head_prefix))
    if not head:
        raise ValueError(f"no variable path starts with the head prefix {head_prefix!r}; "
                         f"paths are {paths[:3]}...{paths[-3:]}")
    return head


def resolve(paths, candidates="all", head_prefix="head", head_always_on=True, num_segments=8):
    """Builds a Selection from variable paths (`[v.path for v in model.trainable_variables]`).

    `num_segments=0` builds no branches: the whole candidate region's second-order path
    is computed every step with the gates as masks. Use it with XLA, which takes minutes
    to compile `tf.switch_case` over these graphs (and runs no faster with it on CPU).
    """
    paths = list(paths)
    head = _head_indices(paths, head_prefix)
    always_on = head if head_always_on else ()
    pool = [i for i in range(len(paths)) if i not in always_on]
    if candidates == "all":
        chosen = pool
    elif candidates.startswith("top:"):
        n = int(candidates.split(":", 1)[1])
        if n < 1:
            raise ValueError(f"candidates {candidates!r}: N must be at least 1")
        chosen = pool[-n:]
    elif candidates.startswith("block:"):
        prefixes = [p for p in candidates.split(":", 1)[1].split(",") if p]
        chosen = [i for i in pool if any(paths[i].startswith(p) for p in prefixes)]
        if not chosen:
            raise ValueError(f"candidates {candidates!r} match no parameter tensor")
    else:
        raise ValueError(f"candidates must be 'all', 'top:N' or 'block:PREFIX', got {candidates!r}")
    chosen = tuple(sorted(chosen))
    branched = num_segments > 0
    num_segments = max(1, min(num_segments, len(chosen))) if chosen else 0
    starts = tuple(int(s) for s in np.unique(
        np.floor(np.arange(num_segments) * len(chosen) / max(num_segments, 1)).astype(int)))
    return Selection(chosen, tuple(always_on), head, starts, branched and bool(chosen))


class TooFewCandidates(ValueError):
    """A gate configuration with nothing to sample (raised before any training)."""


def check_sampled(selection, candidates, num_active, gate_policy):
    """Learned gates (Eq. 10's L_r pulls K of them on) and Random-K sample K of the
    candidates; with no more candidates than K every gate is on and FaMUS is the full
    meta-gradient of its block at the sampler's cost. Refuses that, naming the flags."""
    n = len(selection.candidates)
    if gate_policy in ("learned", "random") and n <= num_active:
        raise TooFewCandidates(
            f"--candidates={candidates} gives {n} gated tensor{'s' * (n != 1)} on this model, not "
            f"more than --num_active={num_active}: every gate would be on and nothing is sampled; "
            f"choose a larger block (e.g. --candidates=top:13, the official code's 13 tensors) or "
            f"a smaller --num_active")


def full(paths, head_prefix="head"):
    """Every tensor always on: the full meta-gradient of MW-Net, L2R and MLC."""
    return Selection((), tuple(range(len(paths))), _head_indices(paths, head_prefix), ())


def lowest_branch(selection, hard_gates):
    """Index of the branch to run for 0/1 gates (one per candidate), as a tensor."""
    starts = tf.constant(selection.segment_starts, tf.int32)
    n = len(selection.candidates)
    on = tf.cast(hard_gates > 0.5, tf.int32)
    first = tf.where(tf.reduce_any(on > 0), tf.cast(tf.argmax(on), tf.int32), n)
    # Branch of the segment containing `first`; len(starts) when no gate is on.
    branch = tf.reduce_sum(tf.cast(starts <= first, tf.int32)) - 1
    return tf.where(first >= n, len(selection.segment_starts), branch)


def random_gates(num_candidates, num_active, step, stream, dtype):
    """Random-K ablation: K of the candidates drawn uniformly without replacement."""
    scores = counter_rng.uniform(num_candidates, step, stream)
    kth = tf.sort(scores, direction="DESCENDING")[min(num_active, num_candidates) - 1]
    return tf.cast(scores >= kth, dtype)
