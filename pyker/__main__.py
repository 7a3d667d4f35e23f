"""``python -m pyker`` runs the CLI."""

from pyker.cli.main import main

raise SystemExit(main())
