"""Plain configuration objects for every part of a run, and the `Experiment` that
holds them. No absl in here.

`famus_tf.main` turns parsed flags into these; library code receives them as
arguments. These dataclass defaults are the only defaults: the flags in flags/ take
theirs from here. They are the paper's where it gives one (the `launch/` flagfiles
hold the per-setting values).
"""
import dataclasses
from typing import Optional, Tuple


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    """The meta-learning method and FaMUS."""
    method: str = "mwnet"            # plain | mwnet | l2r | mlc
    famus: bool = True               # gate the second-order paths with learned samplers
    gate_policy: str = "learned"     # learned | random (Random-K) | fixed (every candidate on)
                                     # | off (no candidate on); meta/step.py GATE_POLICIES
    candidates: str = "all"          # all | top:N | block:PREFIX[,PREFIX] (see meta/selection.py);
                                     # the flag also takes last_stage (models.parse_candidates)
    head_prefix: str = "head"        # variable-path prefix of the classifier
    head_always_on: bool = True      # the classifier's second-order path is always kept
    gate_weighting: str = "none"     # none: Eq. 9 | inverse_prob: each kept candidate term
                                     # divided by its keep probability (unbiased; meta/virtual.py)
    num_active: int = 4              # K of Eq. 10 (and of Random-K)
    lambda_r: float = 0.1            # lambda_1, weight of L_r (Eq. 10)
    lambda_g: float = 0.1            # lambda_2, weight of L_g (Eq. 11)
    lr_loss: str = "paper"           # paper: (sum_l r_l - K)^2; code: last gate only
    lg_loss: str = "paper"           # paper: avg-pool L2 (Eq. 11); code: moment matching
    gumbel_tau: float = 5.0          # Gumbel-softmax temperature (official code)
    sampler_hidden: int = 128        # paper and code
    sampler_depth: str = "paper"     # paper: 2 FC layers; code: 3 Linear layers
    num_segments: int = 8            # traced branches over the candidates (speed only);
                                     # 0: one graph, gates as masks (chosen with XLA)
    normalise_weights: bool = True   # MW-Net: v / sum(v)
    weighting_hidden: int = 100      # MW-Net weighting network width
    meta_lr: float = 1e-3            # beta
    meta_momentum: float = 0.9
    meta_weight_decay: float = 5e-4
    sampler_lr: float = 0.1          # delta
    sampler_momentum: float = 0.9
    mlc_update: str = "learned"      # MLC: learned (T a meta model, beta) | official (T = I
                                     # every step, one plain step of mlc_t_step); meta/mlc.py
    mlc_t_step: float = 0.11         # MLC official: step size on T
    actual_step: str = "recompute"   # recompute: phi from the updated meta model (Eq. 5) |
                                     # reuse: the virtual step's gradient (meta/actual.py)
    loss: str = "ce"                 # training loss of every method: ce | ldam (meta/losses.py)
    ldam_max_margin: float = 0.5     # LDAM: the largest class margin
    ldam_scale: float = 30.0         # LDAM: logit scale s
    drw_step: int = 0                # DRW: first iteration with class weights (0: off; the
                                     # loop converts RunConfig.drw_epoch)
    drw_beta: float = 0.9999         # DRW: beta of the effective number of samples
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """SGD of the base network: PyTorch-style (coupled) weight decay, Nesterov momentum."""
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    lr_boundaries: Tuple[int, ...] = ()   # in iterations (the loop converts epochs)
    lr_decay: float = 0.1
    virtual_lr: Optional[float] = None    # None: the current scheduled lr (MW-Net/FaMUS)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data, how it is batched, and the clean meta set."""
    dataset: str = "digits"
    data_dir: Optional[str] = None
    batch_size: int = 64
    meta_batch_size: int = 64        # validation (meta) batch per step
    meta_per_class: int = 10         # clean meta examples per class, taken before corruption
    eval_batch_size: int = 256
    augment: str = "none"            # on-device augmentation, see data/augment.py
    imbalance: float = 1.0           # long-tailed data sets: n_max / n_min (exponential profile)
    label_set: str = "aggregate"     # CIFAR-N human label set
    source: str = "auto"             # CIFAR: python batches, tfds, or auto
    num_batches: int = 1000          # Clothing1M / WebVision: class-balanced batches per epoch
                                     # (WebVision: 0 = plain shuffled epochs)
    cnwl_level: float = 0.4          # CNWL: noise level of the split file
    image_size: int = 32             # CNWL: decoded image size (32 as in the paper, or 84);
                                     # folder/list: the trained size
    decode_size: int = 0             # folder/list: decoded size (0: image_size; larger: crops)
    train_list: Optional[str] = None   # list: `<image path> <label>` lines, paths under data_dir
    trusted_list: Optional[str] = None  # list: the hand-checked (clean) meta set
    test_list: Optional[str] = None    # list: the test set
    class_names: Optional[str] = None  # list: file of class names, line c = class c
    records_dir: Optional[str] = None  # training split from TFRecords (data/records.py)
    holdout_fraction: float = 0.0    # part of the noisy training set held out and evaluated
                                     # each epoch (data/prepared.py with_holdout); 0: none


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Where the run writes, how long it trains, and how it is checkpointed."""
    model_dir: str = "runs/quickstart"
    model: str = "small_cnn"
    head: str = "linear"             # classifier: linear | cosine (LDAM's normalised head)
    epochs: int = 30
    max_steps: int = 0               # stop after this many steps (0: epochs only)
    lr_epochs: Tuple[int, ...] = ()  # epochs at which the base lr decays (added to iteration ones)
    drw_epoch: int = 0               # epoch from which DRW re-weights (0: off; -> MetaConfig.drw_step)
    steps_per_call: int = 10         # training steps per tf.function call
    seed: int = 0
    xla: bool = False
    precision: str = "float32"       # float32 | mixed_bfloat16 | mixed_float16 (the base
                                     # network's forward/backward; meta/precision.py)
    checkpoint_every: int = 200      # steps between checkpoints (and one per epoch)
    keep_checkpoints: int = 3
    export: bool = True
    export_only: bool = False        # restore the latest checkpoint, export, stop
    profile_split: bool = True       # time virtual / meta / actual parts once per epoch
    log_every_secs: float = 30.0     # without a terminal: a progress line this often
    on_nonfinite: str = "stop"       # a non-finite loss or update: stop (exit 1) | skip the step
    weights_path: Optional[str] = None
    compare_baseline: bool = False   # also train plain CE on the same noisy labels
    strategy: str = "default"        # tf.distribute strategy, see train/distribute.py
    devices: Tuple[str, ...] = ()    # devices of the mirrored strategy (empty: all GPUs)
    logical_cpus: int = 0            # split the CPU into this many logical devices
    tpu_address: str = ""
    sync_batchnorm: bool = False     # BatchNorm over the global batch (changes the maths)


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """The synthetic label noise of the training set (data/noise.py)."""
    noise_type: str = "symmetric"    # one of data/noise.py NOISE_TYPES
    rate: float = 0.4                # r
    seed: int = 0                    # seed of the noise and of the meta-set split
    transition: Optional[Tuple[Tuple[float, ...], ...]] = None  # noise_type=transition: T
    path: Optional[str] = None       # noise_type=file: noisy labels (.npz or text)


@dataclasses.dataclass(frozen=True)
class CotrainConfig:
    """Algorithm 2 of the supplement (ALGORITHM.md §7, §8): two networks, each with its own
    meta model and samplers, the meta set drawn from the training set by the other
    network's GMM, DivideMix-style MixMatch. Defaults: the official CNWL script where it
    gives one (famus_tf/cotrain/)."""
    meta_set: str = "clean"          # clean: the MW-Net protocol's clean meta set |
                                     # pseudo_clean: Algorithm 2 (no clean labels needed)
    warmup_epochs: int = 30          # plain CE, both networks, before the first split
    p_threshold: float = 0.5         # labeled set: clean probability above this
    meta_threshold: float = 0.5      # pseudo-clean meta set: clean probability above this
    lambda_u: float = 50.0           # weight of the unlabeled MSE (ramped over 16 epochs)
    mix_alpha: float = 1.5           # MixUp Beta(alpha, alpha)
    temperature: float = 0.5         # sharpening T of co-refinement and co-guessing
    recipe: str = "famus"            # targets of unlabeled rows: famus (official code) |
                                     # dividemix (co-guess only); cotrain/mixmatch.py RECIPES
    prior: bool = True               # the prior penalty in the virtual, actual and meta losses

    @property
    def labeled_rows_only(self):
        """lambda_u = 0: the co-training step trains on the 2B mixed labeled rows only
        (their MixUp partners still come from all 4B rows), as DivideMix's WebVision and
        Clothing1M scripts do (cotrain/step.py)."""
        return self.lambda_u == 0


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Every part of one run."""
    run: RunConfig
    data: DataConfig
    noise: NoiseConfig
    meta: MetaConfig
    optim: OptimConfig
    cotrain: CotrainConfig = CotrainConfig()

    def as_dict(self):
        """The resolved configuration, as written to MODEL_DIR/config.json."""
        return to_dict(self.run, self.data, self.noise, self.meta, self.optim, self.cotrain)


def to_dict(*configs):
    """One JSON-ready dict of several configs, keyed by class name."""
    return {type(c).__name__: dataclasses.asdict(c) for c in configs}
