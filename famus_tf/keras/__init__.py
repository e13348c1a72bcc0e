"""FaMUS in the user's own Keras code (docs/keras.md).

`MetaReweighting` wraps a built Keras model whose output is logits; its `train_step` is
the engine's `MetaLearner.train_step` (famus_tf/meta/step.py), so `model.fit` trains it
with MW-Net, L2R or MLC, with or without FaMUS. `find_label_issues` ranks the training
examples by the score of suspects.csv (famus_tf/train/suspects.py).
"""
from famus_tf.keras.label_issues import find_label_issues
from famus_tf.keras.model import MetaReweighting

__all__ = ["MetaReweighting", "find_label_issues"]
