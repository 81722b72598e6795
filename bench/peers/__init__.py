"""One module per library, each run as ``python -m bench.peers.<name> <measurement>``.

These modules run inside the library's own virtualenv: they import only the standard library,
that library, and the stdlib-only helpers ``_harness`` and ``_resp``.
"""
