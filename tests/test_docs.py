"""The documentation holds: every relative link and anchor in README.md, BUILD.md and
docs/ resolves, and every `python -m famus_tf.*` command shown in a code block uses
flags its program knows (famus_tf.main's commands are parsed whole, flagfiles and
values included)."""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

from absl import flags as absl_flags
from absl.testing import absltest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted([os.path.join(REPO, "README.md"), os.path.join(REPO, "BUILD.md")]
               + glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def _split(text):
    """(prose lines, code lines) of a markdown text: fenced blocks and lines indented by
    four spaces after a blank line or another code line are code."""
    prose, code, fenced, in_code, blank = [], [], False, False, True
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        indented = line.startswith("    ") and (blank or in_code)
        if fenced or (indented and line.strip()):
            code.append(line)
            in_code = True
        else:
            in_code = False
            prose.append(line)
        blank = not line.strip()
    return prose, code


def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`", "", heading.strip().lower())
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(path):
    out, seen = set(), {}
    prose, _ = _split(open(path, encoding="utf-8").read())
    for line in prose:
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            out.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return out


def links(path):
    """[(line number, target)] of the relative links of a page's prose."""
    prose, _ = _split(open(path, encoding="utf-8").read())
    out = []
    for number, line in enumerate(prose, 1):
        line = re.sub(r"`[^`]*`", "x", line)  # code spans: their text is no link
        out += [(number, t) for t in LINK.findall(line)
                if not re.match(r"^[a-z]+:", t)]  # http:, https:, mailto:
    return out


def commands(path):
    """[(program, [arguments])] of the `python -m famus_tf.*` commands in the page's code
    blocks (backslash continuations joined; `...` placeholders dropped)."""
    _, code = _split(open(path, encoding="utf-8").read())
    joined, buf = [], ""
    for line in code:
        buf += line.strip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        joined.append(buf)
        buf = ""
    out = []
    for line in joined:
        for part in re.split(r"&&|;(?=\s)|\|\|", line):
            head = re.sub(r"^\s*(\w+=\S*\s+)*", "", part)  # VAR=value prefixes
            if not re.match(r"^\S*python3?\s+-m\s+famus_tf", head):
                continue
            words = shlex.split(head.split(" #")[0])
            out.append((words[2], [w for w in words[3:] if w != "..."]))
    return out


def _flag_names(prog):
    """The flags `python -m prog` accepts, read in a process of its own (the programs
    define some flags of the same name on absl's global FLAGS)."""
    code = ("import importlib, json, sys\nfrom absl import flags\n"
            f"m = importlib.import_module({prog!r})\n"
            "own = [v for v in vars(m).values() if isinstance(v, flags.FlagValues)]\n"
            "print(json.dumps(sorted(own[0] if own else flags.FLAGS)))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _name(arg):
    return arg.lstrip("-").split("=", 1)[0]


class LinkTest(absltest.TestCase):

    def test_every_relative_link_and_anchor_resolves(self):
        dead = []
        for page in PAGES:
            for number, target in links(page):
                path, _, anchor = target.partition("#")
                full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
                where = f"{os.path.relpath(page, REPO)}: {target}"
                if not os.path.exists(full):
                    dead.append(f"{where} (no such file)")
                elif anchor and full.endswith(".md") and anchor not in anchors(full):
                    dead.append(f"{where} (no such heading)")
        self.assertEqual(dead, [])
        self.assertGreater(sum(len(links(p)) for p in PAGES), 50)  # the parser found links

    def test_slugs_as_github_makes_them(self):
        self.assertEqual(slug("Why FaMUS trails the full meta-gradient"),
                         "why-famus-trails-the-full-meta-gradient")
        self.assertEqual(slug("One backward pass fewer (`--actual_step=reuse`), mixed precision"),
                         "one-backward-pass-fewer---actual_stepreuse-mixed-precision")
        self.assertEqual(slug("`results.json`"), "resultsjson")

    def test_a_dead_link_is_found(self):
        tmp = self.create_tempdir()
        page = tmp.create_file("a.md", "# Top\n\nSee [b](b.md), [top](#top) and [gone](#gone).\n"
                                       "\n    python -m famus_tf.main --epochs=1 \\\n"
                                       "        --seed=2  # [not](a link)\n").full_path
        self.assertEqual(links(page), [(3, "b.md"), (3, "#top"), (3, "#gone")])
        self.assertEqual(anchors(page), {"top"})
        self.assertEqual(commands(page), [("famus_tf.main", ["--epochs=1", "--seed=2"])])


class CommandTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shown = [(os.path.relpath(p, REPO), prog, args) for p in PAGES for prog, args in commands(p)]

    def test_the_readme_shows_commands(self):
        progs = {prog for page, prog, _ in self.shown if page == "README.md"}
        self.assertLessEqual({"famus_tf.main", "famus_tf.study"}, progs)

    def test_every_flag_shown_is_a_flag_of_its_program(self):
        # --flagfile is absl's parser's own, in every program.
        known = {prog: _flag_names(prog) | {"flagfile"} for prog in sorted({p for _, p, _ in self.shown})}
        # famus_tf.study passes every other flag to famus_tf.main, and its --grid sets them.
        known["famus_tf.study"] |= known.get("famus_tf.main") or _flag_names("famus_tf.main")
        self.assertEqual(unknown_flags(self.shown, known), [])

    def test_an_unknown_flag_is_found(self):
        known = {"famus_tf.main": {"epochs", "famus"}, "famus_tf.study": {"grid", "epochs", "famus"}}
        shown = [("a.md", "famus_tf.main", ["--epochs=1", "--nofamus", "--epoch=2"]),
                 ("a.md", "famus_tf.study", ["--grid=epochs=1,2;variant=a:famus=true|b:lr=1"])]
        self.assertEqual(unknown_flags(shown, known),
                         ["a.md: python -m famus_tf.main ... --epoch=2", "a.md: --grid key lr"])

    def test_main_commands_parse_whole(self):
        import flags as famus_flags
        bad = []
        for page, prog, args in self.shown:
            if prog != "famus_tf.main":
                continue
            fv = absl_flags.FlagValues()
            famus_flags.define_all(fv)
            cwd = os.getcwd()
            os.chdir(REPO)  # flagfiles are named from the repository root
            try:
                fv(["famus_tf.main"] + args)
            except absl_flags.Error as e:
                bad.append(f"{page}: {' '.join(args)}: {e}")
            finally:
                os.chdir(cwd)
        self.assertEqual(bad, [])
        self.assertTrue(any(prog == "famus_tf.main" for _, prog, _ in self.shown))


class ReadmeTest(absltest.TestCase):
    """The README is a front page: short, the two set-up commands first, a true layout."""

    def setUp(self):
        super().setUp()
        self.text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()

    def test_short_and_opening_with_the_two_set_up_commands(self):
        self.assertLess(len(self.text.splitlines()), 200)
        _, code = _split(self.text.split("\n## ", 1)[0])  # before the first section
        setup = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && "
        self.assertEqual([c.strip() for c in code], [setup + ".venv/bin/python -m famus_tf.main",
                                                     setup + ".venv/bin/python -m pytest"])
        # CI runs the second one (.ci/run installs the same requirements, then pytest).
        ci = open(os.path.join(REPO, ".ci", "run"), encoding="utf-8").read()
        self.assertIn(".venv/bin/pip install -q -r requirements.txt && .venv/bin/python -m pytest", ci)

    def test_the_layout_names_every_module(self):
        layout = self.text.split("## Layout", 1)[1].split("\n## ", 1)[0]
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", layout))
        missing = []
        for path in sorted(glob.glob(os.path.join(REPO, "famus_tf", "**", "*.py"), recursive=True)):
            rel = os.path.relpath(path, os.path.join(REPO, "famus_tf"))
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts and not all(part in words for part in parts):
                missing.append(rel)
        self.assertEqual(missing, [])
        for top in ("flags/", "launch/", "docs/", "tests/"):
            self.assertIn(top, layout)


def unknown_flags(shown, known):
    """The arguments of `shown` [(page, program, args)] that are no flag of their program
    in `known` {program: names} (a study's --grid keys must be famus_tf.main's)."""
    unknown = []
    for page, prog, args in shown:
        for arg in args:
            if not arg.startswith("-"):
                continue
            name = _name(arg)
            if name not in known[prog] and not (name.startswith("no") and name[2:] in known[prog]):
                unknown.append(f"{page}: python -m {prog} ... {arg}")
            if prog == "famus_tf.study" and name == "grid":
                unknown += [f"{page}: --grid key {k}" for k in _grid_flags(arg)
                            if k not in known["famus_tf.main"]]
    return unknown


def _grid_flags(arg):
    """The flag names a study --grid sets (its axes and its variants' flags)."""
    names = []
    for axis in arg.split("=", 1)[1].split(";"):
        key, _, values = axis.partition("=")
        if key != "variant":
            names.append(key)
            continue
        for variant in values.split("|"):
            for setting in variant.partition(":")[2].split(","):
                if setting:
                    names.append(setting.split("=", 1)[0])
    return names


if __name__ == "__main__":
    absltest.main()
