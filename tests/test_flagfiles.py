"""Every flagfile in launch/ parses and builds its configuration (no data needed)."""
import glob
import os
import re

from absl import flags
from absl.testing import absltest, parameterized

import flags as _famus_flags  # noqa: F401
from famus_tf import main, models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = sorted(glob.glob(os.path.join(REPO, "launch", "*.cfg")))


def values_in(path):
    """--name=value pairs of a flagfile, includes first (later lines win)."""
    out = {}
    for line in open(path):
        m = re.match(r"--(\w+)=(.*)", line.strip())
        if m and m.group(1) == "flagfile":
            out.update(values_in(os.path.join(REPO, m.group(2))))
        elif m:
            out[m.group(1)] = m.group(2)
    return out


class FlagfileTest(parameterized.TestCase):

    def test_there_is_one_per_paper_setting(self):
        names = {os.path.basename(f) for f in FILES}
        self.assertIn("quickstart.cfg", names)
        self.assertGreaterEqual(len(names), 29)

    @parameterized.parameters(*FILES)
    def test_parses_and_builds(self, path):
        f = flags.FLAGS
        data_dir = self.create_tempdir().full_path
        os.makedirs(os.path.join(data_dir, "trusted"))  # launch/folder.cfg: a trusted set
        cwd = os.getcwd()
        os.chdir(REPO)  # includes are relative to the repository root, as documented
        f.unparse_flags()
        try:
            f(["famus", f"--flagfile={path}", f"--data_dir={data_dir}"])
            exp = main.build_experiment(f)
        finally:
            os.chdir(cwd)
            f.unparse_flags()
            f.mark_as_parsed()  # other tests' absltest helpers read flags
        given = values_in(path)
        self.assertEqual(exp.data.dataset, given["dataset"])
        self.assertEqual(exp.run.model, models.resolve(given["model"], given.get("weights_path")))
        self.assertEqual(exp.meta.method, given["method"])
        self.assertAlmostEqual(exp.optim.lr, float(given["lr"]))
        self.assertAlmostEqual(exp.noise.rate, float(given.get("noise_rate", 0.4)))
        self.assertEqual(exp.meta.loss, given.get("loss", "ce"))
        self.assertEqual(exp.meta.mlc_update, given.get("mlc_update", "learned"))
        self.assertEqual(exp.run.drw_epoch, int(given.get("drw_epoch", 0)))
        if exp.meta.method != "plain" and exp.meta.famus:
            self.assertTrue(exp.meta.candidates.startswith(("block:", "top:")) or
                            exp.meta.candidates == "all")

    @parameterized.parameters(("--virtual_lr=0", "--virtual_lr"), ("--drw_beta=1", "--drw_beta"))
    def test_value_without_meaning_is_a_flag_error(self, arg, name):
        f = flags.FLAGS
        f.unparse_flags()
        try:
            f(["famus", f"--flagfile={main.QUICKSTART}", arg])
            with self.assertRaisesRegex(main.FlagError, name):
                main.build_experiment(f)
        finally:
            f.unparse_flags()
            f.mark_as_parsed()


# The schedules of the paper's settings, each from its source (ALGORITHM.md §8, §10):
# (--epochs, --lr_epochs, --warmup_epochs, --lambda_u, gated tensors). Algorithm 2 counts
# --epochs and --lr_epochs after the warm-up, as the official script does (cotrain/schedule.py).
SCHEDULES = {
    # FaMUS run_famus.sh, per noise level: --warmup_epochs 30, --step1/--step2, --lambda_u;
    # 300 epochs (the script's default); the last stage of PreAct ResNet-18 is the 13 tensors
    # of layer4 that train_famus_redminiimage.py gates.
    "cnwl_red_20": (300, (200, 250), 30, 50.0, 13),
    "cnwl_red_40": (300, (200, 250), 30, 50.0, 13),
    "cnwl_red_60": (300, (100, 200), 30, 50.0, 13),
    "cnwl_red_80": (300, (100, 200), 30, 100.0, 13),
    # Supplement, WebVision: "decreases to its 1/10 at the 100 epoch, and stops at the 150
    # epoch"; warm-up 1 and lambda_u 0 from DivideMix's WebVision script; candidates: the
    # last Inception-ResNet-C block and conv_7b (12 tensors, about the official 13).
    "webvision": (150, (100,), 1, 0.0, 12),
    # Supplement, Clothing1M: the same schedule; DivideMix's warm-up 1 and lambda_u 0.
    "clothing1m_pseudo": (150, (100,), 1, 0.0, None),
    "clothing1m": (150, (100,), None, None, None),
}


class ScheduleTableTest(parameterized.TestCase):
    """The paper settings' schedules against the table above, and every FaMUS flagfile's
    candidate block larger than K (else nothing is sampled)."""

    @parameterized.parameters(*sorted(SCHEDULES))
    def test_schedule_as_its_source_gives_it(self, name):
        epochs, lr_epochs, warmup, lambda_u, gated = SCHEDULES[name]
        given = values_in(os.path.join(REPO, "launch", name + ".cfg"))
        self.assertEqual(int(given["epochs"]), epochs)
        self.assertEqual(tuple(int(e) for e in given["lr_epochs"].split(",")), lr_epochs)
        if warmup is not None:
            self.assertEqual(int(given["warmup_epochs"]), warmup)
            self.assertEqual(float(given["lambda_u"]), lambda_u)
        count = self.candidate_count(given)
        self.assertGreater(count, int(given["num_active"]))
        if gated is not None:
            self.assertEqual(count, gated)

    @staticmethod
    def candidate_count(given):
        from famus_tf.meta import selection
        model, size = given["model"], int(given.get("image_size", 0)) or {
            "inception_resnet_v2": 299, "resnet50": 224}.get(given["model"], 32)
        net = models.build_model(model, 10, (size, size, 3))
        spec = models.parse_candidates(given["candidates"], model)
        return len(selection.resolve([v.path for v in net.trainable_variables], spec,
                                     models.head_prefix(model)).candidates)


if __name__ == "__main__":
    absltest.main()
