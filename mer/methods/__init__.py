"""The papers' methods (GAMDSS, Ra-ICL, MA2MI/MIACNet); importing the package registers each one.

Each subpackage registers a `mer.training.methods.Method` under its name, so an experiment's
`method:` key selects it and `train_fold` runs it under the same honest job rules.
"""
