"""`python -m jaxinterp` is the same as the `jaxinterp` command."""

from jaxinterp.cli import main

raise SystemExit(main())
