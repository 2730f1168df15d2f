"""``python -m transferscout`` runs the command line."""

from transferscout.cli import app

app()
