"""Structure rules of the developer guide, checked on the source: no function in
famus_tf/ longer than 60 lines."""
import ast
import glob
import os

from absl.testing import absltest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 60


def long_functions(root=REPO, limit=MAX_LINES):
    """[(path:line name, lines)] of every function or method longer than `limit` lines."""
    found = []
    for path in sorted(glob.glob(os.path.join(root, "famus_tf", "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, root)
        with open(path) as fh:
            tree = ast.parse(fh.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append((f"{rel}:{node.lineno} {node.name}", lines))
    return found


class StructureTest(absltest.TestCase):

    def test_no_function_longer_than_60_lines(self):
        self.assertEqual(long_functions(), [])

    def test_the_check_finds_a_long_function(self):
        root = self.create_tempdir().full_path
        os.makedirs(os.path.join(root, "famus_tf"))
        with open(os.path.join(root, "famus_tf", "m.py"), "w") as fh:
            fh.write("def f():\n" + "    x = 1\n" * 61 + "\n\ndef g():\n    return 1\n")
        self.assertEqual(long_functions(root), [("famus_tf/m.py:1 f", 62)])


if __name__ == "__main__":
    absltest.main()
