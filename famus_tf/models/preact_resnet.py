"""PreAct ResNet-18 for 32x32 images, as used by DivideMix and by FaMUS on CIFAR.

Reference: He et al., "Identity Mappings in Deep Residual Networks" (ECCV 2016), in the
CIFAR form of DivideMix's `PreResNet.py` (`ResNet(PreActBlock, [2, 2, 2, 2])`), which
the official FaMUS code reuses (`FaMUS/preresnet.py`, `PreActResNet18`):

    stem:   conv3x3 64 (no bias) - BN - ReLU
    stage1..4: 2 PreActBlocks each, 64/128/256/512 channels, strides 1/2/2/2
    PreActBlock(x): a = ReLU(BN1(x)); out = conv2(ReLU(BN2(conv1(a)))) + shortcut
                    shortcut = conv1x1(a) (no bias, no BN) if the shape changes, else x
    no final BN-ReLU: avg-pool 4x4 (= global average pool for 32x32 input) - Linear

Both reference implementations apply BN-ReLU after the stem conv although the first
block pre-activates again; `stem_bn=False` gives the pure pre-activation stem.
All convolutions are bias-free. Strided 3x3 convs pad 1 pixel on every side, as
PyTorch does (Keras 'same' would pad only bottom/right).

Initialisation is PyTorch's default, as in both references (neither re-initialises):
every conv kernel and the Linear layer's kernel and bias U(+-1/sqrt(fan_in)), fan_in =
k * k * in_channels (kaiming_uniform with a = sqrt(5); meta/torch_init.py); BN gamma 1,
beta 0. This matters here more than in most ResNets: with no BN after the last stage,
the logits scale with the residual stream. The He-normal kernels (std sqrt(2 / fan_in),
2.45x torch's) and Keras' Glorot head this model had before started at a loss of 3.1
(10 classes) and diverged under SGD at the papers' lr 0.02 within a few steps (the
digits upscaled to 32x32: 55 after 8 steps); with torch's init it follows the reference
architecture run in PyTorch on the same batches (2.3 -> 2.0).

Trainable parameters for 10 classes: 11,171,274 (11,171,146 with `stem_bn=False`),
the PyTorch count of the reference. The often-quoted 11,173,962 is the
post-activation ResNet-18 (BN after each shortcut conv, BN1 of each stage's first
block on the output width): 2,688 more BN parameters.

Layer names (Keras 3 variable paths are `layer/variable`): `stem_conv`, `stem_bn`,
`stage{s}_block{b}_{bn1,conv1,bn2,conv2,shortcut}`, `head_fc`. The last stage is
`stage4` (13 tensors: the official code's `params[-15:-2]`).
"""
import keras
from keras import layers

from famus_tf.meta import torch_init

STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)
BLOCKS_PER_STAGE = (2, 2, 2, 2)


def _bn(name):
    # PyTorch BatchNorm2d defaults: momentum 0.1 (Keras 0.9), eps 1e-5.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _kernel_init(kernel, x):
    """PyTorch's default conv init for a k x k kernel on `x`: U(+-1/sqrt(k * k * C_in))."""
    return torch_init.linear_uniform(kernel * kernel * x.shape[-1])


def conv3x3(x, filters, stride, name):
    """3x3 bias-free convolution with PyTorch's symmetric padding of 1."""
    init = _kernel_init(3, x)
    if stride == 1:
        return layers.Conv2D(filters, 3, padding="same", use_bias=False,
                             kernel_initializer=init, name=name)(x)
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, 3, strides=stride, padding="valid", use_bias=False,
                         kernel_initializer=init, name=name)(x)


def preact_block(x, filters, stride, name):
    """One PreActBlock; `name` is the `stage{s}_block{b}` prefix."""
    in_filters = x.shape[-1]
    a = layers.ReLU(name=f"{name}_relu1")(_bn(f"{name}_bn1")(x))
    out = conv3x3(a, filters, stride, f"{name}_conv1")
    out = layers.ReLU(name=f"{name}_relu2")(_bn(f"{name}_bn2")(out))
    out = conv3x3(out, filters, 1, f"{name}_conv2")
    if stride != 1 or in_filters != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                 kernel_initializer=_kernel_init(1, a), name=f"{name}_shortcut")(a)
    else:
        shortcut = x
    return layers.Add(name=f"{name}_add")([out, shortcut])


def preact_resnet18(num_classes, input_shape=(32, 32, 3), stem_bn=True):
    """Builds PreAct ResNet-18; returns a functional `keras.Model` producing logits.

    Args:
        num_classes: number of output logits.
        input_shape: (H, W, C) of the already-normalised float images.
        stem_bn: BN-ReLU after the stem conv, as in DivideMix/FaMUS code (default).
    """
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = conv3x3(inputs, STAGE_WIDTHS[0], 1, "stem_conv")
    if stem_bn:
        x = layers.ReLU(name="stem_relu")(_bn("stem_bn")(x))
    for s, (width, stride, blocks) in enumerate(
            zip(STAGE_WIDTHS, STAGE_STRIDES, BLOCKS_PER_STAGE), start=1):
        for b in range(1, blocks + 1):
            x = preact_block(x, width, stride if b == 1 else 1, f"stage{s}_block{b}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = torch_init.linear(num_classes, x.shape[-1], name="head_fc")(x)
    return keras.Model(inputs, logits, name="preact_resnet18")
