"""Model zoo of famus-tf: functional Keras models that return logits.

Conventions the meta-learning engine relies on:
  * inputs are float images, already normalised by the data pipeline;
  * outputs are logits (no softmax);
  * layer names encode the structure (`stem_*`, `stage{s}_block{b}_*`, `head_fc`), so a
    Keras 3 variable path (`layer/variable`) tells which stage a tensor belongs to;
  * `model.trainable_variables` follows depth: stem first, classifier (`head_*`) last;
  * variables use `keras.config.floatx()` (the models also work in float64).

Registry API:
  build_model(name, num_classes, input_shape, weights_path=None, head='linear') -> keras.Model
                                    (head: 'linear' or 'cosine', see models/heads.py)
  MODEL_NAMES                       tuple of registered names
  resolve(name, weights_path)       the name 'auto' stands for (resnet50 with weights,
                                    else preact_resnet18); other names unchanged
  stage_prefixes(name) -> tuple     variable-path prefixes of the stages, in depth order
                                    (every trainable variable path starts with one)
  last_stage(name) -> str           prefix of the last stage below the head, the FaMUS
                                    candidate block of the paper settings ('block:' + it)
  check_candidates(spec)            checks a candidate spec (the format of meta/selection.py)
  parse_candidates(spec, name)      the checked spec, with 'last_stage' expanded for the model
  head_prefix(name) -> str          prefix of the classifier variables ('head')
  floatx_dtype_policy()             context: new layers follow floatx (build_model uses it)

`weights_path`: for the keras.applications backbones, backbone weights (see
`famus_tf.models.applications`); for the other models, a full-model weights file
saved with `model.save_weights(...)` for the same architecture and class count.
"""
import contextlib
import os

import keras

from famus_tf.meta import precision as precision_lib, selection
from famus_tf.models import applications, cifar_resnets
from famus_tf.models.heads import HEADS, replace_head  # noqa: F401  (HEADS: the flag's values)
from famus_tf.models.preact_resnet import preact_resnet18
from famus_tf.models.small_cnn import small_cnn

_HEAD = "head"

# name -> (builder(num_classes, input_shape, weights_path), stage prefixes incl. head)
_REGISTRY = {
    "small_cnn": (
        lambda n, shape, w: small_cnn(n, shape),
        ("stage1", "stage2", "stage3", _HEAD)),
    "preact_resnet18": (
        lambda n, shape, w: preact_resnet18(n, shape),
        ("stem", "stage1", "stage2", "stage3", "stage4", _HEAD)),
    "resnet32": (
        lambda n, shape, w: cifar_resnets.resnet32(n, shape),
        ("stem", "stage1", "stage2", "stage3", _HEAD)),
    "wrn28_10": (
        lambda n, shape, w: cifar_resnets.wrn28_10(n, shape),
        ("stem", "stage1", "stage2", "stage3", _HEAD)),
    "wrn40_2": (
        lambda n, shape, w: cifar_resnets.wrn40_2(n, shape),
        ("stem", "stage1", "stage2", "stage3", _HEAD)),
    "resnet50": (
        applications.resnet50,
        ("conv1", "conv2", "conv3", "conv4", "conv5", _HEAD)),
    "inception_resnet_v2": (
        applications.inception_resnet_v2,
        ("stem", "mixed_5b", "block35", "mixed_6a", "block17", "mixed_7a", "block8",
         "conv_7b", _HEAD)),
}
_APPLICATIONS = ("resnet50", "inception_resnet_v2")

MODEL_NAMES = tuple(_REGISTRY)
AUTO = "auto"  # --model=auto: see `resolve`


def resolve(name, weights_path=None):
    """The model `name` stands for: 'auto' is resnet50 when local (ImageNet) weights are
    given, else preact_resnet18, which trains from scratch at any image size; any other
    name is itself."""
    if name != AUTO:
        return name
    return "resnet50" if weights_path else "preact_resnet18"


def _entry(name):
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODEL_NAMES)}")


def stage_prefixes(name):
    """Variable-path prefixes of the model's stages in depth order, head last."""
    return _entry(name)[1]


def last_stage(name):
    """Prefix of the last stage below the head (e.g. 'stage4', 'conv5', 'conv_7b')."""
    return _entry(name)[1][-2]


def check_candidates(spec):
    """Checks a FaMUS candidate spec ('all', 'top:N', 'block:PREFIX[,PREFIX]' or
    'last_stage') with meta/selection.py, which owns the format; raises ValueError
    naming --candidates. Returns `spec`."""
    if spec == "last_stage":
        return spec
    # selection.resolve on stand-in paths: one per block prefix asked for, and the head.
    prefixes = spec.partition(":")[2].split(",") if spec.startswith("block:") else []
    paths = [p + "/kernel" for p in prefixes if p] + ["stem/kernel", _HEAD + "/kernel"]
    try:
        selection.resolve(paths, spec, _HEAD)
    except ValueError as e:
        raise ValueError(f"--candidates: expected all, top:N, block:PREFIX[,PREFIX] or last_stage, "
                         f"got {spec!r} ({e})") from None
    return spec


def parse_candidates(spec, name):
    """The FaMUS candidate spec for model `name`, checked (`check_candidates`), with
    'last_stage' expanded to 'block:<the model's last stage>'."""
    check_candidates(spec)
    return "block:" + last_stage(name) if spec == "last_stage" else spec


def bench_candidates(spec, name, model, num_active):
    """The benches' candidate spec for `model` (of registry name `name`): `spec` if given,
    else the model's last stage when it holds more than `num_active` tensors (else every
    tensor: a block of K or fewer would have every gate on, which the step refuses)."""
    if spec:
        return parse_candidates(spec, name)
    spec = parse_candidates("last_stage", name)
    paths = [v.path for v in model.trainable_variables]
    return spec if len(selection.resolve(paths, spec, _HEAD).candidates) > num_active else "all"


def head_prefix(name):
    """Prefix of the classifier variables (`head_fc/kernel`, `head_fc/bias`)."""
    _entry(name)
    return _HEAD


@contextlib.contextmanager
def floatx_dtype_policy():
    """Makes layers built inside follow `keras.config.floatx()`.

    Keras 3 fixes the global dtype policy the first time a layer is created, so a later
    `keras.config.set_floatx(...)` alone no longer changes the dtype of new layers. While
    the global policy is a plain float policy that disagrees with floatx, it is set to
    floatx inside this block and restored afterwards (mixed or quantized policies are
    left alone).
    """
    previous = keras.config.dtype_policy()
    floatx = keras.config.floatx()
    if previous.name in ("float16", "bfloat16", "float32", "float64") and previous.name != floatx:
        keras.config.set_dtype_policy(floatx)
        try:
            yield
        finally:
            keras.config.set_dtype_policy(previous)
    else:
        yield


def build_model(name, num_classes, input_shape, weights_path=None, head="linear",
                precision="float32"):
    """Builds a registered model returning logits.

    Args:
        name: one of MODEL_NAMES.
        num_classes: number of logits.
        input_shape: (H, W, C) of the normalised float input images.
        weights_path: optional local weights file (never downloaded); a missing file
            raises FileNotFoundError before anything is built.
        head: 'linear' (the model's own) or 'cosine' (LDAM's normalised classifier).
        precision: 'float32' (floatx), or a mixed Keras policy for the layers
            ('mixed_bfloat16', 'mixed_float16'; float32 variables, see meta/precision.py).
    Raises:
        ValueError: unknown `name`.
        FileNotFoundError: `weights_path` does not exist.
    """
    builder = _entry(name)[0]
    if weights_path is not None and not os.path.isfile(weights_path):
        raise FileNotFoundError(f"weights file not found: {weights_path!r}")
    scope = floatx_dtype_policy() if precision == "float32" else precision_lib.policy_scope(precision)
    with scope:
        model = replace_head(builder(int(num_classes), tuple(input_shape), weights_path), head,
                             int(num_classes))
    if weights_path is not None and name not in _APPLICATIONS:
        model.load_weights(weights_path)
    return model
