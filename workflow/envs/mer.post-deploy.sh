#!/usr/bin/env bash
# Run by Snakemake after creating the rule environment: facenet-pytorch 2.6.0 pins
# torch<2.3, numpy<2 and Pillow<10.3, so it goes in without dependencies (its real needs are
# pinned in mer.yaml). Keep this pin equal to requirements/nodeps.txt (tests/test_envs.py).
set -euo pipefail
python -m pip install --no-deps facenet-pytorch==2.6.0
