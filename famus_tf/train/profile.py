"""Where a meta step's time goes: virtual, meta and actual parts, measured.

A compiled step is one graph, so its parts cannot be timed from inside. Instead two
extra compiled functions run the step's own code on a fixed batch without changing
any state: the virtual part (training forward, virtual step, validation forward and
backward) and the virtual + meta part (adding the gated meta-gradient). Then
meta = t(virtual + meta) - t(virtual) and actual = t(step) - t(virtual + meta), with
t(step) the loop's measured milliseconds per step. Medians of `repeats` calls.
"""
import statistics
import time

import tensorflow as tf


class StepSplit:
    def __init__(self, learner, batch, repeats=3):
        self.batch = batch
        self.repeats = repeats
        n = len(learner.selection.candidates)
        gates = tf.ones([n], learner.dtype) if n else None
        self._virtual = tf.function(lambda *b: learner._virtual_pass(*b).val_loss, autograph=False)
        self._meta = tf.function(lambda *b: learner.meta_gradient(*b, gates=gates)["d_phi"],
                                 autograph=False)

    def _time(self, fn):
        fn(*self.batch).numpy()  # compile / warm
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            fn(*self.batch).numpy()
            times.append((time.perf_counter() - t0) * 1000.0)
        return statistics.median(times)

    def measure(self, step_ms):
        """{'time/virtual_ms', 'time/meta_ms', 'time/actual_ms'} (every candidate gate on)."""
        virtual = self._time(self._virtual)
        both = self._time(self._meta)
        return {"time/virtual_ms": virtual, "time/meta_ms": max(both - virtual, 0.0),
                "time/actual_ms": max(step_ms - both, 0.0)}
