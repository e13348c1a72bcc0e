"""absl flag definitions of famus_tf.main, grouped by concern (one module a group).

Importing this package defines every flag on absl's global FLAGS. Only
`famus_tf.main` reads them; it turns them into the plain config objects of
famus_tf/config.py.
"""
from flags import data, distribute, famus, loss, method, model, noise, optim, run  # noqa: F401
