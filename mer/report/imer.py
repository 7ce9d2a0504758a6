"""IMER tables from saved trial JSONs: the paper's Table 2 layout, R matrices, confusions and label counts.

`build_imer_report(params, benchmark)` (the `mer report --imer <benchmark>` verb) reads every
trial of the benchmark (`mer.incremental.plan`), checks that they belong together (same
sessions, same label counts, one folds hash per protocol, every fold present), summarises
each (protocol, backbone, learner) over its folds (`mer.incremental.metrics.summarise`) and
writes `results/tables/imer_<benchmark>.{md,csv}` and `imer_<benchmark>.counts.csv`.

Layout (IMER Table 2, reference/incremental.md §8): one table per protocol, rows grouped by
backbone, then method; columns S1…ST (cumulative accuracy A_t after each session), Ā, A_T,
F, BWT, UF1_T, UAR_T, the memory budget, exemplars held and parameters after the last
session; cells are mean ± SD over folds. Each protocol's first row is the majority-class
reference (the most frequent global emotion of the training data seen so far; the same for
every learner of a fold, which is checked): a learner at or below it has learnt nothing.
Appendices: the mean R matrices, the pooled 9×9 confusion at T, the predicted-class
histograms after the first and the last session, and the label counts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mer.atomic import write_csv, write_text
from mer.errors import InputDataError
from mer.incremental.config import benchmark_config
from mer.incremental.metrics import FORGETTING_VARIANT, summarise
from mer.incremental.plan import COUNTS, TABLE, Trial, trials

Key = tuple[str, str, str]  # (protocol, backbone, learner)
MAJORITY = "majority class"  # the reference row's method name
# Table columns after S1…ST: (summary key, header, kind).
COLUMNS = (
    ("avg_incremental_accuracy", "Ā", "percent"),
    ("last_accuracy", "A_T", "percent"),
    ("forgetting", "F ↓", "percent"),
    ("bwt", "BWT", "percent"),
    ("uf1_last", "UF1_T", "fraction"),
    ("uar_last", "UAR_T", "fraction"),
)
DEFINITIONS = (
    "S_t: accuracy on the cumulative test set after session t (the folds' test parts of sessions 1..t, "
    "sample-weighted; the IMER paper's per-session number). Ā: mean of S_1..S_T. A_T: S_T. "
    f"F: forgetting ({FORGETTING_VARIANT}). BWT: mean over j < T of R[T, j] - R[j, j]. "
    "UF1_T / UAR_T: macro-F1 / mean per-class recall over the global emotions on the cumulative test set after "
    "the last session (classes undefined for a metric left out). Accuracies, F and BWT in %; cells are "
    "mean ± SD (ddof 1) over folds. Memory: exemplar budget; Exemplars_T / Params_T: held after the last session."
)


def _read(trial: Trial) -> dict[str, Any]:
    path = Path(trial.path)
    if not path.is_file():
        raise InputDataError("incremental trial result missing (run `snakemake imer`)", path=str(path))
    result = json.loads(path.read_text(encoding="utf-8"))
    found = (result["benchmark"], result["protocol"], result["backbone"], result["learner"], result["fold"])
    expected = (trial.benchmark, trial.protocol, trial.backbone, trial.learner, trial.fold)
    if found != expected:
        raise InputDataError(f"the result is of trial {found}, its path names {expected}", path=str(path))
    return result


def _check_together(results: dict[Trial, dict[str, Any]], sessions: Sequence[str]) -> None:
    """Same sessions and counts everywhere, one folds hash per protocol."""
    hashes: dict[str, str] = {}
    counts = None
    for trial, result in results.items():
        where = trial.path
        found = [s["dataset"] for s in result["sessions"]]
        if found != list(sessions):
            raise InputDataError(f"sessions {found} differ from the benchmark's {list(sessions)}", path=where)
        if hashes.setdefault(trial.protocol, result["folds"]["hash"]) != result["folds"]["hash"]:
            raise InputDataError(
                f"{trial.protocol} folds hash differs from the other trials' (stale result?)", path=where
            )
        if counts is None:
            counts = result["counts"]
        elif result["counts"] != counts:
            raise InputDataError("label counts differ from the other trials' (stale result?)", path=where)


def _cell(summary: dict[str, Any], kind: str) -> str:
    if summary["mean"] is None:
        return "n/a"
    scale, digits = (100.0, 1) if kind == "percent" else (1.0, 3)
    text = f"{summary['mean'] * scale:.{digits}f}"
    return text if summary["sd"] is None else f"{text} ± {summary['sd'] * scale:.{digits}f}"


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def _row_facts(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What a row says besides its metrics: head, memory, exemplars, parameters, weights, commits."""
    learner = runs[0]["config"]["learner"]
    weights = sorted({(r["weights"] or {}).get("sha256", "random") for r in runs})
    return {
        "model": learner["backbone"],
        "head": learner["head"] if learner["head"] != "rch" else f"rch/{learner['rch_aggregation']}",
        "memory": learner["memory"],
        "exemplars_last": _mean([r["sessions"][-1]["memory"] for r in runs]),
        "params_last": _mean([r["sessions"][-1]["parameters"]["total"] for r in runs]),
        "weights_sha256": ";".join(weights),
        "git_commits": ";".join(sorted({r["runtime"]["git_commit"] for r in runs})),
    }


def _summaries(results: dict[Trial, dict[str, Any]]) -> dict[Key, tuple[dict[str, Any], dict[str, Any]]]:
    grouped: dict[Key, list[dict[str, Any]]] = {}
    for trial, result in results.items():
        grouped.setdefault((trial.protocol, trial.backbone, trial.learner), []).append(result)
    return {
        key: (summarise([r["metrics"] for r in sorted(runs, key=lambda r: r["fold"])]), _row_facts(runs))
        for key, runs in grouped.items()
    }


def _references(results: dict[Trial, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per protocol, the majority-class reference summarised over folds; every trial of a fold must agree."""
    per_fold: dict[tuple[str, int], dict[str, Any]] = {}
    for trial, result in results.items():
        baseline = result.get("baselines", {}).get("majority")
        if baseline is None:
            raise InputDataError("the result has no majority-class reference (stale; rerun the trial)", path=trial.path)
        seen = per_fold.setdefault((trial.protocol, trial.fold), baseline)
        if seen["cumulative_accuracy"] != baseline["cumulative_accuracy"]:
            raise InputDataError("majority-class reference differs from the fold's other trials", path=trial.path)
    protocols = dict.fromkeys(protocol for protocol, _ in per_fold)
    return {
        protocol: summarise([per_fold[key] for key in sorted(per_fold) if key[0] == protocol]) for protocol in protocols
    }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def imer_frame(
    summaries: dict[Key, tuple[dict[str, Any], dict[str, Any]]],
    references: dict[str, dict[str, Any]],
    sessions: Sequence[str],
) -> pd.DataFrame:
    """One CSV row per (protocol, backbone, learner), after each protocol's majority-class reference
    (backbone empty, learner `majority class`): means and SDs of every column, pooled scores, facts."""
    reference_facts = {"model": "", "head": "", "memory": 0, "exemplars_last": 0, "params_last": 0,
                       "weights_sha256": "", "git_commits": ""}  # fmt: skip
    rows = [
        row
        for protocol, reference in references.items()
        for row in [((protocol, "", MAJORITY), (reference, reference_facts)),
                    *((key, value) for key, value in summaries.items() if key[0] == protocol)]
    ]  # fmt: skip
    records = []
    for (protocol, backbone, learner), (summary, facts) in rows:
        record: dict[str, Any] = {"protocol": protocol, "backbone": backbone, "learner": learner}
        record.update({k: facts[k] for k in ("model", "head", "memory")})
        record["n_folds"] = summary["n_folds"]
        for t, dataset in enumerate(sessions):
            record[f"s{t + 1}_{dataset}_mean"] = summary["cumulative_accuracy"][t]["mean"]
            record[f"s{t + 1}_{dataset}_sd"] = summary["cumulative_accuracy"][t]["sd"]
        for key, _, _ in COLUMNS:
            record[f"{key}_mean"], record[f"{key}_sd"] = summary[key]["mean"], summary[key]["sd"]
        record["uf1_pooled_last"], record["uar_pooled_last"] = summary["uf1_pooled_last"], summary["uar_pooled_last"]
        record.update({k: facts[k] for k in ("exemplars_last", "params_last", "weights_sha256", "git_commits")})
        records.append(record)
    return pd.DataFrame(records)


def imer_markdown(
    name: str,
    summaries: dict[Key, tuple[dict[str, Any], dict[str, Any]]],
    references: dict[str, dict[str, Any]],
    results: dict[Trial, dict[str, Any]],
    sessions: Sequence[str],
) -> str:
    """The Markdown report: one Table-2 block per protocol (majority-class reference first), then the appendices."""
    first = next(iter(results.values()))
    source = first["input"]
    lines = [
        f"# Incremental benchmark `{name}`: {' → '.join(sessions)}",
        "",
        f"Input: `{source['kind']}` at {source['size']} px ({source['scaling']}). Seed {first['seed']}.",
        "",
    ]
    session_headers = [f"S{t + 1} {d}" for t, d in enumerate(sessions)]
    protocols = list(dict.fromkeys(key[0] for key in summaries))
    for protocol in protocols:
        folds = next(r["folds"] for t, r in results.items() if t.protocol == protocol)
        lines += [
            f"## {protocol.upper()} ({folds['n_folds']} folds, seed {folds['seed']}, {folds['level']}-level; "
            f"folds hash {folds['hash'][:12]})",
            "",
        ]
        header = ["Backbone", "Method", "Head", "Memory", *session_headers, *(h for _, h, _ in COLUMNS),
                  "Exemplars_T", "Params_T"]  # fmt: skip
        rows = [["—", MAJORITY, "—", "—", *_metric_cells(references[protocol], len(sessions)), "0", "0"]]
        for (p, backbone, learner), (summary, facts) in summaries.items():
            if p != protocol:
                continue
            rows.append([backbone, learner, facts["head"], str(facts["memory"]), *_metric_cells(summary, len(sessions)),
                         f"{facts['exemplars_last']:g}", f"{facts['params_last']:,.0f}"])  # fmt: skip
        lines += [*_table(header, rows), ""]
    lines += [DEFINITIONS, ""]
    emotions = first["label_space"]["global_names"]
    lines += _appendices(summaries, sessions, emotions, first["counts"])
    lines += _histograms(summaries, references, sessions, emotions)
    lines += _provenance(summaries, results)
    return "\n".join(lines)


def _metric_cells(summary: dict[str, Any], sessions: int) -> list[str]:
    """S1…ST, then the COLUMNS cells of one summarised row."""
    cells = [_cell(summary["cumulative_accuracy"][t], "percent") for t in range(sessions)]
    return cells + [_cell(summary[key], kind) for key, _, kind in COLUMNS]


def _histograms(
    summaries: dict[Key, tuple[dict[str, Any], dict[str, Any]]],
    references: dict[str, dict[str, Any]],
    sessions: Sequence[str],
    emotions: Sequence[str],
) -> list[str]:
    """Appendix D: how often each global emotion is predicted after S1 and after S_T, pooled over folds."""
    lines = ["## Appendix D: predicted-class histograms (all folds pooled)", "",
             "Predictions per global emotion on the cumulative test set after the first and the last session; "
             "`truth` counts the true labels. A learner predicting one emotion is collapsed, whatever its accuracy.",
             ""]  # fmt: skip
    last = len(sessions) - 1
    for protocol, reference in references.items():
        rows = [["truth", "", f"S{t + 1}", *map(str, reference["true_pooled"][t])] for t in (0, last)]
        rows += [[MAJORITY, "", f"S{t + 1}", *map(str, reference["predicted_pooled"][t])] for t in (0, last)]
        for (p, backbone, learner), (summary, _) in summaries.items():
            if p == protocol:
                rows += [[backbone, learner, f"S{t + 1}", *map(str, summary["predicted_pooled"][t])] for t in (0, last)]
        lines += [f"### {protocol}", "", *_table(["Backbone", "Method", "After", *emotions], rows), ""]
    return lines


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _appendices(
    summaries: dict[Key, tuple[dict[str, Any], dict[str, Any]]],
    sessions: Sequence[str],
    emotions: Sequence[str],
    counts: list[dict[str, Any]],
) -> list[str]:
    lines = ["## Appendix A: R matrices (mean over folds, %)", "",
             "Row t: after training session t; column j: accuracy on session j's test part.", ""]  # fmt: skip
    columns = [f"S{j + 1} {d}" for j, d in enumerate(sessions)]
    for (protocol, backbone, learner), (summary, _) in summaries.items():
        rows = [[f"after S{t + 1}", *(_percent(v) for v in row)] for t, row in enumerate(summary["R_mean"])]
        lines += [f"### {protocol} / {backbone} / {learner}", "", *_table(["", *columns], rows), ""]
    lines += ["## Appendix B: confusion over global emotions after the last session (all folds pooled)", "",
              "Rows: true emotion; columns: predicted. Pooled UF1/UAR in brackets.", ""]  # fmt: skip
    for (protocol, backbone, learner), (summary, _) in summaries.items():
        rows = [[emotions[i], *(str(v) for v in row)] for i, row in enumerate(summary["confusion_pooled"])]
        title = (
            f"### {protocol} / {backbone} / {learner} "
            f"(UF1 {summary['uf1_pooled_last']:.3f}, UAR {summary['uar_pooled_last']:.3f})"
        )
        lines += [title, "", *_table(["true \\ predicted", *emotions], rows), ""]
    lines += ["## Appendix C: label counts", "",
              "Every corpus emotion of every session: kept (as which global emotion) or dropped; samples in the "
              "manifest, used, and already left out by the dataset's label scheme.", ""]  # fmt: skip
    header = ["Session", "Dataset", "Emotion", "Global", "Status", "Manifest", "Used", "Scheme-excluded", "Note"]
    rows = [
        [str(c["session"]), c["dataset"], c["emotion"], c["global_emotion"], c["status"], str(c["n_manifest"]),
         str(c["n_used"]), str(c["n_scheme_excluded"]), c["note"]]
        for c in counts
    ]  # fmt: skip
    return [*lines, *_table(header, rows), ""]


def _provenance(
    summaries: dict[Key, tuple[dict[str, Any], dict[str, Any]]], results: dict[Trial, dict[str, Any]]
) -> list[str]:
    rows = [
        [protocol, backbone, learner, facts["model"], facts["weights_sha256"][:16], facts["git_commits"]]
        for (protocol, backbone, learner), (_, facts) in summaries.items()
    ]
    commits = sorted({r["runtime"]["git_commit"] for r in results.values()})
    return [
        "## Provenance",
        "",
        *_table(["Protocol", "Backbone", "Method", "Model", "Weights SHA-256", "Git commit"], rows),
        "",
        f"{len(results)} trial results; git commit(s): {', '.join(commits)}.",
        "",
    ]


def count_frame(counts: list[dict[str, Any]]) -> pd.DataFrame:
    """The label count table as a DataFrame (one row per session × corpus emotion)."""
    return pd.DataFrame(counts)


def build_imer_report(params: dict[str, Any], benchmark: str) -> str:
    """Write results/tables/imer_<benchmark>.{md,csv} and the counts CSV from the trial JSONs; return the Markdown."""
    sessions = benchmark_config(params, benchmark).datasets
    results = {trial: _read(trial) for trial in trials(params, benchmark)}
    _check_together(results, sessions)
    summaries = _summaries(results)
    references = _references(results)
    markdown = imer_markdown(benchmark, summaries, references, results, sessions)
    write_text(TABLE.format(benchmark=benchmark, ext="md"), markdown)
    write_csv(TABLE.format(benchmark=benchmark, ext="csv"), imer_frame(summaries, references, sessions))
    write_csv(COUNTS.format(benchmark=benchmark), count_frame(next(iter(results.values()))["counts"]))
    return markdown
