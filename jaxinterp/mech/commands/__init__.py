"""`jaxinterp mech` sub-commands that work on any pretrained checkpoint, one module each.

Each module has `add_parser(sub)`, which registers its sub-command on the `mech` group with
`set_defaults(func=...)`; `jaxinterp.mech.cli` registers every module of this package. A module imports
JAX and the model code inside its handler only, so that building the CLI (and `--help`) stays fast.
"""

import importlib
import pkgutil


def add_parsers(sub) -> None:
    """Registers the sub-command of every module in this package, in module-name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda module: module.name):
        importlib.import_module(f"{__name__}.{info.name}").add_parser(sub)
