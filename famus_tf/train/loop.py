"""The training program: data, model, learner, the multi-step loop, evaluation,
summaries, checkpoints and export. Receives plain config objects; reads no flags.

`Trainer.run` reads like the algorithm; each part is a method with a name (build,
restore, open_summaries, compile_loop, build_evaluators, train_epoch, evaluate,
write_summaries, finish, export, clean_up), so that a recipe with other networks or
an end-of-epoch step subclasses the Trainer and overrides or reuses the parts.

Under a tf.distribute strategy (train/distribute.py) the networks, the meta model,
the samplers and every optimiser are created in `strategy.scope()`, the input comes
from train/inputs.py, and the multi-step loop calls `strategy.run` per step; each
step's example weights, gathered over the replicas with their examples' indices, go
into the per-example weight store (train/weight_store.py) in the loop's cross-replica
part. Only the chief writes the checkpoint, the summaries and the SavedModel into the
model directory; other workers save into private temporary directories (saving is
collective) and resume from the chief's checkpoint.
"""
import dataclasses
import hashlib
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from famus_tf import models
from famus_tf.data import augment, datasets, noise as noise_lib, pipeline
from famus_tf.meta import replicas, selection
from famus_tf.meta.step import MetaLearner, compiled_step
from famus_tf.train import checkpoint, distribute, evaluate, inputs, nonfinite
from famus_tf.train import suspects, weight_store
from famus_tf.train.export import export_classifier, write_class_names
from famus_tf.train.profile import StepSplit
from famus_tf.train.progress import progress
from famus_tf.train.summaries import (Summaries, WeightMeans, last_step, selection_counts,
                                      store_histograms, weight_histograms)


def make_prep(learner, mean, std, augmentation):
    """prep(images uint8, stream) -> normalised, augmented float images of `learner`'s
    dtype; the draws are a function of (learner's step, stream, replica), so each replica
    has its own crops (famus_tf/counter_rng.py)."""
    def prep(x, stream):
        x = pipeline.preprocess(x, mean, std, learner.dtype)
        stream = stream + 1000 * replicas.replica_id()
        return augment.apply(augmentation, x, learner.optimizer.iterations, stream)
    return prep


def _multi_step(strategy, learner, train_it, meta_it, mean, std, num_candidates, batch,
                augmentation, xla=False, guard=None, store=None):
    """A function running `n` steps in one graph; returns (sums of the scalar metrics,
    summed gates, and the last batch's example weights and clean mask, of the first
    replica; then the non-finite guard's index of the first bad step in the call (-1:
    none), its code and the number of skipped steps, see train/nonfinite.py). With a
    `store` (train/weight_store.py) every good step writes its global batch's indices
    and example weights into it."""
    guard = guard or nonfinite.for_learner("stop", learner)
    dtype = learner.dtype
    names = learner.scalar_metrics()

    prep = make_prep(learner, mean, std, augmentation)

    # The step itself (not the input) is XLA-compiled with --xla.
    train_step = compiled_step(learner, xla=True) if xla else learner.train_step

    def replica_step(x, y, is_clean, index, xv=None, yv=None):
        if xv is not None:
            m = train_step(prep(x, 11), y, prep(xv, 13), yv)
        else:
            m = train_step(prep(x, 11), y)
        seen = replicas.all_gather((index, m["example_weights"])) if store is not None else ()
        return m, is_clean, seen

    def iteration():
        args = tuple(next(train_it)) + (tuple(next(meta_it)) if meta_it is not None else ())
        m, is_clean, seen = distribute.run_step(strategy, replica_step, args)
        return m, (m, is_clean, seen)

    def add(state, out, ok):
        (sums, gates, weights, _), (m, is_clean, seen) = state, out
        keep = lambda v: tf.where(ok, tf.cast(v, dtype), tf.zeros_like(v, dtype))  # noqa: E731
        written = [store.update(*seen, ok)] if store is not None else []
        with tf.control_dependencies(written):  # a skipped step leaves the store alone
            return ({k: sums[k] + keep(m[k]) for k in names},
                    gates + keep(m.get("gates", tf.zeros([num_candidates], dtype))),
                    tf.cast(m.get("example_weights", tf.zeros_like(weights)), dtype),
                    tf.identity(is_clean))

    def run(n):
        init = ({k: tf.zeros([], dtype) for k in names}, tf.zeros([num_candidates], dtype),
                tf.zeros([batch], dtype), tf.zeros([batch], tf.bool))
        state, first_bad, code, skipped = nonfinite.guarded_loop(guard, n, iteration, add, init)
        return (*state, first_bad, code, skipped)

    return run


HPARAMS_METRICS = ("test/top1", "test/best_top1", "test/loss", "train/loss")
_SCALAR_TAGS = {"loss": "train/loss", "accuracy": "train/accuracy", "val_loss": "meta/val_loss",
                "gate_fraction": "famus/gate_fraction", "loss_r": "famus/loss_r",
                "loss_g": "famus/loss_g"}


class Trainer:
    """One training run of one base network (method as configured)."""

    store = None  # the per-example weight store (train/weight_store.py), made by `restore`

    def __init__(self, experiment, prepared=None, strategy=None):
        self.exp = experiment
        self.data = prepared or datasets.prepare(experiment.data, experiment.noise)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = distribute.is_chief(self.strategy)
        self.write_dir = distribute.write_dir(experiment.run.model_dir, self.strategy)
        self.steps_per_epoch = (self.data.balanced_batches
                                or len(self.data.train_labels) // experiment.data.batch_size)
        self.num_epochs = experiment.run.epochs  # the run's epochs (CoTrainer: warm-up included)
        self.total = experiment.run.epochs * self.steps_per_epoch
        if experiment.run.max_steps:
            self.total = min(self.total, experiment.run.max_steps)

    def run(self):
        """Trains epoch by epoch from the last checkpoint; returns the final results."""
        self.start()
        history = []
        while not self.exp.run.export_only and (where := self.position()) is not None:
            epoch, pos = where
            t_epoch = time.perf_counter()
            last = self.train_epoch(epoch, pos)
            result = self.evaluate(epoch, time.perf_counter() - t_epoch)
            self.write_summaries(result, last)
            history.append(result)
            self.end_epoch(last)
            checkpoint.save(self.manager, self.step)
        final = self.finish()
        self.clean_up()
        final["history"] = history
        return final

    # -- the parts ----------------------------------------------------------------------

    def start(self):
        """Seeds, the networks (a configuration they refuse writes nothing), config.json
        (refusing another configuration's checkpoint), the class names, the restored
        state, the summaries, the loop, the evaluators."""
        keras.utils.set_random_seed(self.exp.run.seed)
        self.build()
        if self.chief:
            checkpoint.check_and_write_config(self.exp.run.model_dir, self.exp.as_dict())
            write_class_names(self.exp.run.model_dir, self.data.class_names)
        self.restore()
        self.open_summaries()
        self.compile_loop()
        self.build_evaluators()

    def position(self):
        """(epoch, step within it) to train next, or None when the run is done."""
        return divmod(self.step, self.steps_per_epoch) if self.step < self.total else None

    def end_epoch(self, last):
        """After an epoch's (or a part epoch's) summaries, before its checkpoint."""

    def final_model(self):
        """The network that is evaluated as `test/...`, fingerprinted and exported."""
        return self.model

    def suspect_scoring(self):
        """(network, [N] meta-learned weights of the store or None, [N] clean
        probabilities or None) of suspects.csv (train/suspects.py)."""
        return self.final_model(), None if self.store is None else self.store.means(), None

    def optim_config(self):
        """The base optimiser's config, epoch boundaries (--lr_epochs) added as iterations."""
        exp = self.exp
        return dataclasses.replace(exp.optim, lr_boundaries=tuple(sorted(
            set(exp.optim.lr_boundaries) | {e * self.steps_per_epoch for e in exp.run.lr_epochs})))

    def meta_config(self):
        """The method's config, the DRW epoch (--drw_epoch) converted to an iteration."""
        meta = self.exp.meta
        return dataclasses.replace(meta, drw_step=meta.drw_step
                                   or self.exp.run.drw_epoch * self.steps_per_epoch)

    def class_counts(self):
        """Training examples per (noisy) class, for LDAM's margins and DRW's weights."""
        labels = self.data.train_labels
        return np.bincount(labels[labels >= 0], minlength=self.data.num_classes)

    def network(self, meta):
        """A base network of --model and its MetaLearner with method config `meta` (call
        in the strategy's scope)."""
        run, data = self.exp.run, self.data
        model = models.build_model(run.model, data.num_classes, data.image_shape,
                                   run.weights_path, run.head, run.precision)
        if run.sync_batchnorm:
            distribute.sync_batchnorm(model)
        learner = MetaLearner(model, data.num_classes, meta, self.optim_config(),
                              class_counts=self.class_counts(), cotrain=self.exp.cotrain)
        if meta.famus and learner.method is not None:  # a run's gates must have something to sample
            selection.check_sampled(learner.selection, meta.candidates, meta.num_active,
                                    meta.gate_policy)
        return model, learner

    def build(self):
        """The base network and its MetaLearner, in the strategy's scope."""
        with self.strategy.scope():
            self.model, self.learner = self.network(self.meta_config())
        chosen = self.learner.selection
        self.num_candidates = len(chosen.candidates) if chosen else 0

    def streams(self, skip_steps=0):
        """(train iterator, meta iterator or None), starting after `skip_steps` steps."""
        run = self.exp.run
        return inputs.streams(self.strategy, self.data, self.exp.data, run.seed, run.epochs,
                              self.learner.method is not None, skip_steps)

    def restore(self):
        """The input streams, the run's counters and the checkpoint manager; restores the
        latest checkpoint if there is one (sets `self.step`)."""
        run, strategy = self.exp.run, self.strategy
        # One device: the iterators are checkpointed. Distributed iterators cannot be
        # saved; they are rebuilt at the restored step instead (same order, skipped).
        single = strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
        self.train_it, self.meta_it = self.streams() if single else (None, None)
        with strategy.scope():
            self.best = tf.Variable(0.0, dtype=tf.float64, name="best_top1")
            self.counts = tf.Variable(tf.zeros([self.num_candidates], tf.float64),
                                      name="selection_counts")
            self.skipped = tf.Variable(0, dtype=tf.int64, name="nonfinite_skipped")
        # outside the scope: plain variables that the loop's cross-replica part updates
        self.store = (weight_store.WeightStore(len(self.data.train_labels))
                      if weight_store.keeps_store(self.exp.meta.method) else None)
        trackables = dict(self.learner.trackables(), best_top1=self.best,
                          selection_counts=self.counts, nonfinite_skipped=self.skipped)
        if self.store is not None:
            trackables["meta_weight_store"] = self.store
        if self.train_it is not None:
            trackables["train_iterator"] = self.train_it
        if self.meta_it is not None:
            trackables["meta_iterator"] = self.meta_it
        self.manager, self.restored = checkpoint.manager(
            self.write_dir, run.keep_checkpoints,
            restore_from=None if self.chief else run.model_dir, **trackables)
        self.step = int(self.learner.optimizer.iterations.numpy())
        if self.restored:
            logging.info("resumed from %s at step %d", self.restored, self.step)
        if not single:
            self.train_it, self.meta_it = self.streams(self.step)
        if run.export_only and not self.restored:
            raise FileNotFoundError(f"--export_only: no checkpoint in {run.model_dir}")

    def open_summaries(self):
        """The TensorBoard writer; on a fresh run, the hparams and the realised noise."""
        run, data = self.exp.run, self.data
        logdir = os.path.join(run.model_dir, "tensorboard")
        # Resumed: the steps its predecessor wrote after the checkpoint are not written twice.
        after = last_step(logdir) if self.restored and self.chief else -1
        self.summaries = Summaries(logdir, enabled=self.chief, after_step=after)
        if self.restored or not self.chief:
            return
        self.summaries.hparams(_flat_hparams(self.exp), HPARAMS_METRICS)
        noise_lib.save_noise_file(os.path.join(run.model_dir, "noisy_labels.npz"),
                                  data.train_labels, data.train_clean, self.exp.noise)
        ns = data.noise_summary()
        if ns is not None:
            table = np.array2string(ns["transition"], precision=3, suppress_small=True)
            logging.info("noise: realised rate %.4f; transition (rows: true class)\n%s",
                         ns["realised_rate"], table)
            self.summaries.scalars(0, {"noise/realised_rate": ns["realised_rate"]})
            self.summaries.image(0, "noise/transition", ns["transition"])
            self.summaries.text(0, "noise/transition_table", table)

    def compile_loop(self):
        """`self.loop(n)`: n training steps in one compiled call."""
        data, exp = self.data, self.exp
        per_replica = exp.data.batch_size // self.strategy.num_replicas_in_sync
        self.guard = nonfinite.for_learner(exp.run.on_nonfinite, self.learner)
        self.loop = tf.function(_multi_step(self.strategy, self.learner, self.train_it, self.meta_it,
                                            data.mean, data.std, self.num_candidates, per_replica,
                                            exp.data.augment, exp.run.xla, self.guard, self.store),
                                autograph=False)

    def build_evaluators(self):
        """Evaluators of the test set and any extra test sets; the step-time splitter."""
        data, exp, learner = self.data, self.exp, self.learner
        self.evaluator, self.extra_evaluators = self.evaluators(self.final_model())
        self.splitter = None
        if (learner.method is not None and exp.run.profile_split and not data.decode_size
                and self.strategy.num_replicas_in_sync == 1):
            prep = lambda a: pipeline.preprocess(a, data.mean, data.std, learner.dtype)  # noqa: E731
            b, mb = exp.data.batch_size, min(exp.data.meta_batch_size, len(data.meta_labels))
            self.splitter = StepSplit(learner, (
                prep(data.train_images[:b]), tf.constant(data.train_labels[:b]),
                prep(data.meta_images[:mb]), tf.constant(data.meta_labels[:mb])))

    def evaluators(self, model):
        """(evaluator of the test set, {name: evaluator} of the extra test sets) of `model`."""
        data = self.data
        crop = data.image_shape[0] if data.decode_size else None

        def make(x, y):
            return evaluate.Evaluator(model, x, y, data.mean, data.std,
                                      self.exp.data.eval_batch_size, data.decode_size, crop)

        return make(data.test_images, data.test_labels), {
            name: make(x, y) for name, (x, y) in data.extra_tests.items()}

    def train_epoch(self, epoch, pos):
        """Trains epoch `epoch` from its step `pos` to its end (or the run's last step),
        writing the training scalars and checkpoints; returns the last call's
        {ms, weights, is_clean}."""
        run = self.exp.run
        bar = progress(epoch, self.num_epochs, self.steps_per_epoch, pos, self.total - self.step,
                       run.log_every_secs)
        end = min(self.steps_per_epoch, self.total - epoch * self.steps_per_epoch)
        last = {"weight_means": WeightMeans()}  # this epoch's, for results.json (train/results.py)
        while pos < end:
            n = min(run.steps_per_call, end - pos,
                    run.checkpoint_every - self.step % run.checkpoint_every)
            t0 = time.perf_counter()
            lr = float(self.learner.learning_rate())
            sums, gates, weights, is_clean, first_bad, code, skipped = self.loop(tf.constant(n))
            self.guard.after_call(first_bad, code, self.step)  # stop mode: raises, saves nothing
            ms = (time.perf_counter() - t0) * 1000.0 / n
            self.step, pos = self.step + n, pos + n
            self.counts.assign_add(tf.cast(gates, tf.float64))
            if weight_store.keeps_store(self.exp.meta.method):
                last["weight_means"].add(weights.numpy(), is_clean.numpy())
            good = max(n - int(skipped), 1)
            scal = {_SCALAR_TAGS[k]: float(v) / good for k, v in sums.items()}
            scal.update({"train/ms_per_step": ms, "train/lr": lr})
            if self.guard.mode == "skip":
                scal["train/nonfinite_skipped"] = float(self.skipped.assign_add(int(skipped)))
            self.summaries.scalars(self.step, scal)
            bar.update(pos, scal)
            if self.step % run.checkpoint_every == 0:
                checkpoint.save(self.manager, self.step)
            last.update(ms=ms, weights=weights, is_clean=is_clean)
        return last

    def evaluate(self, epoch, seconds):
        """Test (and extra test) accuracies after epoch `epoch`; updates the best top-1."""
        result = self.evaluator.run()
        self.best.assign(max(float(self.best.numpy()), result["top1"]))
        result.update(epoch=epoch + 1, best_top1=float(self.best.numpy()), seconds=seconds)
        for name, ev in self.extra_evaluators.items():
            result[name] = ev.run()
        return result

    def write_summaries(self, result, last):
        """The epoch's test scalars, step-time split, weight histograms, selection counts
        and log lines."""
        s, step, epoch = self.summaries, self.step, result["epoch"]
        s.scalars(step, {f"test/{k}": result[k] for k in ("top1", "top5", "loss")})
        s.scalars(step, {"test/best_top1": result["best_top1"], **last["weight_means"].scalars()})
        for name in self.extra_evaluators:
            extra = result[name]
            s.scalars(step, {f"{name}/{k}": extra[k] for k in ("top1", "top5", "loss")})
            logging.info("epoch %d: %s top1 %.4f top5 %.4f", epoch, name, extra["top1"],
                         extra["top5"])
        if self.splitter is not None and "ms" in last:
            s.scalars(step, self.splitter.measure(last["ms"]))
        if self.meta_it is not None and "ms" in last:
            weight_histograms(s, step, last["weights"].numpy(), last["is_clean"].numpy())
        if self.store is not None and self.data.train_clean is not None:
            store_histograms(s, step, self.store.means(),
                             self.data.train_clean == self.data.train_labels)
        if self.num_candidates:
            names = [self.model.trainable_variables[i].path for i in self.learner.selection.candidates]
            selection_counts(s, step, self.counts.numpy(), names)
        suspects.summarise(self, step)
        s.flush()
        logging.info("epoch %d/%d: test top1 %.4f top5 %.4f loss %.4f (best %.4f) in %.1f s",
                     epoch, self.num_epochs, result["top1"], result["top5"], result["loss"],
                     result["best_top1"], result["seconds"])

    def finish(self):
        """The final evaluation, the variables' fingerprint and the export."""
        final = self.evaluator.run()
        final.update(best_top1=float(self.best.numpy()), last_top1=final["top1"], steps=self.step,
                     variables_sha1=_fingerprint(self.final_model()))
        logging.info("final variables sha1 %s%s", final["variables_sha1"],
                     " (equal on every worker)" if _workers(self.strategy) > 1 else "")
        for name, ev in self.extra_evaluators.items():
            final[name] = ev.run()
        if (self.exp.run.export or self.exp.run.export_only) and self.chief:
            final["export_dir"] = self.export()
        final["suspects"] = suspects.write_for(self) if self.chief else None
        final["tensorboard"] = os.path.join(self.exp.run.model_dir, "tensorboard")
        return final

    def export(self):
        """Writes the SavedModel of the base network; returns its directory."""
        data = self.data
        scale = self.exp.meta.ldam_scale if self.exp.run.head == "cosine" else 1.0
        path = os.path.join(self.exp.run.model_dir, "export")
        try:
            return export_classifier(self.final_model(), path, data.mean, data.std,
                                     data.image_shape, logit_scale=scale,
                                     class_names=data.class_names)
        except (tf.errors.OpError, OSError) as e:
            raise checkpoint.SaveFailed(f"exporting the SavedModel to {path} failed: "
                                        f"{checkpoint.first_line(e)}; the checkpoints are kept, "
                                        "export them with --export_only") from None

    def clean_up(self):
        """Ends the hparams session and closes the summaries; removes a non-chief worker's
        private saves."""
        if not self.exp.run.export_only:
            self.summaries.end_session(self.step)
        self.summaries.close()
        if self.write_dir != self.exp.run.model_dir:
            shutil.rmtree(self.write_dir, ignore_errors=True)


def _workers(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return sum(len(v) for v in spec.values()) if spec else 1


def _fingerprint(model):
    """SHA-1 of every variable of `model` (workers of one run must agree)."""
    digest = hashlib.sha1()
    for v in model.variables:
        digest.update(np.ascontiguousarray(v.numpy()).tobytes())
    return digest.hexdigest()


def _flat_hparams(exp):
    out = {}
    for group, fields in exp.as_dict().items():
        for k, v in fields.items():
            if isinstance(v, (int, float, str, bool)):
                out[f"{group}.{k}"] = v
    return out
