"""The training loop of Algorithm 2 (supp Alg. 2; ALGORITHM.md §7, §8): two networks,
each with its own MetaLearner (meta model, samplers, optimisers), trained together.

  run epochs t = 0 .. W-1 (warm-up, W = warmup_epochs): plain CE on the noisy labels,
      both networks, batches of 2B (the official warm-up batch), per-network orders;
  then E = --epochs co-training epochs, t = W .. W+E-1 (e = t - W counts the schedule:
  schedule.py), each:
      for k in 1, 2: losses_k = per-example CE of network k (evaluation mode, no
          augmentation; eval_train.py), split_k = divide.split(losses_k,
          split_seed(seed, e, k), p_threshold, meta_threshold, guard_bounds(N_e, B))
          with N_e the examples evaluated (all, or the epoch's class-balanced sample);
      co-divide: network 1 trains on split_2, network 2 on split_1;
      the splits are stored in the checkpoint (cotrain/split_state.py), saved at once;
      iterations = max over the networks of max(|L|, |U|) // B; each iteration runs
          network 1's co-training step, then network 2's (cotrain/step.py: refinement,
          co-guessing, MixUp, the engine's meta step and the actual step), with
          lambda_u(e) = lambda_u clip(e / 16, 0, 1).
  The learning rate is set per epoch: lr in the warm-up, then lr * decay^(number of
  --lr_epochs <= e), the decays counted from the end of the warm-up as the official
  script counts them (cotrain/schedule.py).

Evaluation: the ensemble (mean of the two networks' logits) as test/..., each network
alone as net1/test/..., net2/test/...; export: the ensemble at MODEL_DIR/export and each
network at MODEL_DIR/export_net1, export_net2. The parts the one-network Trainer already
has (summaries, evaluators, export, clean-up) are reused; the epoch structure (variable
epoch lengths, the split) is this class's `run`. Summaries of the split and the weights:
cotrain/epoch_log.py.
"""
import dataclasses
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from famus_tf.cotrain import divide, ensemble, epoch_log, eval_train, schedule, split_state, streams
from famus_tf.train import checkpoint
from famus_tf.train.export import export_classifier
from famus_tf.train.loop import Trainer
from famus_tf.train.progress import progress

NETS = (0, 1)


class CoTrainer(Trainer):
    """One run of Algorithm 2 (--meta_set=pseudo_clean)."""

    def __init__(self, experiment, prepared=None, strategy=None):
        super().__init__(experiment, prepared, strategy)
        d = self.data
        self.num_examples = len(d.train_labels)
        self.truth = (d.train_clean == d.train_labels) if d.train_clean is not None else None
        self.total = experiment.run.max_steps or np.iinfo(np.int64).max
        self.schedule = schedule.Schedule.of(experiment)
        self.num_epochs = self.schedule.total_epochs  # warm-up + co-training
        self.split_stats = None

    # -- building ----------------------------------------------------------------------
    def optim_config(self):
        """No iteration schedule: epochs have different lengths; `set_epoch` sets the lr."""
        return dataclasses.replace(self.exp.optim, lr_boundaries=())

    def build(self):
        data, meta = self.data, self.meta_config()
        with self.strategy.scope():
            # each network its own gate-noise seed
            self.models, self.learners = map(list, zip(*(
                self.network(dataclasses.replace(meta, seed=meta.seed + k)) for k in NETS)))
            self.lambda_u = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="lambda_u")
        self.model, self.learner = self.models[0], self.learners[0]
        self.ensemble = ensemble.average(self.models, data.image_shape)
        sel = self.learner.selection
        self.num_candidates = len(sel.candidates) if sel else 0
        self.with_meta = self.learner.method is not None
        prep = streams.eval_preprocess(data, self.learner.dtype)
        self.loss_passes = [eval_train.LossPass(m, prep, self.exp.data.eval_batch_size, self.strategy)
                            for m in self.models]  # compiled once, reused every epoch

    def restore(self):
        run, strategy = self.exp.run, self.strategy
        with strategy.scope():
            self.best = tf.Variable(0.0, dtype=tf.float64, name="best_top1")
            self.counts = [tf.Variable(tf.zeros([self.num_candidates], tf.float64),
                                       name=f"selection_counts_{k + 1}") for k in NETS]
            self.skipped = tf.Variable(0, dtype=tf.int64, name="nonfinite_skipped")
        self.epoch_var = tf.Variable(0, dtype=tf.int64, name="epoch")
        self.pos_var = tf.Variable(0, dtype=tf.int64, name="position_in_epoch")
        self.split_epoch = tf.Variable(-1, dtype=tf.int64, name="split_epoch")
        self.splits = [split_state.SplitState(self.num_examples) for _ in NETS]
        trackables = dict(best_top1=self.best, epoch=self.epoch_var, position=self.pos_var,
                          split_epoch=self.split_epoch, nonfinite_skipped=self.skipped)
        for k in NETS:
            trackables[f"net{k + 1}"] = tf.train.Checkpoint(**self.learners[k].trackables())
            trackables[f"split{k + 1}"] = self.splits[k].trackables()
            trackables[f"selection_counts{k + 1}"] = self.counts[k]
        self.manager, self.restored = checkpoint.manager(
            self.write_dir, run.keep_checkpoints,
            restore_from=None if self.chief else run.model_dir, **trackables)
        self.step = int(self.learner.optimizer.iterations.numpy())
        if self.restored:
            logging.info("resumed from %s at step %d (epoch %d, iteration %d)", self.restored,
                         self.step, int(self.epoch_var.numpy()), int(self.pos_var.numpy()))
        if run.export_only and not self.restored:
            raise FileNotFoundError(f"--export_only: no checkpoint in {run.model_dir}")
        self.streams_of = streams.Streams(strategy, self.data, self.exp.data, run.seed,
                                          self.truth if self.truth is not None
                                          else np.ones(self.num_examples, bool))
        self.train_it = self.meta_it = None  # per-epoch streams, built by the epochs

    def compile_loop(self):
        from famus_tf.cotrain import loops
        self.warmup_loop, self.cotrain_loop = loops.build(self)

    def build_evaluators(self):
        """Evaluators of the test set and the extra test sets: the ensemble's, and each
        network's (`net_evaluators`)."""
        self.evaluator, self.extra_evaluators = self.evaluators(self.ensemble)
        self.net_evaluators = [self.evaluators(m) for m in self.models]
        self.splitter = None

    # -- the epochs --------------------------------------------------------------------
    def position(self):
        """(epoch, iteration within it) from the checkpointed counters (co-training epochs
        differ in length), or None when the run is done."""
        epoch = int(self.epoch_var.numpy())
        if epoch >= self.num_epochs or self.step >= self.total:
            return None
        return epoch, int(self.pos_var.numpy())

    def suspect_scoring(self):
        """The ensemble ranks the suspects; the clean probability is the mean of the two
        networks' last split (NaN where not evaluated, or before the first split)."""
        if int(self.split_epoch.numpy()) < 0:
            return self.ensemble, None, None
        splits = [s.value() for s in self.splits]
        c = np.mean([sp.clean_prob for sp in splits], axis=0)
        c[~np.logical_and.reduce([sp.evaluated for sp in splits])] = np.nan
        return self.ensemble, None, c

    def end_epoch(self, last):
        if last.finished:
            self.epoch_var.assign_add(1)
            self.pos_var.assign(0)

    def set_epoch(self, epoch):
        """Run epoch `epoch`'s learning rate and ramped lambda_u (schedule.py)."""
        lr = self.schedule.learning_rate(epoch)
        for learner in self.learners:
            learner.optimizer.learning_rate = lr
        self.lambda_u.assign(self.schedule.lambda_u_at(epoch))

    def train_epoch(self, epoch, pos):
        """Epoch `epoch` from iteration `pos`; returns the summary inputs (`finished`: the
        epoch ended, not the run's last step inside it)."""
        self.set_epoch(epoch)
        last = epoch_log.EpochRecord(weighted=self.exp.meta.method in ("mwnet", "l2r"))
        if self.schedule.is_warmup(epoch):
            steps = streams.warmup_steps(self.data, self.exp.data.batch_size)
            its = tuple(self.streams_of.warmup(epoch, k, steps, pos) for k in NETS)
            call, guard = (lambda n: self.warmup_loop(its, n)), self.warmup_guard  # noqa: E731
        else:
            train_splits = self.epoch_splits(epoch, last)
            b = self.exp.data.batch_size
            steps = max(max(len(s.labeled_indices), len(s.unlabeled_indices)) // b
                        for s in train_splits)
            its = tuple(self.streams_of.cotrain(epoch, k, train_splits[k], steps, pos,
                                                self.with_meta) for k in NETS)
            call, guard = (lambda n: self.cotrain_loop(its, n)), self.cotrain_guard  # noqa: E731
        last.finished = self._iterate(epoch, pos, steps, call, guard, last)
        return last

    def _iterate(self, epoch, pos, steps, call, guard, last):
        """Runs iterations pos..steps-1 (or up to the run's last step) in multi-step calls,
        writing the training scalars and the checkpoints; True if the epoch ended. A
        non-finite iteration stops the run before any save or is skipped (`guard`,
        train/nonfinite.py), as in the one-network loop."""
        run = self.exp.run
        bar = progress(epoch, self.num_epochs, steps, pos)
        end = min(steps, pos + self.total - self.step)
        while pos < end:
            n = min(run.steps_per_call, end - pos,
                    run.checkpoint_every - self.step % run.checkpoint_every)
            t0 = time.perf_counter()
            lr = float(self.learner.learning_rate())
            out, first_bad, code, skipped = call(tf.constant(n))
            guard.after_call(first_bad, code, self.step)  # stop mode: raises, saves nothing
            ms = (time.perf_counter() - t0) * 1000.0 / n
            self.step, pos = self.step + n, pos + n
            self.pos_var.assign(pos)
            scal = last.add_call(out, max(n - int(skipped), 1), self.counts)
            scal.update({"train/ms_per_step": ms, "train/lr": lr,
                         "train/lambda_u": float(self.lambda_u.numpy())})
            if guard.mode == "skip":
                scal["train/nonfinite_skipped"] = float(self.skipped.assign_add(int(skipped)))
            self.summaries.scalars(self.step, scal)
            bar.update(pos, {k.replace("net1/", ""): v for k, v in scal.items()  # network 1's
                             if not k.startswith("net2/")})
            if self.step % run.checkpoint_every == 0:
                checkpoint.save(self.manager, self.step)
        return pos >= steps

    def epoch_splits(self, epoch, last):
        """The splits network 1 and network 2 train on in `epoch` (co-divided): the stored
        ones if the checkpoint holds this epoch's, else computed, stored and saved."""
        if int(self.split_epoch.numpy()) != epoch:
            t0 = time.perf_counter()
            for k in NETS:
                self.splits[k].assign(self.split_of(k, epoch))
            self.split_epoch.assign(epoch)
            checkpoint.save(self.manager, self.step)
            last.split_seconds = time.perf_counter() - t0
        made = [s.value() for s in self.splits]
        last.splits = made
        for k, s in enumerate(made):
            logging.info("epoch %d: network %d's GMM: %d labeled, %d unlabeled, %d meta of %d "
                         "evaluated%s", epoch + 1, k + 1, s.labeled.sum(), len(s.unlabeled_indices),
                         s.meta.sum(), s.evaluated.sum(), " (median guard)" if s.guarded else "")

        return divide.co_divide(made)

    def split_of(self, k, epoch):
        """divide.split of network k's per-example losses on the epoch's examples."""
        d, cfg, b = self.data, self.exp.cotrain, self.exp.data.batch_size
        data, n = streams.split_input(d, self.exp.data, self.exp.run.seed, epoch)
        losses_k = self.loss_passes[k](data, num_examples=self.num_examples)
        lo, hi = divide.guard_bounds(n, b)
        return divide.split(losses_k, divide.split_seed(self.exp.run.seed, epoch, k + 1),
                            cfg.p_threshold, cfg.meta_threshold, lo, hi)

    # -- evaluation, summaries, export ---------------------------------------------------
    def evaluate(self, epoch, seconds):
        result = super().evaluate(epoch, seconds)
        for k, (ev, extra) in enumerate(self.net_evaluators):
            result[f"net{k + 1}"] = {"test": ev.run(), **{name: e.run() for name, e in extra.items()}}
        return result

    def write_summaries(self, result, last):
        saved, self.num_candidates = self.num_candidates, 0  # selection counts: per network
        super().write_summaries(result, last)
        self.num_candidates = saved
        self.split_stats = epoch_log.write_epoch(self, result, last) or self.split_stats

    def final_model(self):
        return self.ensemble

    def finish(self):
        """The ensemble's final results, export and suspects (Trainer.finish), each
        network's test results, and the last split's statistics."""
        final = super().finish()
        for k, (ev, extra) in enumerate(self.net_evaluators):
            final[f"net{k + 1}"] = {"test": ev.run(), **{name: e.run() for name, e in extra.items()}}
        if self.split_stats is None and int(self.split_epoch.numpy()) >= 0:
            self.split_stats = epoch_log.split_statistics([s.value() for s in self.splits], self.truth)
        if self.split_stats is not None:
            final["split"] = self.split_stats
        return final

    def export(self):
        """Each network at MODEL_DIR/export_net{1,2}, then the ensemble at MODEL_DIR/export."""
        d, root = self.data, self.exp.run.model_dir
        scale = self.exp.meta.ldam_scale if self.exp.run.head == "cosine" else 1.0
        for k, model in enumerate(self.models):
            export_classifier(model, os.path.join(root, f"export_net{k + 1}"), d.mean, d.std,
                              d.image_shape, logit_scale=scale, class_names=d.class_names)
        return super().export()
