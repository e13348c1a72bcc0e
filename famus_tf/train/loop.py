"""The training program: data, model, learner, the multi-step loop, evaluation,
summaries, checkpoints and export. Receives plain config objects; reads no flags.

Under a tf.distribute strategy (train/distribute.py) the networks, the meta model,
the samplers and every optimiser are created in `strategy.scope()`, the input comes
from train/inputs.py, and the multi-step loop calls `strategy.run` per step. Only the chief writes the
checkpoint, the summaries and the SavedModel into the model directory; other workers
save into private temporary directories (saving is collective) and resume from the
chief's checkpoint.
"""
import dataclasses
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from famus_tf import models
from famus_tf.config import DataConfig, MetaConfig, OptimConfig, RunConfig, to_dict
from famus_tf.data import augment, datasets, noise as noise_lib, pipeline
from famus_tf.meta.step import MetaLearner, compiled_step
from famus_tf.meta import replicas
from famus_tf.train import checkpoint, distribute, evaluate, inputs
from famus_tf.train.summaries import Summaries, WeightMeans, selection_counts, weight_histograms


@dataclasses.dataclass(frozen=True)
class Experiment:
    run: RunConfig
    data: DataConfig
    noise: noise_lib.NoiseConfig
    meta: MetaConfig
    optim: OptimConfig

    def as_dict(self):
        return to_dict(self.run, self.data, self.noise, self.meta, self.optim)


def _multi_step(strategy, learner, train_it, meta_it, mean, std, num_candidates, batch,
                augmentation, xla=False):
    """A function running `n` steps in one graph; returns (sums of the scalar metrics,
    summed gates, and the last batch's example weights and clean mask, of the first
    replica)."""
    dtype = learner.dtype
    names = learner.scalar_metrics()

    def prep(x, stream):
        x = pipeline.preprocess(x, mean, std, dtype)
        stream = stream + 1000 * replicas.replica_id()  # each replica its own crops
        return augment.apply(augmentation, x, learner.optimizer.iterations, stream)

    # The step itself (not the input) is XLA-compiled with --xla.
    train_step = compiled_step(learner, xla=True) if xla else learner.train_step

    def replica_step(x, y, is_clean, xv=None, yv=None):
        if xv is not None:
            m = train_step(prep(x, 11), y, prep(xv, 13), yv)
        else:
            m = train_step(prep(x, 11), y)
        return m, is_clean

    def body(i, sums, gates, weights, clean):
        args = tuple(next(train_it)) + (tuple(next(meta_it)) if meta_it is not None else ())
        m, is_clean = distribute.run_step(strategy, replica_step, args)
        sums = {k: sums[k] + tf.cast(m[k], dtype) for k in names}
        g = m.get("gates", tf.zeros([num_candidates], dtype))
        w = tf.cast(m.get("example_weights", tf.zeros_like(weights)), dtype)
        return i + 1, sums, gates + g, w, is_clean

    def run(n):
        init = (tf.constant(0), {k: tf.zeros([], dtype) for k in names},
                tf.zeros([num_candidates], dtype), tf.zeros([batch], dtype), tf.zeros([batch], tf.bool))
        return tf.while_loop(lambda i, *_: i < n, body, init)[1:]

    return run


_SCALAR_TAGS = {"loss": "train/loss", "accuracy": "train/accuracy", "val_loss": "meta/val_loss",
                "gate_fraction": "famus/gate_fraction", "loss_r": "famus/loss_r",
                "loss_g": "famus/loss_g"}


class Trainer:
    """One training run of one base network (method as configured)."""

    def __init__(self, experiment, prepared=None, strategy=None):
        self.exp = experiment
        self.data = prepared or datasets.prepare(experiment.data, experiment.noise)
        self.strategy = strategy or tf.distribute.get_strategy()

    def run(self):
        exp, data, strategy = self.exp, self.data, self.strategy
        run = exp.run
        chief = distribute.is_chief(strategy)
        write_dir = distribute.write_dir(run.model_dir, strategy)
        keras.utils.set_random_seed(run.seed)
        if chief:
            checkpoint.check_and_write_config(run.model_dir, exp.as_dict())
        steps_per_epoch = data.balanced_batches or len(data.train_labels) // exp.data.batch_size
        optim_cfg = dataclasses.replace(exp.optim, lr_boundaries=tuple(sorted(
            set(exp.optim.lr_boundaries) | {e * steps_per_epoch for e in run.lr_epochs})))
        with strategy.scope():
            model = models.build_model(run.model, data.num_classes, data.image_shape, run.weights_path)
            if run.sync_batchnorm:
                distribute.sync_batchnorm(model)
            learner = MetaLearner(model, data.num_classes, exp.meta, optim_cfg)

        def streams(skip_steps=0):
            return inputs.streams(strategy, data, exp.data, run.seed, run.epochs,
                                  learner.method is not None, skip_steps)

        # One device: the iterators are checkpointed. Distributed iterators cannot be
        # saved; they are rebuilt at the restored step instead (same order, skipped).
        single = strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
        train_it, meta_it = streams() if single else (None, None)
        n_cand = len(learner.selection.candidates) if learner.selection else 0
        with strategy.scope():
            best = tf.Variable(0.0, dtype=tf.float64, name="best_top1")
            counts = tf.Variable(tf.zeros([n_cand], tf.float64), name="selection_counts")
        trackables = dict(learner.trackables(), best_top1=best, selection_counts=counts)
        if train_it is not None:
            trackables["train_iterator"] = train_it
        if meta_it is not None:
            trackables["meta_iterator"] = meta_it
        mgr, restored = checkpoint.manager(write_dir, run.keep_checkpoints,
                                           restore_from=None if chief else run.model_dir, **trackables)
        if restored:
            logging.info("resumed from %s at step %d", restored,
                         int(learner.optimizer.iterations.numpy()))
        if not single:
            train_it, meta_it = streams(int(learner.optimizer.iterations.numpy()))
        summaries = Summaries(os.path.join(run.model_dir, "tensorboard"), enabled=chief)
        if not restored and chief:
            summaries.hparams(_flat_hparams(exp))
            noise_lib.save_noise_file(os.path.join(run.model_dir, "noisy_labels.npz"),
                                      data.train_labels, data.train_clean, exp.noise)
            ns = data.noise_summary()
            if ns is not None:
                table = np.array2string(ns["transition"], precision=3, suppress_small=True)
                logging.info("noise: realised rate %.4f; transition (rows: true class)\n%s",
                             ns["realised_rate"], table)
                summaries.scalars(0, {"noise/realised_rate": ns["realised_rate"]})
                summaries.image(0, "noise/transition", ns["transition"])
                summaries.text(0, "noise/transition_table", table)
        per_replica = exp.data.batch_size // strategy.num_replicas_in_sync
        loop = tf.function(_multi_step(strategy, learner, train_it, meta_it, data.mean, data.std,
                                       n_cand, per_replica, exp.data.augment, run.xla), autograph=False)
        crop = data.image_shape[0] if data.decode_size else None
        evaluator = evaluate.Evaluator(model, data.test_images, data.test_labels, data.mean, data.std,
                                       exp.data.eval_batch_size, data.decode_size, crop)
        extra_evaluators = {name: evaluate.Evaluator(model, x, y, data.mean, data.std,
                                                     exp.data.eval_batch_size, data.decode_size, crop)
                            for name, (x, y) in data.extra_tests.items()}
        names = [model.trainable_variables[i].path for i in learner.selection.candidates] if n_cand else []
        splitter = None
        if (learner.method is not None and run.profile_split and not data.decode_size
                and strategy.num_replicas_in_sync == 1):
            from famus_tf.train.profile import StepSplit
            prep = lambda a: pipeline.preprocess(a, data.mean, data.std, learner.dtype)  # noqa: E731
            b, mb = exp.data.batch_size, min(exp.data.meta_batch_size, len(data.meta_labels))
            splitter = StepSplit(learner, (prep(data.train_images[:b]), tf.constant(data.train_labels[:b]),
                                           prep(data.meta_images[:mb]), tf.constant(data.meta_labels[:mb])))
        history = []
        step = int(learner.optimizer.iterations.numpy())
        if run.export_only and not restored:
            raise FileNotFoundError(f"--export_only: no checkpoint in {run.model_dir}")
        total = run.epochs * steps_per_epoch
        if run.max_steps:
            total = min(total, run.max_steps)
        while step < total and not run.export_only:
            epoch, pos = divmod(step, steps_per_epoch)
            bar = _progress(epoch, run.epochs, steps_per_epoch, pos)
            t_epoch = time.perf_counter()
            weight_means = WeightMeans()  # this epoch's, for results.json (train/results.py)
            end = min(steps_per_epoch, total - epoch * steps_per_epoch)
            while pos < end:
                n = min(run.steps_per_call, end - pos,
                        run.checkpoint_every - step % run.checkpoint_every)
                t0 = time.perf_counter()
                lr = float(learner.learning_rate())
                sums, gates, weights, is_clean = loop(tf.constant(n))
                ms = (time.perf_counter() - t0) * 1000.0 / n
                step, pos = step + n, pos + n
                counts.assign_add(tf.cast(gates, tf.float64))
                if exp.meta.method in ("mwnet", "l2r"):
                    weight_means.add(weights.numpy(), is_clean.numpy())
                scal = {_SCALAR_TAGS[k]: float(v) / n for k, v in sums.items()}
                scal.update({"train/ms_per_step": ms, "train/lr": lr})
                summaries.scalars(step, scal)
                bar.update(pos, scal)
                if step % run.checkpoint_every == 0:
                    mgr.save(checkpoint_number=step)
            result = evaluator.run()
            best.assign(max(float(best.numpy()), result["top1"]))
            result.update(epoch=epoch + 1, best_top1=float(best.numpy()), seconds=time.perf_counter() - t_epoch)
            history.append(result)
            summaries.scalars(step, {f"test/{k}": result[k] for k in ("top1", "top5", "loss")})
            summaries.scalars(step, {"test/best_top1": float(best.numpy()), **weight_means.scalars()})
            for name, ev in extra_evaluators.items():
                extra = ev.run()
                result[name] = extra
                summaries.scalars(step, {f"{name}/{k}": extra[k] for k in ("top1", "top5", "loss")})
                logging.info("epoch %d: %s top1 %.4f top5 %.4f", epoch + 1, name, extra["top1"],
                             extra["top5"])
            if splitter is not None:
                summaries.scalars(step, splitter.measure(ms))
            if meta_it is not None:
                weight_histograms(summaries, step, weights.numpy(), is_clean.numpy())
            if n_cand:
                selection_counts(summaries, step, counts.numpy(), names)
            summaries.flush()
            logging.info("epoch %d/%d: test top1 %.4f top5 %.4f loss %.4f (best %.4f) in %.1f s",
                         epoch + 1, run.epochs, result["top1"], result["top5"], result["loss"],
                         float(best.numpy()), result["seconds"])
            mgr.save(checkpoint_number=step)
        final = evaluator.run()
        final.update(best_top1=float(best.numpy()), last_top1=final["top1"], steps=step,
                     variables_sha1=_fingerprint(model))
        logging.info("final variables sha1 %s (equal on every worker)", final["variables_sha1"])
        for name, ev in extra_evaluators.items():
            final[name] = ev.run()
        if (run.export or run.export_only) and chief:
            from famus_tf.train.export import export_classifier
            final["export_dir"] = export_classifier(model, os.path.join(run.model_dir, "export"),
                                                    data.mean, data.std, data.image_shape)
        summaries.close()
        if write_dir != run.model_dir:  # a non-chief worker's private saves
            import shutil
            shutil.rmtree(write_dir, ignore_errors=True)
        final["tensorboard"] = os.path.join(run.model_dir, "tensorboard")
        final["history"] = history
        return final


def _fingerprint(model):
    """SHA-1 of every variable of `model` (workers of one run must agree)."""
    import hashlib
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


class _Plain:
    def __init__(self, epoch, epochs, total, pos):
        self.epoch, self.epochs, self.total = epoch, epochs, total

    def update(self, pos, values):
        if pos == self.total:
            logging.info("epoch %d/%d step %d/%d %s", self.epoch + 1, self.epochs, pos, self.total,
                         " ".join(f"{k.split('/')[-1]}={v:.4g}" for k, v in values.items()))


class _Bar:
    def __init__(self, epoch, epochs, total, pos):
        print(f"Epoch {epoch + 1}/{epochs}")
        self.bar = keras.utils.Progbar(total, stateful_metrics=["loss", "accuracy", "val_loss"])
        if pos:
            self.bar.update(pos)

    def update(self, pos, values):
        self.bar.update(pos, [(k.split("/")[-1], v) for k, v in values.items()
                              if k in ("train/loss", "train/accuracy", "meta/val_loss")])


def _progress(epoch, epochs, total, pos):
    """A Keras progress bar with ETA on a terminal; plain log lines otherwise."""
    return (_Bar if sys.stdout.isatty() else _Plain)(epoch, epochs, total, pos)
