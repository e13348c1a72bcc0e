"""famus_tf/hardware.py: the CPU's bfloat16 instruction sets and model read from
cpuinfo fixtures, oneDNN as TensorFlow reports it, the one-line description."""
import os

from absl.testing import absltest

from famus_tf import hardware


def _cpuinfo(tmp, flags_line, model="Some CPU @ 2.0GHz"):
    path = os.path.join(tmp, "cpuinfo")
    with open(path, "w") as fh:
        fh.write(f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: {flags_line}\n\n"
                 f"processor\t: 1\nmodel name\t: {model}\nflags\t\t: {flags_line}\n")
    return path


class HardwareTest(absltest.TestCase):

    def test_bfloat16_flags_read_from_cpuinfo(self):
        tmp = self.create_tempdir().full_path
        for flags_line, want in (("fpu avx2 avx512f avx512_bf16 fma", ["avx512_bf16"]),
                                 ("fpu avx512_bf16 amx_bf16 amx_tile", ["avx512_bf16", "amx_bf16"]),
                                 ("fpu avx amx_bf16", ["amx_bf16"]), ("fpu avx avx2 fma", [])):
            self.assertEqual(hardware.bfloat16_flags(_cpuinfo(tmp, flags_line)), want, flags_line)
        self.assertIsNone(hardware.bfloat16_flags(os.path.join(tmp, "absent")))

    def test_the_line_names_cpu_bfloat16_and_onednn(self):
        tmp = self.create_tempdir().full_path
        info = hardware.describe(_cpuinfo(tmp, "fpu avx2 fma", model="AMD EPYC"))
        self.assertEqual(info["cpu"], "AMD EPYC")
        self.assertEqual(info["bfloat16"], [])
        line = hardware.line(dict(info, onednn=False))
        self.assertEqual(line, "CPU: AMD EPYC; bfloat16: emulated (none of avx512_bf16, amx_bf16); "
                               "TensorFlow's oneDNN kernels: off")
        line = hardware.line({"cpu": "X", "bfloat16": ["amx_bf16"], "onednn": True})
        self.assertIn("bfloat16: native (amx_bf16)", line)
        self.assertIn("oneDNN kernels: on", line)

    def test_onednn_follows_the_environment_of_this_process(self):
        flag = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
        if flag not in ("0", "1"):
            self.skipTest("TF_ENABLE_ONEDNN_OPTS not set: the default depends on the CPU")
        self.assertEqual(hardware.onednn_enabled(), flag == "1")


if __name__ == "__main__":
    absltest.main()
