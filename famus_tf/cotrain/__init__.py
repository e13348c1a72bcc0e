"""Building blocks of Algorithm 2 (FaMUS with a pseudo-clean meta set; ALGORITHM.md §7, §8).

  divide.py      the per-epoch GMM split of the training set into labeled / unlabeled /
                 meta sets, the co-divide swap, and the clean-set detector statistics;
  eval_train.py  per-example cross-entropy of every training example (evaluation mode,
                 no augmentation), batched, under tf.distribute too;
  mixmatch.py    sharpening, label co-refinement, co-guessing and MixUp (tensor functions,
                 counter-based randomness);
  losses.py      the virtual loss of §8 step 4 and its per-example logit gradients as a
                 function of the example weights (the engine's interface), the meta loss
                 L_c of step 5, the lambda_u ramp and the prior penalty.
  step.py        one co-training iteration of a network (CoStep): two augmentations,
                 co-refinement, co-guessing, MixUp of the training and meta batches, and
                 the engine's step on them (meta/objective.py: the engine's view of them).

docs/algorithm2.md says what each block computes and what the training loop has to do
to run the recipe.
"""
