"""A small CNN for the 8x8 scikit-learn digits, used by the fast smoke experiments.

Not from the FaMUS paper (which uses PreAct ResNet-18, ResNet-32, WRN and ImageNet
backbones); it exists so that the whole meta-learning pipeline can be exercised on CPU
in seconds. Architecture:

    stage1: conv3x3 32 - BN - ReLU                      (8x8)
    stage2: conv3x3 64 - BN - ReLU - maxpool 2x2        (8x8 -> 4x4)
    stage3: conv3x3 64 - BN - ReLU                      (4x4)
    global average pooling - head_fc (Dense, logits)

Inputs larger than 32 pixels (the image-file data sets: 224, 299) are first
average-pooled by k = ceil(max(H, W) / 32) (`stem_pool`, no variables), so that the
smoke model stays cheap at any input size (a 224 crop is seen at 32x32); inputs of at
most 32 pixels (digits, CIFAR) are unchanged.

Convolutions have no bias (BN follows). Layer names follow the zoo convention
(`stage{s}_...`, `head_fc`), so variable paths are e.g. `stage2_conv/kernel`.
With 10 classes: 56,554 trainable parameters (+320 BN moving statistics).
"""
import keras
from keras import layers

SMOKE_SIZE = 32  # larger inputs are average-pooled to about this size first


def _conv_bn_relu(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    # PyTorch BatchNorm2d defaults (momentum 0.1 <-> Keras 0.9, eps 1e-5).
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def small_cnn(num_classes, input_shape=(8, 8, 1)):
    """Builds the digits CNN; returns a functional `keras.Model` producing logits.

    Args:
        num_classes: number of output logits.
        input_shape: (H, W, C) of the already-normalised float images.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    k = -(-max(input_shape[:2]) // SMOKE_SIZE)
    if k > 1:
        x = layers.AveragePooling2D(k, name="stem_pool")(x)
    x = _conv_bn_relu(x, 32, "stage1")
    x = _conv_bn_relu(x, 64, "stage2")
    x = layers.MaxPooling2D(2, name="stage2_pool")(x)
    x = _conv_bn_relu(x, 64, "stage3")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(num_classes, name="head_fc")(x)
    return keras.Model(inputs, logits, name="small_cnn")
