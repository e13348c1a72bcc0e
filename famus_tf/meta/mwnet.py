"""MW-Net (Shu et al., NeurIPS 2019): a weighting network maps each example's loss
to its weight; phi is the vector of (sum-normalised) weights.

With `normalise_weights=True` (the official WRN script and FaMUS) the training loss is
sum_i v_i l_i / sum_j v_j; otherwise (the ResNet-32 script) it is sum_i v_i l_i / n.
l_i is the training loss of losses.py (CE, or LDAM: then this is the weighted LDAM
loss), and the weighting network's input is l_i itself (stop-gradient).
"""
import tensorflow as tf

from famus_tf.meta import replicas
from famus_tf.meta.method import WeightedLoss
from famus_tf.meta.weighting import build_weighting_net, example_weights


class MWNet(WeightedLoss):
    name = "mwnet"

    def __init__(self, config, loss):
        super().__init__(loss)
        self.normalise = config.normalise_weights
        self.net = build_weighting_net(config.weighting_hidden)
        self.meta_variables = tuple(self.net.trainable_variables)

    def phi(self, losses, labels):
        v = example_weights(self.net, losses, normalise=self.normalise)
        if not self.normalise:
            v = v / replicas.global_size(v)
        return v

    def actual_phi(self, losses, labels, d_phi):
        return tf.stop_gradient(self.phi(losses, labels))
