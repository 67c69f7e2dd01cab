"""The torch boundary: the only package that imports torch at module level.

Its modules are imported only where torch is needed, and this file imports none
of them, so ``import symjac.torch_interop`` stays free of torch
(NOTE: cli-torch-free in :mod:`symjac.cli`). :mod:`symjac.torch_interop.files`
reads model files and builds torch modules for the command line.
"""
