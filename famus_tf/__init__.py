import sys

if sys.argv[:1] == ["-m"]:  # `python -m famus_tf.<tool>` is starting: a quiet start-up
    from famus_tf import startup

    startup.quiet()
