"""The engine on co-training batches (meta/objective.py) and the co-training iteration
(cotrain/step.py), float64, tiny models.

References are written from ALGORITHM.md §8 (the virtual loss of step 4, L_c of step 5,
co-refinement and co-guessing of step 1), not from the engine: finite differences of
L_c(w_hat(theta)), tape gradients of the written-out loss, numpy formulas of the targets.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from famus_tf import counter_rng
from famus_tf.config import CotrainConfig, MetaConfig, OptimConfig
from famus_tf.cotrain import losses, mixmatch
from famus_tf.cotrain.step import CoStep, streams
from famus_tf.meta import functional as fn
from famus_tf.meta.step import MetaLearner, compiled_step
from famus_tf.train import distribute
from tests import meta_fixtures as mf

C, B, LR = 4, 3, 0.5  # classes; labeled (= unlabeled) batch; base lr (also the virtual lr)
SGD = OptimConfig(lr=LR, momentum=0.0, nesterov=False, weight_decay=0.0)


@pytest.fixture(scope="module", autouse=True)
def _float64():
    mf.float64()
    yield
    mf.float32()


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sharpen(p, t=0.5):
    q = p ** (1 / t)
    return q / q.sum(-1, keepdims=True)


def _supervision(n=4 * B, seed=0, lambda_u=3.0):
    rng = np.random.default_rng(seed)
    return losses.Supervision(tf.constant(_softmax(rng.normal(size=(n, C)) * 3)),
                              tf.constant(_softmax(rng.normal(size=(n, C)) * 3)),
                              tf.constant([1.0] * (n // 2) + [0.0] * (n // 2)),
                              tf.constant(lambda_u, tf.float64))


def _cotrain_batch(shape=(6,), seed=0):
    rng = np.random.default_rng(seed + 100)
    x = tf.constant(rng.normal(size=(4 * B,) + shape))
    xv = tf.constant(rng.normal(size=(2 * B,) + shape))
    tv = tf.constant(_softmax(rng.normal(size=(2 * B, C)) * 3))
    return x, _supervision(seed=seed), xv, tv


def _learner(method="mwnet", model="mlp", seed=1, optim=SGD, **meta):
    keras.utils.set_random_seed(seed)
    build, _ = mf.MODELS[model]
    meta.setdefault("lambda_g", 0.0)
    return MetaLearner(build(C), C, MetaConfig(method=method, **meta), optim,
                       cotrain=CotrainConfig(meta_set="pseudo_clean"))


def _state(learner):
    out = [v.numpy() for v in learner.model.variables]
    if learner.method is not None:
        out += [v.numpy() for v in learner.method.meta_variables]
    return out + [v.numpy() for v in learner.sampler_variables]


# ------------------------------------------------------------------ the engine step
@pytest.mark.parametrize("famus", [False, True])
def test_meta_gradient_matches_finite_differences(famus):
    """dL_c(w_hat(theta))/dtheta of MW-Net on a co-training batch (full, and FaMUS with
    every gate on), against central differences of the written-out L_c (§8 steps 4-5)."""
    extra = dict(famus=True, gate_policy="fixed", candidates="all") if famus else dict(famus=False)
    learner = _learner(**extra)
    x, sup, xv, tv = _cotrain_batch()
    gates = np.ones(len(learner.selection.candidates)) if famus else None
    out = learner.meta_gradient(x, sup, xv, tv, gates=gates)
    net, model = learner.method.net, learner.model
    theta0 = [v.numpy() for v in net.trainable_variables]
    w, nt = fn.trainable_values(model), fn.non_trainable_values(model)

    def loss_at(flat):
        k = 0
        for v, t in zip(net.trainable_variables, theta0):
            v.assign(flat[k:k + t.size].reshape(t.shape))
            k += t.size
        with tf.GradientTape() as tape:
            tape.watch(w)
            logits = model.stateless_call(w, nt, x, training=True)[0]
            cost = -tf.reduce_sum(sup.targets * tf.nn.log_softmax(logits), -1)
            v = tf.reshape(net(tf.stop_gradient(cost)[:, None]), [-1])
            loss = losses.virtual_loss(v / tf.reduce_sum(v), logits, sup)
        w_hat = [a - LR * g for a, g in zip(w, tape.gradient(loss, w))]
        return float(losses.meta_loss(model.stateless_call(w_hat, nt, xv, training=True)[0], tv))

    grad = np.concatenate([g.numpy().ravel() for g in out["theta"]])
    assert np.abs(grad).max() > 1e-6
    mf.assert_directional_derivatives(grad, loss_at, np.concatenate([t.ravel() for t in theta0]))


def test_every_gate_on_equals_full_mwnet():
    full = _learner(model="cnn", famus=False)
    gated = _learner(model="cnn", famus=True, gate_policy="fixed", candidates="all", num_segments=3)
    for seed in range(3):
        batch = _cotrain_batch((6, 6, 1), seed)
        a, b = full.train_step(*batch), gated.train_step(*batch)
        np.testing.assert_allclose(b["example_weights"], a["example_weights"], rtol=1e-10)
        np.testing.assert_allclose(b["val_loss"], a["val_loss"], rtol=1e-12)
    for a, b in zip(_state(full), _state(gated)):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def _reference_gradient(learner, w, x, labels, weights):
    """Tape gradient of the written-out training loss with the step's weights held constant:
    §8 step 4 for a Supervision, sum_i v_i CE_i for integer labels."""
    nt = fn.non_trainable_values(learner.model)
    with tf.GradientTape() as tape:
        tape.watch(w)
        logits = learner.model.stateless_call(w, nt, x, training=True)[0]
        if isinstance(labels, losses.Supervision):
            loss = losses.virtual_loss(weights, logits, labels)
        else:
            loss = tf.reduce_sum(weights * fn.per_example_ce(logits, labels))
    return tape.gradient(loss, w)


@pytest.mark.parametrize("method,extra", [
    ("mwnet", dict(famus=False)), ("mwnet", dict(famus=True, candidates="all", num_active=2)),
    ("mwnet", dict(famus=True, gate_policy="random", candidates="all", num_active=2)),
    ("mwnet", dict(famus=True, gate_policy="off", candidates="all")),
    ("l2r", dict(famus=False)), ("l2r", dict(famus=True, candidates="all", num_active=2)),
    ("mwnet", dict(famus=True, candidates="all", integer=True))])
def test_actual_step_is_the_written_out_loss(method, extra):
    """w' = w - lr * d/dw [L(v')] with v' the step's example weights (updated meta model);
    for integer labels (last case) L = sum v'_i CE_i, the engine of Algorithm 1."""
    integer = extra.pop("integer", False)
    learner = _learner(method, **extra)
    for seed in range(2):
        x, sup, xv, tv = _cotrain_batch(seed=seed)
        if integer:
            _, y, xv, yv = mf.batches((6,), n=4 * B, m=2 * B, seed=seed)
            sup, tv = y, yv
        w = [tf.constant(v.numpy()) for v in learner.model.trainable_variables]
        out = learner.train_step(x, sup, xv, tv)
        want = _reference_gradient(learner, w, x, sup, out["example_weights"])
        for before, after, g in zip(w, learner.model.trainable_variables, want):
            np.testing.assert_allclose((before.numpy() - after.numpy()) / LR, g.numpy(),
                                       rtol=1e-9, atol=1e-13)
        assert np.isfinite(float(out["val_loss"]))
    np.testing.assert_allclose(float(np.sum(out["example_weights"])), 1.0, rtol=1e-12)
    if extra.get("gate_policy") == "random":
        assert float(np.sum(out["gates"])) == 2.0


def test_eager_function_and_xla_agree():
    finals = []
    for mode in ("eager", "xla"):
        learner = _learner(famus=True, candidates="all", num_active=2, num_segments=0)
        step = learner.train_step if mode == "eager" else compiled_step(learner, xla=True)
        for seed in range(2):
            out = step(*_cotrain_batch(seed=seed))
        finals.append(_state(learner) + [out["example_weights"].numpy()])
    for a, b in zip(*finals):
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10)


def test_no_meta_baseline_is_sgd_on_the_uniform_loss():
    learner = _learner("plain")
    n = 4 * B
    for seed in range(2):
        x, sup, _, _ = _cotrain_batch(seed=seed)
        w = [tf.constant(v.numpy()) for v in learner.model.trainable_variables]
        out = learner.train_step(x, sup)
        want = _reference_gradient(learner, w, x, sup, tf.fill([n], tf.constant(1.0 / n, tf.float64)))
        for before, after, g in zip(w, learner.model.trainable_variables, want):
            np.testing.assert_allclose((before.numpy() - after.numpy()) / LR, g.numpy(), rtol=1e-9,
                                       atol=1e-13)
        assert set(learner.scalar_metrics(cotrain=True)) <= set(out)
        p = _softmax(learner.model.stateless_call(w, fn.non_trainable_values(learner.model), x)[0].numpy())
        np.testing.assert_allclose(float(out["loss"]), np.mean(-np.sum(sup.targets.numpy() * np.log(p), 1)),
                                   rtol=1e-12)
        mse = np.mean((p - sup.guesses.numpy()) ** 2, 1)[2 * B:].mean()
        np.testing.assert_allclose(float(out["loss_u"]), mse, rtol=1e-12)


def test_warmup_step_is_plain_ce_whatever_the_method():
    learner = _learner("mwnet", famus=True, candidates="all")
    _, y, _, _ = mf.batches((6,), n=8)
    x = tf.constant(np.random.default_rng(3).normal(size=(8, 6)))
    w = [tf.constant(v.numpy()) for v in learner.model.trainable_variables]
    out = learner.warmup_step(x, y)
    want = _reference_gradient(learner, w, x, y, tf.fill([8], tf.constant(1 / 8, tf.float64)))
    for before, after, g in zip(w, learner.model.trainable_variables, want):
        np.testing.assert_allclose((before.numpy() - after.numpy()) / LR, g.numpy(), rtol=1e-9, atol=1e-13)
    assert set(out) == {"loss", "accuracy"}


def test_mlc_and_ldam_are_refused():
    with pytest.raises(ValueError, match="mlc"):
        _learner("mlc")
    with pytest.raises(ValueError, match="--loss=ce"):
        _learner("mwnet", loss="ldam")
    keras.utils.set_random_seed(0)
    learner = MetaLearner(mf.tiny_mlp(C), C, MetaConfig(method="mlc"), SGD)  # clean meta set
    with pytest.raises(ValueError, match="mlc"):
        learner.train_step(*_cotrain_batch())


# ------------------------------------------------------------------ the co-training step
def _parts(seed=0, b=B, shape=(6,)):
    rng = np.random.default_rng(seed)

    def part(n):
        return (tf.constant(rng.integers(0, 256, (n,) + shape), tf.uint8),
                tf.constant(rng.integers(0, C, n), tf.int64), tf.constant(rng.random(n)),
                tf.constant(rng.random(n) < 0.5))

    return part(b), part(b), part(2 * b)


def _noisy_prep(learner):
    """A stand-in for the loop's preprocess + augmentation: counter-based noise."""
    def prep(x, stream):
        noise = counter_rng.uniform(tf.size(x), learner.optimizer.iterations, stream, tf.float64)
        return tf.cast(x, tf.float64) / 255.0 + 0.1 * tf.reshape(noise, tf.shape(x))
    return prep


def _costep(method="mwnet", recipe=None, prep=None, strategy=None, lambda_u=50.0, **meta):
    with (strategy or tf.distribute.get_strategy()).scope():
        learner = _learner(method, **meta)
        keras.utils.set_random_seed(7)
        other = mf.tiny_mlp(C)
    cfg = CotrainConfig(meta_set="pseudo_clean", mix_alpha=1.5, recipe=recipe or "famus",
                        lambda_u=lambda_u)
    prep = prep or (lambda x, s: tf.cast(x, tf.float64) / 255.0)
    return CoStep(learner, other, cfg, C, prep if prep != "noisy" else _noisy_prep(learner))


@pytest.mark.parametrize("recipe", ["famus", "dividemix"])
def test_targets_are_the_direct_formulas(recipe):
    step = _costep(recipe=recipe, prep="noisy")
    labeled, unlabeled, _ = _parts()
    batch, clean = step.targets(labeled, unlabeled)
    s = streams(0)
    views = [step.prep(part[0], k).numpy() for part, name in ((labeled, "labeled"), (unlabeled, "unlabeled"))
             for k in s[name]]
    assert not np.allclose(views[0], views[1])  # two distinct augmentations
    np.testing.assert_array_equal(batch.inputs.numpy(), np.concatenate(views))
    pa = [_softmax(step.learner.model(v).numpy()) for v in views]
    pb = [_softmax(step.other_model(v).numpy()) for v in views]
    want_t, want_g = [], []
    for k, part in enumerate((labeled, unlabeled)):
        onehot, c = np.eye(C)[part[1].numpy()], part[2].numpy()[:, None]
        refined = _sharpen(c * onehot + (1 - c) * (pa[2 * k] + pa[2 * k + 1]) / 2)
        guess = _sharpen((pa[2 * k] + pa[2 * k + 1] + pb[2 * k] + pb[2 * k + 1]) / 4)
        if recipe == "dividemix":
            refined = guess = refined if k == 0 else guess
        want_t += [refined, refined]
        want_g += [guess, guess]
    np.testing.assert_allclose(batch.targets.numpy(), np.concatenate(want_t), rtol=1e-12)
    np.testing.assert_allclose(batch.guesses.numpy(), np.concatenate(want_g), rtol=1e-12)
    np.testing.assert_array_equal(batch.labeled.numpy(), [1.0] * 2 * B + [0.0] * 2 * B)
    flags = np.concatenate([labeled[3], labeled[3], unlabeled[3], unlabeled[3]])
    np.testing.assert_array_equal(clean.numpy(), flags)


def test_call_mixes_and_trains_on_the_mixed_batch():
    """What CoStep hands to the engine is the assembled batch mixed by draw(4B, alpha, step,
    621) (meta: draw(4B, alpha, step, 622)); is_clean follows each row's own example."""
    step = _costep(prep="noisy")
    labeled, unlabeled, meta = _parts(seed=1)
    seen = {}
    train_step = step.learner.train_step

    def spy(*args):
        seen["args"] = args
        return train_step(*args)

    step.learner.train_step = spy
    iteration = int(step.learner.optimizer.iterations.numpy())
    batch, _ = step.targets(labeled, unlabeled)
    meta_batch = step.meta_targets(meta)
    # meta targets: co-refined labels of network a (before the step changes it)
    pa = [_softmax(step.learner.model(step.prep(meta[0], k)).numpy()) for k in streams(0)["meta"]]
    c = meta[2].numpy()[:, None]
    refined = _sharpen(c * np.eye(C)[meta[1].numpy()] + (1 - c) * (pa[0] + pa[1]) / 2)
    out = step(labeled, unlabeled, meta, tf.constant(2.0, tf.float64))
    x, sup, xv, tv = seen["args"]
    lam, perm = mixmatch.draw(4 * B, 1.5, iteration, 621)
    lam, perm = float(lam), perm.numpy()
    assert lam >= 0.5
    for got, full in ((x, batch.inputs), (sup.targets, batch.targets), (sup.guesses, batch.guesses)):
        full = full.numpy()
        np.testing.assert_allclose(got.numpy(), lam * full + (1 - lam) * full[perm], rtol=1e-12)
    np.testing.assert_array_equal(sup.labeled.numpy(), batch.labeled.numpy())
    assert float(sup.lambda_u) == 2.0
    lam_m, perm_m = mixmatch.draw(4 * B, 1.5, iteration, 622)
    lam_m = float(lam_m)
    full = meta_batch.targets.numpy()
    np.testing.assert_allclose(tv.numpy(), lam_m * full + (1 - lam_m) * full[perm_m.numpy()], rtol=1e-12)
    np.testing.assert_allclose(full, np.concatenate([refined, refined]), rtol=1e-12)
    np.testing.assert_array_equal(out["is_clean"].numpy(),
                                  np.concatenate([labeled[3], labeled[3], unlabeled[3], unlabeled[3]]))
    assert set(step.scalar_metrics()) <= set(out)


def test_deterministic_given_the_step():
    parts = _parts(seed=2)
    lam = tf.constant(5.0, tf.float64)
    a, b = (_costep(prep="noisy", famus=True, candidates="all", num_segments=2) for _ in range(2))
    first, again = a(*parts, lam), b(*parts, lam)
    for key in first:
        np.testing.assert_array_equal(first[key].numpy(), again[key].numpy())
    for x, y in zip(_state(a.learner), _state(b.learner)):
        np.testing.assert_array_equal(x, y)
    second = a(*parts, lam)  # the next iteration draws other augmentations and mixing
    assert not np.allclose(second["example_weights"].numpy(), first["example_weights"].numpy())


@pytest.mark.parametrize("lambda_u", [4.0, 0.0])
def test_mirrored_costep_equals_one_device(lambda_u):
    """With lambda_u = 0 each replica keeps the labeled half of its rows, and the result is
    the single device's step on the labeled rows of the global batch."""
    mirrored = distribute.build_strategy("mirrored", distribute.logical_cpus(2))
    parts = _parts(seed=3, b=4)
    lam = tf.constant(lambda_u, tf.float64)
    meta = dict(famus=True, candidates="all", num_active=2, lambda_g=0.1, num_segments=2,
                lambda_u=lambda_u)
    single, dist = _costep(**meta), _costep(strategy=mirrored, **meta)
    out_single = tf.function(single, autograph=False)(*parts, lam)

    def replica(*flat):
        return dist(flat[0:4], flat[4:8], flat[8:12], lam)

    flat = tuple(t for part in parts for t in part)
    run = tf.function(lambda *b: mirrored.run(replica, args=b), autograph=False)
    out = run(*distribute.distribute_batch(mirrored, flat))
    local = {k: mirrored.experimental_local_results(v) for k, v in out.items()}
    for key in ("loss", "accuracy", "loss_u", "val_loss", "loss_g", "loss_r"):
        np.testing.assert_allclose(local[key][0].numpy(), out_single[key].numpy(), rtol=1e-9)
    np.testing.assert_array_equal(local["gates"][0].numpy(), out_single["gates"].numpy())
    # replica k's row p*b + j (b = 2) is the single device's row p*2b + k*b + j
    # (p: the parts x1, x2, u1, u2; with lambda_u = 0 only x1, x2)
    kept = 2 if lambda_u == 0 else 4
    order = np.concatenate([(np.arange(kept)[:, None] * 4 + k * 2 + np.arange(2)[None, :]).ravel()
                            for k in range(2)])
    for key, rtol in (("example_weights", 1e-9), ("is_clean", 0)):
        got = np.concatenate([v.numpy() for v in local[key]])
        np.testing.assert_allclose(got, out_single[key].numpy()[order], rtol=rtol)
    for a, b in zip(_state(single.learner), _state(dist.learner)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ lambda_u = 0
def _spied(step):
    """Records the arguments of the engine step that `step` calls."""
    seen, train_step = {}, step.learner.train_step

    def spy(*args):
        seen["args"] = args
        return train_step(*args)

    step.learner.train_step = spy
    return seen


@pytest.mark.parametrize("method", ["mwnet", "plain"])
def test_lambda_u_zero_trains_on_the_mixed_labeled_rows_only(method):
    """The engine gets the first 2B rows of the 4B-row mixing (partners drawn from all 4B,
    draw(4B, alpha, step, 621)), all labeled; the weights are normalised over those rows."""
    step = _costep(method, prep="noisy", lambda_u=0.0)
    labeled, unlabeled, meta = _parts(seed=4)
    seen = _spied(step)
    iteration = int(step.learner.optimizer.iterations.numpy())
    batch, _ = step.targets(labeled, unlabeled)
    out = step(labeled, unlabeled, meta, tf.constant(0.0, tf.float64))
    x, sup = seen["args"][:2]
    lam, perm = mixmatch.draw(4 * B, 1.5, iteration, 621)
    lam, perm = float(lam), perm.numpy()
    assert np.any(perm[:2 * B] >= 2 * B)  # some labeled row has an unlabeled partner
    for got, full in ((x, batch.inputs), (sup.targets, batch.targets)):
        full = full.numpy()
        np.testing.assert_allclose(got.numpy(), (lam * full + (1 - lam) * full[perm])[:2 * B],
                                   rtol=1e-12)
    np.testing.assert_array_equal(sup.labeled.numpy(), np.ones(2 * B))
    np.testing.assert_array_equal(out["is_clean"].numpy(), np.concatenate([labeled[3], labeled[3]]))
    assert float(out["loss_u"]) == 0.0
    if method == "mwnet":
        assert out["example_weights"].shape == (2 * B,)
        np.testing.assert_allclose(float(np.sum(out["example_weights"])), 1.0, rtol=1e-12)


def test_lambda_u_zero_step_is_sgd_on_dividemix_labeled_loss():
    """Method plain with lambda_u = 0: w' = w - lr * d/dw [mean_i CE(t_i, z_i) + P] over the
    2B mixed labeled rows (DivideMix's L_x + prior on WebVision / Clothing1M), written out
    here from the rows the engine received."""
    step = _costep("plain", prep="noisy", lambda_u=0.0)
    seen = _spied(step)
    for seed in range(2):
        model = step.learner.model
        w = [tf.constant(v.numpy()) for v in model.trainable_variables]
        step(*_parts(seed=5 + seed), tf.constant(0.0, tf.float64))
        x, sup = seen["args"][:2]
        assert x.shape[0] == 2 * B
        with tf.GradientTape() as tape:
            tape.watch(w)
            logits = model.stateless_call(w, fn.non_trainable_values(model), x, training=True)[0]
            ce = -tf.reduce_sum(sup.targets * tf.nn.log_softmax(logits), -1)
            pbar = tf.reduce_mean(tf.nn.softmax(logits), 0)
            loss = tf.reduce_mean(ce) + tf.reduce_sum(np.log(1.0 / C) / C - tf.math.log(pbar) / C)
        want = tape.gradient(loss, w)
        for before, after, g in zip(w, model.trainable_variables, want):
            np.testing.assert_allclose((before.numpy() - after.numpy()) / LR, g.numpy(),
                                       rtol=1e-9, atol=1e-13)
