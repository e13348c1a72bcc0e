"""CIFAR ResNet-32 (He et al. 2016) and Wide ResNets (Zagoruyko & Komodakis 2016).

ResNet-32 is the backbone of MW-Net (Shu et al. 2019), whose CIFAR uniform/flip-noise
protocol FaMUS follows. It is the post-activation design of the ResNet paper, Sec. 4.2:

    stem:   conv3x3 16 (no bias) - BN - ReLU
    stage1..3: 5 BasicBlocks each, 16/32/64 channels, strides 1/2/2
    BasicBlock(x) = ReLU(BN2(conv2(ReLU(BN1(conv1(x))))) + shortcut(x))
    global average pool (8x8) - Linear

The shortcut is option A of the paper (and of MW-Net's code) by default: take every
other pixel and zero-pad the new channels, half on each side, so it has no
parameters; `shortcut='B'` uses a 1x1 conv + BN instead. 464,154 trainable
parameters for 10 classes with option A.

WRN-d-k (the MW-Net/"WideResNet-pytorch" form): stem conv3x3 16, then three stages
of n = (d - 4) / 6 pre-activation blocks with 16k/32k/64k channels and strides 1/2/2,
then a final BN-ReLU, global average pool (8x8) and Linear. A block is
BN1-ReLU-conv1-(dropout)-BN2-ReLU-conv2 plus the identity, or plus a bias-free 1x1
conv of the pre-activated input when the width or stride changes. The final BN-ReLU
belongs to the last stage (`stage3_post_bn`). Trainable parameters for 10 classes:
WRN-28-10 36,479,194; WRN-40-2 2,243,546.

Conv kernels use He-normal init (MW-Net's `kaiming_normal_`; fan-out for the WRN as
in its reference code); the WRN's Linear keeps torch's default kernel U(+-1/sqrt(fan_in))
with a zero bias, as MW-Net's `wideresnet.py` leaves it (meta/torch_init.py); BN uses
PyTorch's momentum 0.1 / eps 1e-5. Strided 3x3 convs
pad one pixel on every side like PyTorch. Layer names: `stem_conv`, `stem_bn`,
`stage{s}_block{b}_{conv1,bn1,conv2,bn2,shortcut}`, `head_fc`.
"""
import keras
from keras import layers, ops

from famus_tf.meta import torch_init


@keras.saving.register_keras_serializable(package="famus_tf")
class ZeroPadShortcut(layers.Layer):
    """Option-A shortcut: spatial subsampling by `stride`, zero-padded channels."""

    def __init__(self, out_channels, stride, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = int(out_channels)
        self.stride = int(stride)

    def call(self, x):
        x = x[:, ::self.stride, ::self.stride, :]
        extra = self.out_channels - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        def sub(d):
            return None if d is None else -(-d // self.stride)
        return (input_shape[0], sub(input_shape[1]), sub(input_shape[2]), self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels,
                "stride": self.stride}


def _bn(name):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _conv(x, filters, kernel, stride, name, init="he_normal"):
    """Bias-free conv with PyTorch padding (kernel // 2 on every side)."""
    if kernel > 1 and stride > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same" if kernel > 1 else "valid"
    return layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                         kernel_initializer=init, name=name)(x)


def basic_block(x, filters, stride, name, shortcut="A"):
    """Post-activation BasicBlock of the CIFAR ResNet; `name` is `stage{s}_block{b}`."""
    out = layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(
        _conv(x, filters, 3, stride, f"{name}_conv1")))
    out = _bn(f"{name}_bn2")(_conv(out, filters, 3, 1, f"{name}_conv2"))
    if stride != 1 or x.shape[-1] != filters:
        if shortcut == "A":
            x = ZeroPadShortcut(filters, stride, name=f"{name}_shortcut")(x)
        else:
            x = _bn(f"{name}_shortcut_bn")(_conv(x, filters, 1, stride, f"{name}_shortcut"))
    out = layers.Add(name=f"{name}_add")([out, x])
    return layers.ReLU(name=f"{name}_out")(out)


def resnet32(num_classes, input_shape=(32, 32, 3), shortcut="A"):
    """Builds the CIFAR ResNet-32 (3 stages x 5 blocks); returns logits.

    Args:
        num_classes: number of output logits.
        input_shape: (H, W, C) of the already-normalised float images.
        shortcut: 'A' (parameter-free zero-padding, the paper's CIFAR choice) or 'B'.
    """
    if shortcut not in ("A", "B"):
        raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = layers.ReLU(name="stem_relu")(_bn("stem_bn")(_conv(inputs, 16, 3, 1, "stem_conv")))
    for s, (width, stride) in enumerate(zip((16, 32, 64), (1, 2, 2)), start=1):
        for b in range(1, 6):
            x = basic_block(x, width, stride if b == 1 else 1, f"stage{s}_block{b}", shortcut)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(num_classes, kernel_initializer="he_normal", name="head_fc")(x)
    return keras.Model(inputs, logits, name="resnet32")


_WRN_INIT = keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def wide_block(x, filters, stride, name, dropout=0.0):
    """Pre-activation wide block; the shortcut conv sees the pre-activated input."""
    a = layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(x))
    out = _conv(a, filters, 3, stride, f"{name}_conv1", _WRN_INIT)
    out = layers.ReLU(name=f"{name}_relu2")(_bn(f"{name}_bn2")(out))
    if dropout > 0:
        out = layers.Dropout(dropout, name=f"{name}_dropout")(out)
    out = _conv(out, filters, 3, 1, f"{name}_conv2", _WRN_INIT)
    if stride != 1 or x.shape[-1] != filters:
        x = _conv(a, filters, 1, stride, f"{name}_shortcut", _WRN_INIT)
    return layers.Add(name=f"{name}_add")([out, x])


def wide_resnet(depth, widen, num_classes, input_shape=(32, 32, 3), dropout=0.0):
    """Builds WRN-`depth`-`widen` (depth = 6n + 4); returns logits.

    Args:
        depth: total depth, 6n + 4 (28 -> 4 blocks per stage, 40 -> 6).
        widen: width multiplier k (stage widths 16k, 32k, 64k).
        num_classes: number of output logits.
        input_shape: (H, W, C) of the already-normalised float images.
        dropout: dropout rate between the two convs of each block (0 in MW-Net/FaMUS).
    """
    if (depth - 4) % 6 != 0 or depth < 10:
        raise ValueError(f"WRN depth must be 6n + 4 with n >= 1, got {depth}")
    n = (depth - 4) // 6
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv(inputs, 16, 3, 1, "stem_conv", _WRN_INIT)
    for s, (width, stride) in enumerate(zip((16 * widen, 32 * widen, 64 * widen), (1, 2, 2)),
                                        start=1):
        for b in range(1, n + 1):
            x = wide_block(x, width, stride if b == 1 else 1, f"stage{s}_block{b}", dropout)
    x = layers.ReLU(name="stage3_post_relu")(_bn("stage3_post_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(num_classes, kernel_initializer=torch_init.linear_uniform(x.shape[-1]),
                          name="head_fc")(x)
    return keras.Model(inputs, logits, name=f"wrn{depth}_{widen}")


def wrn28_10(num_classes, input_shape=(32, 32, 3), dropout=0.0):
    """WRN-28-10 (~36.5M parameters)."""
    return wide_resnet(28, 10, num_classes, input_shape, dropout)


def wrn40_2(num_classes, input_shape=(32, 32, 3), dropout=0.0):
    """WRN-40-2 (~2.2M parameters)."""
    return wide_resnet(40, 2, num_classes, input_shape, dropout)
