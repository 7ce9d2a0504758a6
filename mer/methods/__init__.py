"""The papers' methods (GAMDSS, Ra-ICL, MA2MI/MIACNet); importing the package registers each one.

Each subpackage registers a `mer.training.methods.Method` under its name, so an experiment's
`method:` key selects it and `train_fold` runs it under the same honest job rules.
"""

from mer.methods import gamdss as _gamdss  # noqa: F401  (registers "gamdss")
from mer.methods import ma2mi as _ma2mi  # noqa: F401  (registers "miacnet")
from mer.methods import ra_icl as _ra_icl  # noqa: F401  (registers "ra_icl")
