"""``python -m fashionlab`` runs the command-line tool."""

from .cli import main

main()
