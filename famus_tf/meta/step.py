"""The training step of every method: plain, MW-Net, L2R and MLC, with or without FaMUS.

`MetaLearner` owns the base network, the method (meta model), the samplers and all
optimisers, and exposes `train_step(images, labels, val_images, val_labels)`, a
Python function meant to be wrapped in `tf.function` (see `compiled_step`). One
iteration of a meta method (paper Algorithm 1):

  1. training forward at w (recorded once) and per-example losses l_i (the training
     loss of losses.py: CE, or LDAM with deferred re-weighting, for every method);
  2. phi from the meta model; virtual step w_hat = w - alpha * g (virtual.py);
  3. validation loss at w_hat, its gradient on the candidate / head tensors;
  4. gates from the samplers (or Random-K / fixed), the gated meta-gradient dL/dphi,
     the meta-model update (beta) and the sampler update (delta, L_r);
  5. actual step on w with phi from the updated meta model, held constant (or, with
     `actual_step='reuse'`, the virtual step's own gradient: actual.py).
The passes hand each other a `VirtualPass`. Only step 5 changes the base network's variables and BatchNorm statistics.

`labels` are integer labels (Algorithm 1) or a co-training `Supervision` of Algorithm 2
(cotrain/losses.py; then `val_labels` are soft targets [m, C]): objective.py says what
changes with them (the per-example loss, the logit gradients, L_val, the accuracy's
labels); the step is the same. `warmup_step` is a plain CE step whatever the method (the
warm-up of Algorithm 2); with `method=plain` a Supervision trains with uniform weights
v = 1/n (the co-training recipe without the meta step).

Under `tf.distribute` the step runs per replica on a shard of the global batch and
equals the single-device step on that global batch: the virtual-step and validation
gradients are summed over replicas, the weights are normalised by global sums, and
every gradient handed to an optimizer is this replica's contribution (Keras sums
them); see replicas.py. Gates come from the global gradients and counter-based noise,
so every replica takes the same decision. BatchNorm statistics are per replica
(averaged into the moving statistics) unless the model's BatchNorm is synchronized.
"""
import dataclasses
from typing import Dict, List

import tensorflow as tf

from famus_tf.config import CotrainConfig, MetaConfig, OptimConfig
from famus_tf.meta import actual as actual_lib, functional as fn
from famus_tf.meta import losses as losses_lib
from famus_tf.meta import objective as objective_lib
from famus_tf.meta import optim, precision as precision_lib, replicas, selection as selection_lib
from famus_tf.meta import virtual
from famus_tf.meta import sampler as sampler_lib
from famus_tf.meta.method import build_method

GATE_POLICIES = ("learned", "random", "fixed", "off")
GATE_WEIGHTINGS = ("none", "inverse_prob")


@dataclasses.dataclass
class VirtualPass:
    """What steps 1-3 of a meta iteration hand to the meta update and the actual step."""
    weights: List[tf.Tensor]        # w: the base network's trainable values
    new_non_trainable: List[tf.Tensor]  # BatchNorm statistics of the training forward
    labels: tf.Tensor               # training labels (or a co-training Supervision)
    objective: object               # what the labels define (objective.py)
    lr: tf.Tensor                   # alpha of the virtual step
    inner: tf.GradientTape          # persistent tape that recorded w -> logits
    logits: tf.Tensor               # training logits, recorded on `inner`
    logits_sg: tf.Tensor            # stop_gradient(logits)
    losses: tf.Tensor               # per-example training loss l_i (losses.py), [n]
    theta_tape: tf.GradientTape     # recorded phi as a function of the meta variables
    phi: tf.Tensor                  # the method's meta quantity (weights, eps, or T)
    tape: tf.GradientTape           # persistent tape that recorded g(phi_sg)
    phi_sg: tf.Tensor               # stop_gradient(phi), watched by `tape`
    recorded: List[tf.Tensor]       # this replica's virtual-step gradient g_l(phi) per tensor
    grads: List[tf.Tensor]          # the global virtual-step gradient (sum over replicas)
    val_loss: tf.Tensor             # L_val(w_hat), mean over the global meta batch
    u: Dict[int, tf.Tensor]         # tensor index -> dL_val/dw_hat_l (watched tensors)


class MetaLearner:
    """Everything one base network trains with; checkpoint its `trackables()`.

    `class_counts` (training examples per class) is needed by the LDAM loss and DRW.
    `cotrain` (a CotrainConfig) gives the prior-penalty switch of co-training batches;
    with `meta_set='pseudo_clean'` the method and loss are checked for Algorithm 2 here.
    """

    def __init__(self, model, num_classes, meta=MetaConfig(), optim_config=OptimConfig(),
                 class_counts=None, cotrain=None):
        cotrain = cotrain or CotrainConfig()
        if cotrain.meta_set == "pseudo_clean":
            objective_lib.check_cotrain(meta)
        actual_lib.check(meta.method, meta.actual_step, meta.mlc_update)
        self.prior = cotrain.prior
        if meta.gate_weighting not in GATE_WEIGHTINGS:
            raise ValueError(f"gate_weighting must be one of {GATE_WEIGHTINGS}, "
                             f"got {meta.gate_weighting!r}")
        if meta.gate_policy not in GATE_POLICIES:
            raise ValueError(f"gate_policy must be one of {GATE_POLICIES}, got {meta.gate_policy!r}")
        if optim_config.virtual_lr is not None and optim_config.virtual_lr <= 0:
            raise ValueError(f"virtual_lr must be positive (a zero virtual step makes every "
                             f"meta-gradient zero), got {optim_config.virtual_lr}; "
                             "None uses the scheduled lr")
        self.model, self.meta, self.optim_config = model, meta, optim_config
        self.dtype = model.trainable_variables[0].dtype
        self.precision = precision_lib.Precision(model)  # mixed precision, loss scaling
        self.optimizer = optim.sgd(optim.piecewise(optim_config.lr, optim_config.lr_boundaries,
                                                   optim_config.lr_decay),
                                   optim_config.momentum, optim_config.nesterov, name="base_sgd")
        self.optimizer.build(model.trainable_variables)
        self.loss = losses_lib.TrainingLoss(meta.loss, class_counts, meta.ldam_max_margin,
                                            meta.ldam_scale, meta.drw_step, meta.drw_beta,
                                            self.optimizer.iterations, self.dtype)
        self.method = None if meta.method == "plain" else build_method(
            meta.method, meta, num_classes, self.dtype, self.loss)
        self.samplers, self.meta_optimizer, self.sampler_optimizer = [], None, None
        self.selection = None
        if self.method is not None:
            self._build_meta(model, meta)

    def _build_meta(self, model, meta):
        """The candidate selection, the meta optimiser and the samplers."""
        paths = [v.path for v in model.trainable_variables]
        segments = meta.num_segments
        if _synchronized_bn(model) and tf.distribute.get_strategy().num_replicas_in_sync > 1:
            segments = 0  # its all-reduces cannot run inside tf.switch_case branches
        self.selection = (selection_lib.resolve(paths, meta.candidates, meta.head_prefix,
                                                meta.head_always_on, segments)
                          if meta.famus else selection_lib.full(paths, meta.head_prefix))
        if self.method.meta_variables:
            self.meta_optimizer = optim.sgd(meta.meta_lr, meta.meta_momentum, name="meta_sgd")
            self.meta_optimizer.build(list(self.method.meta_variables))
        if meta.famus and meta.gate_policy == "learned" and self.selection.candidates:
            shapes = [model.trainable_variables[i].shape for i in self.selection.candidates]
            self.samplers = [sampler_lib.build_sampler(sampler_lib.output_dim(s), meta.sampler_hidden,
                                                       meta.sampler_depth, name=f"sampler_{k}")
                             for k, s in enumerate(shapes)]
            self.sampler_optimizer = optim.sgd(meta.sampler_lr, meta.sampler_momentum,
                                               name="sampler_sgd")
            self.sampler_optimizer.build(self.sampler_variables)

    @property
    def sampler_variables(self):
        return [v for s in self.samplers for v in s.trainable_variables]

    def trackables(self):
        """Objects whose state a checkpoint must hold."""
        out = {"model": self.model, "optimizer": self.optimizer}
        if self.method is not None and self.method.meta_variables:
            out["meta_variables"] = list(self.method.meta_variables)
            out["meta_optimizer"] = self.meta_optimizer
        if self.samplers:
            out["samplers"] = self.samplers
            out["sampler_optimizer"] = self.sampler_optimizer
        if self.precision.dynamic:
            out["loss_scale"] = self.precision.variables()
        return out

    def scalar_metrics(self, cotrain=False):
        """Names of the scalar metrics `train_step` returns, in a fixed order (for a
        co-training Supervision with `cotrain=True`; `warmup_step`: loss and accuracy)."""
        names = ["loss", "accuracy"] + (["loss_u"] if cotrain else [])
        if self.method is not None:
            names += ["val_loss"]
            if self.selection.candidates:
                names += ["gate_fraction"] + (["loss_r"] if self.samplers else [])
            if self._uses_lg():
                names += ["loss_g"]
        return names

    def _uses_lg(self):
        return bool(self.meta.famus and self.selection.head and self.method.uses_lg)

    def learning_rate(self):
        """The current scheduled base learning rate, as a tensor."""
        return tf.cast(self.optimizer.learning_rate, self.dtype)

    # ------------------------------------------------------------------ steps
    def train_step(self, images, labels, val_images=None, val_labels=None):
        self.precision.begin_step()
        if self.method is None:
            if objective_lib.is_supervision(labels):
                return self._uniform_step(images, labels, self._objective(labels))
            return self.warmup_step(images, labels)
        return self._meta_step(images, labels, val_images, val_labels)

    def _objective(self, labels):
        return objective_lib.select(labels, self.loss, self.method, self.prior, self.meta)

    def _actual_step(self, grads, new_non_trainable):
        variables = self.model.trainable_variables
        grads = optim.with_decay(grads, variables,
                                 replicas.scale_for_sum(self.optim_config.weight_decay))
        nt = replicas.all_mean(new_non_trainable)
        self.precision.apply(self.optimizer, grads, variables,
                             then=lambda: replicas.assign(self.model.non_trainable_variables, nt))
        self.precision.end_step()

    def warmup_step(self, images, labels):
        """A plain step on integer labels whatever the method: the mean training loss
        (CE, or LDAM-DRW as configured), SGD with coupled weight decay."""
        self.precision.begin_step()
        w, nt = fn.trainable_values(self.model), fn.non_trainable_values(self.model)
        with tf.GradientTape() as tape:
            tape.watch(w)
            logits, new_nt = fn.forward(self.model, w, nt, images)
            loss = self.loss.plain_loss(logits, labels)
        self._actual_step(tape.gradient(loss, w, unconnected_gradients=fn.ZERO), new_nt)
        return {"loss": replicas.all_sum(loss), "accuracy": _accuracy(logits, labels)}

    def _uniform_step(self, images, sup, objective):
        """A co-training batch without a meta step: the loss of objective.py with uniform
        weights v = 1/n (DivideMix's L_x + lambda_u L_u + prior), one SGD step."""
        w, nt = fn.trainable_values(self.model), fn.non_trainable_values(self.model)
        tape = tf.GradientTape()
        with tape:
            tape.watch(w)
            logits, new_nt = fn.forward(self.model, w, nt, images)
        logits_sg = tf.stop_gradient(logits)
        losses = objective.per_example(logits_sg, sup)
        v = tf.fill(tf.shape(losses), 1.0 / replicas.global_size(losses))
        grads = fn.inner_gradient(tape, logits, w, objective.logit_grads(v, logits_sg, sup))
        self._actual_step(grads, new_nt)
        return {**self._batch_metrics(objective, logits_sg, sup, losses), "example_weights": v}

    def _batch_metrics(self, objective, logits, labels, losses):
        """loss (global mean of l_i), accuracy, and for a Supervision loss_u."""
        out = {"loss": replicas.all_sum(replicas.batch_mean(losses)),
               "accuracy": _accuracy(logits, objective.accuracy_labels(labels))}
        if objective_lib.is_supervision(labels):
            out["loss_u"] = objective.unlabeled_mse(logits, labels)
        return out

    def _gates(self, grads, lr, u, seed_step):
        """Hard 0/1 gates per candidate, their keep probabilities P(r_l = 1) (stop-gradient;
        what --gate_weighting=inverse_prob divides by) and, for learned samplers, their update."""
        sel, meta = self.selection, self.meta
        n = len(sel.candidates)
        ones = tf.ones([n], self.dtype)
        if meta.gate_policy in ("fixed", "off"):
            return ones if meta.gate_policy == "fixed" else tf.zeros([n], self.dtype), ones, {}
        if meta.gate_policy == "random":
            return (selection_lib.random_gates(n, meta.num_active, seed_step, meta.seed, self.dtype),
                    ones * (min(meta.num_active, n) / n), {})
        with tf.GradientTape() as tape:
            soft, probs = [], []
            for k, (i, net) in enumerate(zip(sel.candidates, self.samplers)):
                logits = net(tf.cast(sampler_lib.pooled_gradient(grads[i]), net.dtype))
                gate = sampler_lib.straight_through_gumbel(logits[0], meta.gumbel_tau, seed_step,
                                                           meta.seed * 1009 + k + 1)
                soft.append(tf.cast(gate, self.dtype))
                probs.append(tf.cast(sampler_lib.on_probability(logits[0]), self.dtype))
            hard = tf.stop_gradient(tf.stack(soft))
            # dL_c/dr_l = <u_l, dw_hat_l/dr_l> = -alpha * s_l * <u_l, g_l>, s_l = +1 on, -1 off.
            sign = 2.0 * hard - 1.0
            coeffs = [tf.stop_gradient(-lr * sign[k] * fn.dot(u[i], grads[i]))
                      for k, i in enumerate(sel.candidates)]
            loss_r = sampler_lib.gate_count_loss(soft, float(meta.num_active), meta.lr_loss)
            loss = tf.add_n([s * c for s, c in zip(soft, coeffs)]) + meta.lambda_r * loss_r
            loss = replicas.scale_for_sum(loss)  # replicated: every replica computes it alike
        variables = self.sampler_variables
        sgrads = tape.gradient(loss, variables, unconnected_gradients=fn.ZERO)
        self.precision.apply(self.sampler_optimizer, sgrads, variables)
        return hard, tf.stop_gradient(tf.stack(probs)), {"loss_r": loss_r}

    def _virtual_lr(self):
        """alpha of the virtual step: --virtual_lr if set (None: the scheduled lr)."""
        if self.optim_config.virtual_lr is None:
            return self.learning_rate()
        return tf.constant(self.optim_config.virtual_lr, self.dtype)

    def _virtual_pass(self, images, labels, val_images, val_labels):
        """Steps 1-3: training forward, phi, virtual step, validation gradients."""
        model, method, sel = self.model, self.method, self.selection
        w, nt = fn.trainable_values(model), fn.non_trainable_values(model)
        inner = tf.GradientTape(persistent=True)
        with inner:
            inner.watch(w)
            logits, new_nt = fn.forward(model, w, nt, images)
        logits_sg = tf.stop_gradient(logits)
        objective = self._objective(labels)
        losses = objective.per_example(logits_sg, labels)
        theta_tape = tf.GradientTape()
        with theta_tape:
            phi = method.phi(losses, labels)
        tape, phi_sg, recorded = virtual.recorded_gradients(
            inner, logits, w, objective, phi, logits_sg, labels)
        grads = self.precision.finite_or_zero(replicas.all_sum(recorded))  # the global g
        lr = self._virtual_lr()
        w_hat = virtual.virtual_weights(w, grads, lr)
        watch = sorted(set(sel.candidates) | set(sel.always_on) | set(sel.head))
        val_loss, _, u = virtual.validation_gradients(model, w_hat, nt, val_images, val_labels, watch,
                                                      objective.validation_loss)
        return VirtualPass(weights=w, new_non_trainable=new_nt, labels=labels, objective=objective,
                           lr=lr, inner=inner,
                           logits=logits, logits_sg=logits_sg, losses=losses, theta_tape=theta_tape,
                           phi=phi, tape=tape, phi_sg=phi_sg, recorded=recorded, grads=grads,
                           val_loss=val_loss, u=u)

    def _sampler_gradients(self, c):
        """The training gradients the samplers see and are trained with: the virtual
        step's, or those of the method's `sampler_phi` (L2R, whose virtual step is zero)."""
        phi = self.method.sampler_phi(c.losses)
        if phi is None:
            return c.grads
        cand = list(self.selection.candidates)
        grads = fn.inner_gradient(c.inner, c.logits, [c.weights[i] for i in cand],
                                  c.objective.logit_grads(phi, c.logits_sg, c.labels))
        out = list(c.grads)
        for i, g in zip(cand, replicas.all_sum(grads)):
            out[i] = g
        return out

    def _phi_gradient(self, c, hard, keep_probs=None):
        """dL_val/dphi through the tensors the gates (0/1 per candidate) keep; with
        --gate_weighting=inverse_prob each kept term divided by its keep probability."""
        if self.meta.gate_weighting == "none":
            keep_probs = None
        return self.precision.finite_or_zero(virtual.gated_meta_gradient(
            self.selection, hard, keep_probs=keep_probs, tape=c.tape, phi_sg=c.phi_sg, grads=c.recorded,
            values=c.grads, lr=c.lr, u=c.u, lambda_g=self.meta.lambda_g if self._uses_lg() else 0.0,
            lg_mode=self.meta.lg_loss, scale=self.precision.second_order_scale()))

    def _theta_gradients(self, c, d_phi):
        variables = list(self.method.meta_variables)
        return c.theta_tape.gradient(c.phi, variables, output_gradients=d_phi,
                                     unconnected_gradients=fn.ZERO)

    def meta_gradient(self, images, labels, val_images, val_labels, gates=None, keep_probs=None):
        """The meta-gradients of one step for given 0/1 candidate gates (and, with
        --gate_weighting=inverse_prob, their keep probabilities); changes nothing.

        Returns {'phi': ..., 'd_phi': dL_val/dphi, 'theta': [dL_val/dtheta per meta variable]}.
        """
        c = self._virtual_pass(images, labels, val_images, val_labels)
        if gates is not None:
            gates = tf.cast(gates, self.dtype)
        if keep_probs is not None:
            keep_probs = tf.cast(keep_probs, self.dtype)
        d_phi = self._phi_gradient(c, gates, keep_probs)
        out = {"phi": c.phi, "d_phi": d_phi}
        out["theta"] = self._theta_gradients(c, d_phi) if self.method.meta_variables else []
        return out

    def _meta_update(self, c, d_phi):
        """Step 4: the meta optimiser's step on theta (beta, coupled decay), then projection."""
        variables = list(self.method.meta_variables)
        if not variables:
            return
        mgrads = optim.with_decay(self._theta_gradients(c, d_phi), variables,
                                  replicas.scale_for_sum(self.meta.meta_weight_decay))
        self.precision.apply(self.meta_optimizer, mgrads, variables, then=self.method.project)

    def _meta_step(self, images, labels, val_images, val_labels):
        meta, method, sel = self.meta, self.method, self.selection
        c = self._virtual_pass(images, labels, val_images, val_labels)
        metrics, hard, keep_probs = {}, None, None
        if sel.candidates:
            hard, keep_probs, extra = self._gates(self._sampler_gradients(c), c.lr, c.u,
                                                  self.optimizer.iterations)
            metrics.update(extra, gates=hard, gate_fraction=tf.reduce_mean(hard))
        d_phi = self._phi_gradient(c, hard, keep_probs)
        self._meta_update(c, d_phi)
        if self._uses_lg():
            metrics["loss_g"] = sampler_lib.gradient_match_loss(
                [c.grads[i] for i in sel.head], [c.u[i] for i in sel.head], meta.lg_loss)
        # 5. actual step with the updated meta model, phi held constant (or reused).
        phi_actual, actual = actual_lib.gradient(meta.actual_step, method, c, d_phi)
        self._actual_step(actual, c.new_non_trainable)
        losses = c.losses
        uniform = tf.fill(tf.shape(losses), 1.0 / tf.cast(tf.size(losses), losses.dtype))
        metrics.update(self._batch_metrics(c.objective, c.logits_sg, labels, losses))
        metrics.update({"val_loss": c.val_loss, "lr": c.lr,
                        "example_weights": phi_actual if phi_actual.shape.rank == 1 else uniform})
        return metrics


def _synchronized_bn(model):
    return any(getattr(layer, "synchronized", False) for layer in fn.sublayers(model))


def _accuracy(logits, labels):
    """Top-1 accuracy over the global batch."""
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=labels.dtype), labels), logits.dtype)
    return replicas.all_sum(replicas.batch_mean(correct))


def compiled_step(learner, xla=False):
    """`learner.train_step` as one tf.function (optionally XLA-compiled)."""
    return tf.function(learner.train_step, jit_compile=xla, autograph=False)
