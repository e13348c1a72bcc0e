"""The epoch schedule of Algorithm 2: warm-up, then co-training, as the official script
counts them (ALGORITHM.md §8; FaMUS `train_famus_redminiimage.py` and `run_famus.sh`).

The official CNWL run first warms both networks up for W = `--warmup_epochs` epochs of
plain cross-entropy at the initial learning rate, then runs E = `--epochs` co-training
epochs e = 0 .. E-1, and everything scheduled is counted in e, from the end of the
warm-up:

  run epoch t (0-based, what the checkpoint stores):  warm-up if t < W, else e = t - W;
  learning rate:  lr during the warm-up;  lr * decay^#{m in --lr_epochs : m <= e};
  lambda_u:       0 during the warm-up;   lambda_u * clip(e / 16, 0, 1).

So `--warmup_epochs=30 --epochs=300 --lr_epochs=200,250` is the official CNWL 40% run:
330 epochs in all, the learning rate x0.1 from co-training epoch 200 (run epoch 230) and
again from 250 (run epoch 280). The same convention holds for every Algorithm 2 setting;
the one-network loop (train/loop.py) has no warm-up and counts from epoch 0.
"""
import dataclasses
from typing import Tuple

RAMPUP_EPOCHS = 16  # the official ramp of lambda_u: clip(e / 16, 0, 1)


@dataclasses.dataclass(frozen=True)
class Schedule:
    warmup_epochs: int            # W
    epochs: int                   # E: co-training epochs after the warm-up
    lr: float                     # initial base learning rate
    lr_decay: float               # factor at each of `lr_epochs`
    lr_epochs: Tuple[int, ...]    # co-training epochs from which the factor applies
    lambda_u: float               # weight of the unlabeled term after the ramp

    @classmethod
    def of(cls, exp):
        """The schedule of an Experiment (config.py)."""
        return cls(exp.cotrain.warmup_epochs, exp.run.epochs, exp.optim.lr, exp.optim.lr_decay,
                   tuple(exp.run.lr_epochs), exp.cotrain.lambda_u)

    @property
    def total_epochs(self):
        """W + E: the run's epochs, warm-up included."""
        return self.warmup_epochs + self.epochs

    def is_warmup(self, t):
        return t < self.warmup_epochs

    def cotrain_epoch(self, t):
        """e = t - W, the co-training epoch of run epoch t (negative during the warm-up)."""
        return t - self.warmup_epochs

    def learning_rate(self, t):
        """The base learning rate of run epoch t."""
        if self.is_warmup(t):
            return self.lr
        e = self.cotrain_epoch(t)
        return self.lr * self.lr_decay ** sum(m <= e for m in self.lr_epochs)

    def lambda_u_at(self, t):
        """lambda_u of run epoch t (0 in the warm-up)."""
        return lambda_u_ramp(self.lambda_u, self.cotrain_epoch(t))


def lambda_u_ramp(lambda_u, e, rampup=RAMPUP_EPOCHS):
    """lambda_u * clip(e / rampup, 0, 1), e = co-training epochs since the warm-up."""
    return float(lambda_u) * min(max(e / float(rampup), 0.0), 1.0)
