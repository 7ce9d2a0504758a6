"""`python -m mer` runs the command-line interface (how Snakemake rules call it)."""

from mer.cli import main

main()
