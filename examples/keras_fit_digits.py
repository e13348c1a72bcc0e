"""FaMUS in your own Keras code: a CNN of yours, the embedded digits, 40% noisy labels.

    python examples/keras_fit_digits.py [--epochs 40] [--seed 0]

from a checkout (the sys.path line below puts this checkout first, so neither an install
nor PYTHONPATH is needed). The data are the program's embedded default (launch/quickstart.cfg):
10 clean meta images per class, 40% symmetric noise on the rest of the training split, 30%
of the digits held out as the clean test set. The same CNN trains twice with the quickstart's
settings (SGD lr 0.1, Nesterov momentum 0.9, x0.1 from epoch 30, batch 64, weight decay
5e-4): MW-Net + FaMUS through MetaReweighting.fit (beta 0.03, K = 4), and plain model.fit
on the noisy labels (Keras' own, decoupled weight decay). Prints both clean test
accuracies, then the ten most suspect training labels (find_label_issues).
"""
import argparse, os, sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import keras, numpy as np, tensorflow as tf
import famus_tf.keras as fk
from famus_tf.config import DataConfig, NoiseConfig
from famus_tf.data import datasets, pipeline


def my_cnn(num_classes, shape):  # a user's model: logits out, no final softmax
    block = lambda n: [keras.layers.Conv2D(n, 3, padding="same", use_bias=False),
                       keras.layers.BatchNormalization(), keras.layers.ReLU()]
    return keras.Sequential([keras.Input(shape), *block(32), *block(64), keras.layers.MaxPooling2D(),
                             *block(64), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(num_classes)])


parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
d = datasets.prepare(DataConfig(dataset="digits", meta_per_class=10), NoiseConfig(rate=0.4))
x, xm, xt = (pipeline.preprocess(a, d.mean, d.std, "float32").numpy()
             for a in (d.train_images, d.meta_images, d.test_images))
noisy = tf.data.Dataset.from_tensor_slices((x, d.train_labels, np.arange(len(x))))
noisy = noisy.shuffle(len(x), seed=args.seed).batch(64, drop_remainder=True)
lr = keras.callbacks.LearningRateScheduler(lambda epoch: 0.1 if epoch < 30 else 0.01)
sgd = lambda **kw: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True, **kw)
for method in ("MetaReweighting.fit (MW-Net + FaMUS)", "plain model.fit"):
    keras.utils.set_random_seed(args.seed)
    net = my_cnn(d.num_classes, d.image_shape)
    if method.startswith("Meta"):
        model = fk.MetaReweighting(net, meta_data=(xm, d.meta_labels), method="mwnet",
                                   famus=True, num_active=4, meta_batch_size=64, seed=args.seed)
        model.compile(optimizer=sgd(), meta_optimizer=keras.optimizers.SGD(0.03, momentum=0.9))
        model.fit(noisy, epochs=args.epochs, callbacks=[lr], verbose=0)
        issues = fk.find_label_issues(model, (x, d.train_labels), top=10)
    else:
        net.compile(optimizer=sgd(weight_decay=5e-4),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        net.fit(noisy.map(lambda xb, yb, ib: (xb, yb)), epochs=args.epochs, callbacks=[lr], verbose=0)
    accuracy = np.mean(net.predict(xt, verbose=0).argmax(1) == d.test_labels)
    print(f"clean test accuracy, {method}: {100 * accuracy:.2f}%", flush=True)
print("top suspects: rank index given predicted p_given meta_weight score truly_wrong")
for r in issues:
    print(f"{r['rank']} {r['index']} {r['given']} {r['predicted']} {r['p_given']:.2e} "
          f"{r['meta_weight']:.2e} {r['score']:.6f} {d.train_clean[r['index']] != r['given']}")
