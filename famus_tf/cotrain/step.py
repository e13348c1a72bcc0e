"""One co-training iteration of network a (ALGORITHM.md §8 steps 1-3, then the engine step).

Given a labeled, an unlabeled and a meta batch, each (uint8 images [b, ...], noisy labels
[b], clean probability c [b] from the other network's GMM, true-clean flag [b]):

  1. two augmentations of every batch (`prep`, the loop's preprocess + augmentation);
     softmaxes of network a (p_a) and network b (p_b) on them, without gradient;
  2. per part, co-refined targets and co-guesses (mixmatch.part_targets, the configured
     recipe and temperature T); the batch [x_1, x_2, u_1, u_2] (4B rows, `assemble`),
     MixUp with one lambda' = max(lambda, 1 - lambda) and one permutation (`mix`);
  3. the meta batch [m_1, m_2] the same way in labeled mode: its co-refined labels
     t = sharpen(c onehot(y~) + (1 - c)(p_a1 + p_a2)/2, T) as targets (the co-guess of the
     meta batch is unused by L_c, so network b does not see it), its own MixUp draw;
  4. with lambda_u = 0 (`CotrainConfig.labeled_rows_only`: WebVision, Clothing1M) only the
     2B mixed labeled rows are kept (`labeled_rows`): they were mixed with partners from all
     4B rows, but the unlabeled rows would only carry a zero-weight MSE term, so they are
     not forwarded, as DivideMix's scripts do; the weight normalisation, the prior penalty
     and BatchNorm then see the labeled rows alone, and the step costs about half;
  5. the engine step `learner.train_step(mixed images, Supervision(targets, guesses,
     labeled, lambda_u), mixed meta images, mixed meta targets)`: MW-Net (+ FaMUS) on the
     virtual loss of §8 step 4 with L_c of §8 step 5 (losses.py), or, for method plain, the same loss with
     uniform weights (meta/objective.py). Only network a's variables change.

BatchNorm mode of step 1. Network a runs in training mode (batch statistics of each
augmented batch, one forward per batch as the official code does) through
`stateless_call`, and its new moving statistics are discarded; network b runs in
evaluation mode (moving statistics). This is the official mode (DivideMix's `net.train()`,
`net2.eval()`) without its side effect: torch also folds these extra forwards into a's
running statistics, whereas here only the actual step commits BatchNorm statistics, so a
co-training step changes exactly what a meta step changes. Under tf.distribute a's batch
statistics are per replica (as in the engine's training forward) unless the model's
BatchNorm is synchronized.

Randomness (counter-based: functions of learner.optimizer.iterations and a stream id, so
a resumed run and every replica draw alike). `prep` is called with the stream ids of
`streams(network)`: labeled 601 / 603, unlabeled 605 / 607, meta 609 / 611 (the loop's
augmentation also uses id + 1, and adds 1000 per replica); MixUp draws 621 (training
batch) and 622 (meta batch); network index 1 adds 100. They are clear of the loop's 11-14
and of the gates' (meta.seed, meta.seed * 1009 + k + 1 for small seeds).

Returned metrics: the learner's (`scalar_metrics(cotrain=True)`: loss = mean soft-target
CE of the mixed rows, accuracy = argmax of the logits against argmax of the mixed targets,
loss_u = mean MSE to the co-guess on the unlabeled rows, and for meta methods val_loss, the
gates' metrics, example_weights [4B], or [2B] with lambda_u = 0) plus `is_clean` (as
many rows): row i of the mixed batch is
lambda' (example i) + (1 - lambda') (its partner) with lambda' >= 1/2, so it takes the
true-clean flag of example i.
"""
import tensorflow as tf

from famus_tf.cotrain import losses, mixmatch
from famus_tf.meta import functional as fn

STREAM_BASE = 600
NETWORK_STRIDE = 100


def labeled_rows(batch, clean):
    """The labeled part of a mixed [x_1, x_2, u_1, u_2] batch and its true-clean flags: the
    first half of this replica's rows (the local layout is the assembled one)."""
    half = (batch.inputs.shape[0] or tf.shape(batch.inputs)[0]) // 2
    return mixmatch.MixBatch(*(t[:half] for t in batch)), clean[:half]


def streams(network=0):
    """The stream ids of one network's co-training step (see the module docstring)."""
    base = STREAM_BASE + NETWORK_STRIDE * network
    return {"labeled": (base + 1, base + 3), "unlabeled": (base + 5, base + 7),
            "meta": (base + 9, base + 11), "mix": base + 21, "meta_mix": base + 22}


class CoStep:
    """Network a's co-training step; `other_model` (network b) is only read.

    `prep(images_uint8, stream) -> float images`; `recipe` overrides
    `cotrain_config.recipe`; `network` (0 or 1) selects the stream ids.
    """

    def __init__(self, learner, other_model, cotrain_config, num_classes, prep, recipe=None,
                 network=0):
        self.learner, self.other_model, self.prep = learner, other_model, prep
        self.config, self.num_classes = cotrain_config, num_classes
        self.recipe = recipe or cotrain_config.recipe
        if self.recipe not in mixmatch.RECIPES:
            raise ValueError(f"--cotrain_recipe: unknown recipe {self.recipe!r}; "
                             f"choose one of {mixmatch.RECIPES}")
        if network not in (0, 1):
            raise ValueError(f"network must be 0 or 1, got {network}")
        self.streams = streams(network)

    def scalar_metrics(self):
        return self.learner.scalar_metrics(cotrain=True)

    def _probs_a(self, images):
        """Network a's softmax, training mode, BatchNorm statistics discarded."""
        model = self.learner.model
        logits, _ = fn.forward(model, fn.trainable_values(model), fn.non_trainable_values(model),
                               images, training=True)
        return tf.stop_gradient(tf.nn.softmax(logits))

    def _probs_b(self, images):
        """Network b's softmax, evaluation mode."""
        model = self.other_model
        logits, _ = fn.forward(model, fn.trainable_values(model), fn.non_trainable_values(model),
                               images, training=False)
        return tf.stop_gradient(tf.cast(tf.nn.softmax(logits), self.learner.dtype))

    def _views(self, part, name):
        s1, s2 = self.streams[name]
        return self.prep(part[0], s1), self.prep(part[0], s2)

    def targets(self, labeled, unlabeled):
        """Steps 1-2 before mixing: (the assembled batch [x_1, x_2, u_1, u_2], its
        true-clean flags [4B])."""
        x1, x2 = self._views(labeled, "labeled")
        u1, u2 = self._views(unlabeled, "unlabeled")
        pa = [self._probs_a(x) for x in (x1, x2, u1, u2)]
        pb = tf.split(self._probs_b(tf.concat([x1, x2, u1, u2], 0)), 4)
        cfg = self.config
        tx, gx = mixmatch.part_targets(labeled[1], labeled[2], pa[:2], pb[:2], True,
                                       self.recipe, cfg.temperature)
        tu, gu = mixmatch.part_targets(unlabeled[1], unlabeled[2], pa[2:], pb[2:], False,
                                       self.recipe, cfg.temperature)
        clean = tf.concat([labeled[3], labeled[3], unlabeled[3], unlabeled[3]], 0)
        return mixmatch.assemble((x1, x2, tx, gx), (u1, u2, tu, gu)), clean

    def meta_targets(self, meta):
        """Step 3 before mixing: the assembled meta batch [m_1, m_2], co-refined labels."""
        m1, m2 = self._views(meta, "meta")
        t = mixmatch.refine(meta[1], meta[2], self._probs_a(m1), self._probs_a(m2),
                            self.config.temperature)
        return mixmatch.assemble((m1, m2, t, t))

    def __call__(self, labeled, unlabeled, meta, lambda_u):
        learner = self.learner
        step = tf.identity(learner.optimizer.iterations)  # read before the step updates it
        batch, clean = self.targets(labeled, unlabeled)
        mixed, _ = mixmatch.mix(batch, self.config.mix_alpha, step, self.streams["mix"], parts=4)
        if self.config.labeled_rows_only:
            mixed, clean = labeled_rows(mixed, clean)
        sup = losses.Supervision(mixed.targets, mixed.guesses, mixed.labeled, lambda_u)
        if learner.method is None:
            out = learner.train_step(mixed.inputs, sup)
        else:
            if meta is None:
                raise ValueError("a meta method's co-training step needs a meta batch")
            meta_batch = self.meta_targets(meta)
            meta_mixed, _ = mixmatch.mix(meta_batch, self.config.mix_alpha, step,
                                         self.streams["meta_mix"], parts=2)
            out = learner.train_step(mixed.inputs, sup, meta_mixed.inputs, meta_mixed.targets)
        return {**out, "is_clean": clean}
