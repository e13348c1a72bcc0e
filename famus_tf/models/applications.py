"""ImageNet-scale backbones from `keras.applications` with a FaMUS-style linear head.

FaMUS uses ResNet-50 on Clothing1M (ImageNet-pretrained) and Inception-ResNet-V2 on
(mini-)WebVision, as in DivideMix. Both are built with `weights=None` (nothing is ever
downloaded), `include_top=False`, `pooling='avg'`, followed by `head_fc` (Dense, logits).

Variable paths / stages:
  * ResNet50 keeps its Keras names: `conv1_*` (stem), `conv2_*` .. `conv5_*` (stages;
    `conv{s}_block{b}_0_*` is the projection shortcut). Last stage prefix: `conv5`.
  * InceptionResNetV2 names only some of its layers; the branch convs/BNs get
    session-dependent automatic names (`conv2d_57`, `batch_normalization_57`). The
    backbone is therefore cloned once with those layers renamed after the unit that
    contains them: `stem_conv2d_{i}`, `mixed_5b_conv2d_{i}`, `block35_3_conv2d_{i}`,
    ..., with the BN as `<conv name>_bn`. Named layers keep their Keras names. Stages in
    depth order: stem, mixed_5b, block35 (Inception-ResNet-A x10), mixed_6a,
    block17 (-B x20), mixed_7a, block8 (-C x10), conv_7b (final 1x1 conv to 1536).
    Last stage prefix: `conv_7b` (conv_7b/kernel and conv_7b_bn/beta, directly below
    the head). The whole Inception-ResNet-C stage is the candidate spec
    'block:block8,conv_7b'.

`weights_path` is a local file with *backbone* weights, loaded into the backbone before
the head is attached: a Keras `.weights.h5` saved from the same backbone
(`include_top=False`), or a legacy Keras `.h5` such as the official
`*_weights_tf_dim_ordering_tf_kernels_notop.h5` (loaded topologically, which is how
`keras.applications` loads them; layer names need not match). The head stays freshly
initialised.
"""
import os
import re

import keras
from keras import layers

_AUTO_NAME = re.compile(r"^(conv2d|batch_normalization)(_\d+)?$")
_ANCHOR = re.compile(r"^(mixed_\w+|block\d+_\d+_mixed)$")


def _check_file(weights_path):
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"weights file not found: {weights_path!r}")


def load_backbone_weights(backbone, weights_path):
    """Loads backbone weights from a local `.weights.h5`, `.keras` or legacy `.h5` file."""
    _check_file(weights_path)
    backbone.load_weights(weights_path)


def _parents(layer):
    return [p.operation for node in layer._inbound_nodes for p in node.parent_nodes]


def _ancestors(layer):
    """Names of `layer` and of every layer it (transitively) depends on."""
    seen, stack = {layer.name}, [layer]
    while stack:
        for parent in _parents(stack.pop()):
            if parent.name not in seen:
                seen.add(parent.name)
                stack.append(parent)
    return seen


def inception_unit_names(backbone):
    """Maps automatic conv/BN names of InceptionResNetV2 to `<unit>_conv2d_{i}[_bn]`.

    A unit is the stem, or one of the concatenations (`mixed_5b`, `block35_1_mixed`,
    ...) in depth order; an automatically named layer belongs to the first unit whose
    output depends on it. The stem is what every branch of `mixed_5b` depends on.
    """
    anchors = [l for l in backbone.layers if _ANCHOR.match(l.name)]
    first = backbone.get_layer("mixed_5b")
    assigned = set.intersection(*[_ancestors(p) for p in _parents(first)])
    units = [("stem", assigned)]
    for anchor in anchors:
        members = _ancestors(anchor) - assigned
        units.append((anchor.name[:-len("_mixed")] if anchor.name.endswith("_mixed")
                      else anchor.name, members))
        assigned |= members
    unit_of = {name: unit for unit, members in units for name in members}
    mapping, counts = {}, {}
    for layer in backbone.layers:  # convs precede their BNs in this order
        if not _AUTO_NAME.match(layer.name) or layer.name not in unit_of:
            continue
        unit = unit_of[layer.name]
        if isinstance(layer, layers.Conv2D):
            counts[unit] = counts.get(unit, 0) + 1
            mapping[layer.name] = f"{unit}_conv2d_{counts[unit]}"
        else:
            parent = _parents(layer)[0].name
            mapping[layer.name] = f"{mapping.get(parent, unit + '_' + layer.name)}_bn"
    return mapping


def clone_with_names(model, mapping):
    """Clones a functional model renaming layers by `mapping`; copies all weights."""
    pairs = []

    def clone(layer):
        config = layer.get_config()
        config["name"] = mapping.get(layer.name, layer.name)
        new = layer.__class__.from_config(config)
        pairs.append((layer, new))
        return new

    clone_model = keras.models.clone_model(model, clone_function=clone)
    for old, new in pairs:
        if old.weights:
            new.set_weights(old.get_weights())
    return clone_model


def _with_head(backbone, num_classes, name):
    logits = layers.Dense(num_classes, name="head_fc")(backbone.output)
    return keras.Model(backbone.input, logits, name=name)


def resnet50(num_classes, input_shape=(224, 224, 3), weights_path=None):
    """ResNet-50 backbone (`keras.applications`) + `head_fc`; last stage `conv5`.

    Note: `keras.applications.ResNet50` is the v1 ResNet with biased convs, 23.59M
    backbone parameters (23.53M trainable); ImageNet inputs use caffe-style
    preprocessing when its pretrained weights are used.
    """
    backbone = _backbone(keras.applications.ResNet50, input_shape, weights_path)
    return _with_head(backbone, num_classes, "resnet50")


def _backbone(application, input_shape, weights_path):
    """A keras.applications backbone (no top, average pooling, never downloaded),
    with backbone weights from a local file if one is given."""
    if weights_path is not None:
        _check_file(weights_path)
    backbone = application(include_top=False, weights=None, input_shape=tuple(input_shape),
                           pooling="avg")
    if weights_path is not None:
        load_backbone_weights(backbone, weights_path)
    return backbone


def inception_resnet_v2(num_classes, input_shape=(299, 299, 3), weights_path=None):
    """Inception-ResNet-V2 backbone + `head_fc`, deterministic names; last stage `conv_7b`.

    Minimum input size is 75x75. Pretrained Keras weights expect inputs in [-1, 1].
    """
    backbone = _backbone(keras.applications.InceptionResNetV2, input_shape, weights_path)
    backbone = clone_with_names(backbone, inception_unit_names(backbone))
    return _with_head(backbone, num_classes, "inception_resnet_v2")
