"""Tests of the model zoo: shapes, parameter counts, variable-path conventions, weights."""
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from famus_tf import models
from famus_tf.models import applications, cifar_resnets, preact_resnet

# Small inputs keep the ImageNet backbones cheap (75x75 is InceptionResNetV2's minimum).
INPUT_SHAPES = {
    "small_cnn": (8, 8, 1),
    "preact_resnet18": (32, 32, 3),
    "resnet32": (32, 32, 3),
    "wrn28_10": (32, 32, 3),
    "wrn40_2": (32, 32, 3),
    "resnet50": (64, 64, 3),
    "inception_resnet_v2": (75, 75, 3),
}
NUM_CLASSES = 10
_CACHE = {}


def get_model(name):
    if name not in _CACHE:
        keras.utils.set_random_seed(0)
        _CACHE[name] = models.build_model(name, NUM_CLASSES, INPUT_SHAPES[name])
    return _CACHE[name]


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def stage_index(name, path):
    prefixes = models.stage_prefixes(name)
    hits = [i for i, p in enumerate(prefixes) if path.startswith(p)]
    assert hits, f"{path} starts with none of {prefixes}"
    return hits[0]


def test_registry_lists_every_input_shape():
    assert set(models.MODEL_NAMES) == set(INPUT_SHAPES)
    assert len(models.MODEL_NAMES) == 7


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_logits_shape_and_finite(name):
    model = get_model(name)
    x = np.random.default_rng(0).standard_normal((2,) + INPUT_SHAPES[name]).astype("float32")
    logits = model(x, training=False)
    assert tuple(logits.shape) == (2, NUM_CLASSES)
    assert logits.dtype == keras.config.floatx()
    assert np.all(np.isfinite(np.asarray(logits)))
    # Logits, not probabilities: rows do not sum to 1 (softmax would).
    assert not np.allclose(np.asarray(logits).sum(axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize("name", ["small_cnn", "preact_resnet18", "resnet32", "wrn40_2"])
def test_every_trainable_variable_gets_a_finite_gradient(name):
    model = get_model(name)
    x = tf.random.stateless_normal((4,) + INPUT_SHAPES[name], seed=(1, 2))
    y = tf.constant([0, 1, 2, 3])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, model(x, training=True), from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.isfinite(loss.numpy()) and loss.numpy() > 0


def test_small_cnn_exact_parameter_counts():
    model = get_model("small_cnn")
    # conv 288 + BN 64, conv 18432 + BN 128, conv 36864 + BN 128, Dense 64*10 + 10.
    assert trainable_count(model) == 56_554
    assert model.count_params() == 56_554 + 320  # BN moving mean/variance
    assert [v.path for v in model.trainable_variables][:2] == ["stage1_conv/kernel",
                                                               "stage1_bn/gamma"]


def test_small_cnn_pools_large_inputs_to_smoke_size():
    import numpy as np
    big = models.build_model("small_cnn", NUM_CLASSES, (224, 224, 3))
    assert tuple(big.get_layer("stem_pool").output.shape) == (None, 32, 32, 3)
    assert trainable_count(big) == 56_554 + 2 * 32 * 9  # 3 input channels instead of 1
    x = np.random.default_rng(0).normal(size=(2, 224, 224, 3)).astype("float32")
    pooled = x.reshape(2, 32, 7, 32, 7, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(big.get_layer("stem_pool")(x), pooled, rtol=1e-5, atol=1e-6)
    assert "stem_pool" not in [layer.name for layer in get_model("small_cnn").layers]


def test_preact_resnet18_parameter_count():
    model = get_model("preact_resnet18")
    n = trainable_count(model)
    assert n == 11_171_274  # DivideMix/FaMUS PreActResNet18, PyTorch parameter count
    assert abs(n - 11_173_962) / 11_173_962 < 0.01
    assert len([v for v in model.trainable_variables if v.path.startswith("stage4")]) == 13
    pure = preact_resnet.preact_resnet18(NUM_CLASSES, stem_bn=False)
    assert trainable_count(pure) == 11_171_274 - 128
    assert not any(v.path.startswith("stem_bn") for v in pure.trainable_variables)


def test_preact_resnet18_initialisation_is_pytorchs_default():
    """Every kernel (and the head's bias) U(+-1/sqrt(fan_in)) as the references' torch
    modules, not He-normal: with no BN after the last stage He-normal logits diverged."""
    model = get_model("preact_resnet18")
    for v in model.trainable_variables:
        w = v.numpy()
        if v.path.endswith("kernel") or v.path == "head_fc/bias":
            shape = model.get_layer(v.path.split("/")[0]).kernel.shape
            bound = 1.0 / np.sqrt(np.prod(shape[:-1]))
            assert np.abs(w).max() <= bound * (1 + 1e-6), v.path  # float32 rounding
            if w.size >= 1000:  # a uniform draw: std bound / sqrt(3), not sqrt(2 / fan_in)
                np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.1, err_msg=v.path)
        elif v.path.endswith("gamma"):
            np.testing.assert_array_equal(w, 1.0)
        elif v.path.endswith("beta"):
            np.testing.assert_array_equal(w, 0.0)
    assert np.any(model.get_layer("head_fc").bias.numpy() != 0)


def test_wrn_head_is_torch_default_kernel_with_zero_bias():
    head = get_model("wrn40_2").get_layer("head_fc")
    bound = 1.0 / np.sqrt(head.kernel.shape[0])
    w = head.kernel.numpy()
    assert np.abs(w).max() <= bound * (1 + 1e-6) and w.std() > 0.4 * bound
    np.testing.assert_array_equal(head.bias.numpy(), 0.0)


@pytest.mark.parametrize("name,expected", [
    ("resnet32", 464_154), ("wrn40_2", 2_243_546), ("wrn28_10", 36_479_194)])
def test_cifar_resnet_parameter_counts(name, expected):
    n = trainable_count(get_model(name))
    assert n == expected
    assert abs(n - expected) / expected < 0.01


def test_resnet32_shortcut_options():
    b = cifar_resnets.resnet32(NUM_CLASSES, shortcut="B")
    # two 1x1 projections (16->32, 32->64) with their BNs
    assert trainable_count(b) == 464_154 + 16 * 32 + 64 + 32 * 64 + 128
    with pytest.raises(ValueError):
        cifar_resnets.resnet32(NUM_CLASSES, shortcut="C")


def test_zero_pad_shortcut_values():
    x = np.arange(32, dtype="float32").reshape(1, 4, 4, 2)
    y = np.asarray(cifar_resnets.ZeroPadShortcut(4, 2)(x))
    assert y.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(y[..., 1:3], x[:, ::2, ::2, :])
    assert np.all(y[..., 0] == 0) and np.all(y[..., 3] == 0)


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_variable_paths_follow_declared_stages_in_depth_order(name):
    model = get_model(name)
    paths = [v.path for v in model.trainable_variables]
    stages = [stage_index(name, p) for p in paths]
    assert stages == sorted(stages), "trainable_variables must follow depth"
    assert set(stages) == set(range(len(models.stage_prefixes(name))))  # no empty stage
    assert len(set(paths)) == len(paths)
    head = models.head_prefix(name)
    assert head == "head"
    assert [p for p in paths if p.startswith(head)] == ["head_fc/kernel", "head_fc/bias"]
    assert paths[-2:] == ["head_fc/kernel", "head_fc/bias"]


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_last_stage_is_directly_below_the_head(name):
    paths = [v.path for v in get_model(name).trainable_variables]
    last, head = models.last_stage(name), models.head_prefix(name)
    chosen = [i for i, p in enumerate(paths) if p.startswith(last)]
    others = [i for i, p in enumerate(paths) if not p.startswith((last, head))]
    heads = [i for i, p in enumerate(paths) if p.startswith(head)]
    assert chosen and others
    assert min(chosen) > max(others)
    assert max(chosen) < min(heads)
    assert chosen == list(range(min(chosen), max(chosen) + 1))


def test_known_last_stages():
    assert models.last_stage("preact_resnet18") == "stage4"
    assert models.last_stage("small_cnn") == "stage3"
    assert models.last_stage("resnet32") == "stage3"
    assert models.last_stage("wrn28_10") == "stage3"
    assert models.last_stage("resnet50") == "conv5"
    assert models.last_stage("inception_resnet_v2") == "conv_7b"


def test_inception_resnet_v2_units_are_named_deterministically():
    paths = [v.path for v in get_model("inception_resnet_v2").trainable_variables]
    assert not any(re.match(r"(conv2d|batch_normalization)(_\d+)?/", p) for p in paths)
    convs = {}
    for p in paths:
        m = re.match(r"(.+)_conv2d_(\d+)/kernel$", p)
        if m:
            convs[m.group(1)] = convs.get(m.group(1), 0) + 1
    # stem 5 convs; Inception-A (mixed_5b) 7; block35 6; Reduction-A 4; block17 4;
    # Reduction-B 7; block8 4 (branch convs; each block's 1x1 up-projection keeps its name).
    expected = {"stem": 5, "mixed_5b": 7, "mixed_6a": 4, "mixed_7a": 7}
    expected.update({f"block35_{i}": 6 for i in range(1, 11)})
    expected.update({f"block17_{i}": 4 for i in range(1, 21)})
    expected.update({f"block8_{i}": 4 for i in range(1, 11)})
    assert convs == expected
    assert "block8_10_conv2d_4_bn/beta" in paths and "block8_10_conv/kernel" in paths
    assert paths[-4:-2] == ["conv_7b/kernel", "conv_7b_bn/beta"]


def test_clone_with_names_copies_weights():
    inputs = keras.Input((6, 6, 3))
    conv = keras.layers.Conv2D(4, 3, use_bias=False)
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inputs, bn(conv(inputs)))
    bn.moving_mean.assign(np.arange(4, dtype="float32"))
    clone = applications.clone_with_names(model, {conv.name: "unit_conv2d_1",
                                                  bn.name: "unit_conv2d_1_bn"})
    assert [v.path for v in clone.weights][:2] == ["unit_conv2d_1/kernel",
                                                  "unit_conv2d_1_bn/gamma"]
    for a, b in zip(model.weights, clone.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(model(x), clone(x), rtol=1e-6)


def test_unknown_model_name_raises_value_error_listing_names():
    with pytest.raises(ValueError, match="preact_resnet18.*inception_resnet_v2"):
        models.build_model("resnet18", 10, (32, 32, 3))
    for fn in (models.last_stage, models.head_prefix, models.stage_prefixes):
        with pytest.raises(ValueError, match="valid names"):
            fn("vgg16")


@pytest.mark.parametrize("name", ["small_cnn", "resnet50", "inception_resnet_v2"])
def test_missing_weights_file_raises(name, tmp_path):
    missing = str(tmp_path / "nope.weights.h5")
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        models.build_model(name, 10, INPUT_SHAPES[name], weights_path=missing)
    with pytest.raises(FileNotFoundError, match="nope"):
        applications.resnet50(10, (64, 64, 3), weights_path=missing)


def test_resnet50_loads_local_backbone_weights(tmp_path):
    keras.utils.set_random_seed(3)
    with models.floatx_dtype_policy():
        backbone = keras.applications.ResNet50(include_top=False, weights=None,
                                               input_shape=(32, 32, 3), pooling="avg")
    path = str(tmp_path / "resnet50_notop.weights.h5")
    backbone.save_weights(path)
    model = models.build_model("resnet50", 5, (32, 32, 3), weights_path=path)
    for layer in ("conv1_conv", "conv5_block3_3_conv", "conv5_block3_3_bn"):
        for a, b in zip(backbone.get_layer(layer).weights, model.get_layer(layer).weights):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert model.get_layer("head_fc").kernel.shape == (2048, 5)


def test_own_model_weights_roundtrip(tmp_path):
    model = get_model("small_cnn")
    path = str(tmp_path / "small.weights.h5")
    model.save_weights(path)
    keras.utils.set_random_seed(7)
    loaded = models.build_model("small_cnn", NUM_CLASSES, (8, 8, 1), weights_path=path)
    x = np.random.default_rng(2).standard_normal((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(model(x), loaded(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["small_cnn", "preact_resnet18", "resnet32", "wrn40_2"])
def test_models_follow_floatx_float64(name):
    # Layers were already created in float32 by earlier tests: Keras 3 has fixed its
    # global dtype policy, and build_model must still follow the new floatx.
    get_model("small_cnn")
    old = keras.config.floatx()
    policy_before = keras.config.dtype_policy().name
    keras.config.set_floatx("float64")
    try:
        model = models.build_model(name, 3, INPUT_SHAPES[name])
        assert {v.dtype for v in model.weights} == {"float64"}
        x = tf.random.stateless_normal((2,) + INPUT_SHAPES[name], seed=(3, 4),
                                       dtype=tf.float64)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_sum(logits ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        assert logits.dtype == tf.float64 and tuple(logits.shape) == (2, 3)
        assert all(g is not None and g.dtype == tf.float64 for g in grads)
        assert keras.config.dtype_policy().name == policy_before  # restored
    finally:
        keras.config.set_floatx(old)
