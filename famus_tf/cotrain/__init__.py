"""Algorithm 2 (FaMUS with a pseudo-clean meta set; ALGORITHM.md §7, §8): the blocks and
the two-network training loop (--meta_set=pseudo_clean).

  divide.py      the per-epoch GMM split of the training set into labeled / unlabeled /
                 meta sets, the co-divide swap, and the clean-set detector statistics;
  eval_train.py  per-example cross-entropy of every training example (evaluation mode,
                 no augmentation), batched, under tf.distribute too;
  mixmatch.py    sharpening, label co-refinement, co-guessing and MixUp (tensor functions,
                 counter-based randomness);
  losses.py      the virtual loss of §8 step 4 and its per-example logit gradients as a
                 function of the example weights (the engine's interface), the meta loss
                 L_c of step 5 and the prior penalty;
  step.py        one co-training iteration of a network (CoStep): two augmentations,
                 co-refinement, co-guessing, MixUp of the training and meta batches, and
                 the engine's step on them (meta/objective.py: the engine's view of them).
  schedule.py    the epochs: warm-up, then --epochs co-training epochs, the learning rate
                 and the lambda_u ramp counted from the end of the warm-up (official);
  trainer.py     CoTrainer: the loop (warm-up, the per-epoch split, co-divide, both
                 networks' iterations, evaluation, export, exact resume);
  loops.py       its compiled multi-step loops; streams.py its per-epoch input streams;
  split_state.py the splits as checkpointed variables; ensemble.py the mean-logit model;
  epoch_log.py   what it logs per epoch and network (TensorBoard, results.json).

docs/algorithm2.md says what each block computes and how the loop runs the recipe.
"""
