"""LaTeX tables (booktabs) from a header and string cells, escaped, for pasting into a paper."""

from __future__ import annotations

import re
from collections.abc import Sequence

_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "±": r"$\pm$"}
_PATTERN = re.compile("|".join(re.escape(key) for key in _SPECIAL))


def escape(text: str) -> str:
    """`text` with LaTeX's special characters escaped (and ± as $\\pm$)."""
    return _PATTERN.sub(lambda match: _SPECIAL[match.group(0)], text)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> str:
    """A `table` environment with a booktabs `tabular` (first column left, others centred)."""
    spec = "l" + "c" * (len(header) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{escape(caption)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(escape(cell) for cell in header) + r" \\",
        r"\midrule",
        *(" & ".join(escape(cell) for cell in row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)
