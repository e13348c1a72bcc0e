"""Image lists: `<image path> <label>` per line (WebVision, Clothing1M, CNWL, and the
`--dataset=list` files of one's own data).

One parser for all of them, so that every malformed line and out-of-range label is
reported the same way: with its file and line number, before any training.
"""
import os


def text_lines(path, what):
    """(line number, line) of a UTF-8 text file; a file that is not text (a binary
    array, another encoding) is a ValueError naming the file, the line and `what` the
    file should hold."""
    lineno = 0
    with open(path, encoding="utf-8") as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                yield lineno, line
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text ({e.reason} after line {lineno}); "
                             f"expected {what}") from None


def read_lines(path, what="image list", spaces_in_paths=False):
    """[(line number, image path as written, label token)] of a list file.

    `spaces_in_paths`: the label is the last word of the line and the path all before it
    (own lists: file names with spaces); otherwise a line is exactly two words.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path} not found")
    out = []
    for lineno, line in text_lines(path, f"'<image path> <label>' lines ({what})"):
        text = line.strip()
        if not text:
            continue
        parts = text.rsplit(None, 1) if spaces_in_paths else text.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{lineno}: expected '<image path> <label>', got {text!r}")
        out.append((lineno, parts[0].rstrip() if spaces_in_paths else parts[0], parts[1]))
    return out


def is_int(token):
    """True for a label written as an integer (a leading minus allowed)."""
    return token.lstrip("-").isdigit()


def read_pairs(path, num_classes, what="image list"):
    """[(image path as written, label)] of a list file with integer labels in [0, num_classes)."""
    pairs = []
    for lineno, image, token in read_lines(path, what):
        if not is_int(token):
            raise ValueError(f"{path}:{lineno}: expected '<image path> <label>', got "
                             f"{image + ' ' + token!r}")
        label = int(token)
        if not 0 <= label < num_classes:
            raise ValueError(f"{path}:{lineno}: label {label} outside [0, {num_classes})")
        pairs.append((image, label))
    return pairs
