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


if __name__ == "__main__":
    absltest.main()
