"""`mer <verb>`: one verb per pipeline stage; Snakemake rules call exactly one verb each.

Every verb reads the validated params file, does one job, and writes its outputs
atomically. Bad input stops the verb with a message naming dataset, subject, clip and
frame (exit code 2) instead of a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from mer import config, paths
from mer.errors import MerError

app = typer.Typer(
    help="Reproducible micro-expression recognition: synthetic corpora, face crops, "
    "GAMDSS keyframes, TV-L1 flow, leakage-free LOSO training and pooled MEGC metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Benchmarks: measured speed and accuracy, written as JSON (record figures in docs/benchmarks.md).",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
err = Console(stderr=True)
out = Console()

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="The params file.")]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Dataset name from params.yaml.")]
ExperimentOpt = Annotated[str, typer.Option("--experiment", "-e", help="Experiment name from params.yaml.")]
FoldOpt = Annotated[str, typer.Option("--fold", "-f", help="Fold name from folds.json.")]
ThreadsOpt = Annotated[int, typer.Option("--threads", help="CPU threads for torch.")]
DEFAULT_PARAMS = Path("params.yaml")

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn MerError into a one-paragraph message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MerError as exc:
            err.print("[bold red]error:[/] ", end="")
            err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _dataset(params: dict[str, Any], name: str) -> config.DatasetSpec:
    if name not in params["datasets"]:
        raise config.ConfigError(f"dataset {name!r} is not in params.yaml (have {sorted(params['datasets'])})")
    return config.dataset_spec(params, name)


def _keyframes(dataset: str) -> Any:
    """The dataset's cached keyframes table, with subject and clip kept as text."""
    import pandas as pd

    return pd.read_csv(paths.fill(paths.KEYFRAMES, dataset=dataset), dtype={"subject": str, "clip": str})


def _experiment(params: dict[str, Any], name: str) -> dict[str, Any]:
    experiments = config.all_experiments(params)
    if name not in experiments:
        raise config.ConfigError(f"experiment {name!r} is not in params.yaml (have {sorted(experiments)})")
    return experiments[name]


@app.command()
@reports_errors
def synth(
    dataset: DatasetOpt = "casme2",
    params_file: ParamsOpt = DEFAULT_PARAMS,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output root (default: the dataset's root).")] = None,
    size: Annotated[
        str | None, typer.Option("--size", help="Layout twin: `full` (published counts) or `small`; default: params.")
    ] = None,
) -> None:
    """Generate a synthetic corpus in the real corpus's on-disk layout, with exact ground truth."""
    from mer import synth as synth_mod

    params = config.load(params_file, {"synth": {"size": size}} if size else None)
    target = out_dir or (Path(paths.MACRO_CORPUS) if dataset == "macro" else _dataset(params, dataset).root)
    synth_mod.generate(dataset, params, target)
    out.print(f"synthetic {dataset} written to {target}")


RootOpt = Annotated[
    Path | None, typer.Option("--root", help="Corpus folder (overrides params; the dataset need not be in params).")
]
AnnotationOpt = Annotated[Path | None, typer.Option("--annotation", help="Annotation file (relative: under root).")]
SchemeOpt = Annotated[str | None, typer.Option("--scheme", help="Label scheme (default: params, else the first).")]
AllowOpt = Annotated[
    list[str] | None,
    typer.Option("--allow", help="Problem category that only drops its samples (repeatable; see docs/datasets.md)."),
]


def _corpus(
    params: dict[str, Any], dataset: str, root: Path | None, annotation: Path | None, scheme: str | None
) -> tuple[config.DatasetSpec, dict[str, Any]]:
    """The corpus to read: params' entry, with --root/--annotation/--scheme taking precedence."""
    from mer import datasets

    entry = params["datasets"].get(dataset, {})
    if root is None:
        spec = _dataset(params, dataset)
        annotation = annotation or spec.annotation
        root = spec.root
    chosen = scheme or entry.get("scheme") or datasets.get(dataset).schemes[0]
    found = annotation if annotation is not None else (Path(entry["annotation"]) if entry.get("annotation") else None)
    return config.DatasetSpec(dataset, root, found, chosen, entry.get("root") == config.SYNTHETIC_ROOT), entry


@app.command()
@reports_errors
def validate(
    dataset: DatasetOpt = "casme2",
    params_file: ParamsOpt = DEFAULT_PARAMS,
    root: RootOpt = None,
    annotation: AnnotationOpt = None,
    scheme: SchemeOpt = None,
    allow: AllowOpt = None,
) -> None:
    """Pre-flight check of a corpus: every problem listed at once; non-zero exit if any."""
    from mer.datasets.validation import inspect_corpus

    spec, entry = _corpus(config.load(params_file), dataset, root, annotation, scheme)
    result = inspect_corpus(spec, [*entry.get("ignore", []), *(allow or [])])
    report = result.overrides.as_dict() if result.overrides else {"applied": [], "not_applicable": []}
    for item in report["applied"]:
        out.print(f"override applied: {item['key']} {item.get('set', 'excluded')} ({item['reason']})",
                  markup=False, soft_wrap=True)  # fmt: skip
    for item in report["not_applicable"]:
        out.print(f"override not applicable: {item['key']}: {item['why']}", markup=False, soft_wrap=True)
    for problem in result.ignored:
        out.print(f"allowed (sample dropped): {problem}", markup=False, highlight=False, soft_wrap=True)
    for problem in result.problems:
        out.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    if result.problems:
        err.print(f"[bold red]{len(result.problems)} problem(s)[/] in {dataset} at {spec.root}")
        raise typer.Exit(1)
    name = result.annotation.path.name
    status = f"{result.annotation.status} version {result.annotation.version}"
    summary = f"{dataset} at {spec.root}: no problems found ({len(result.samples)} samples; {name}: {status})"
    out.print(summary, markup=False, soft_wrap=True)


@app.command()
@reports_errors
def manifest(
    dataset: DatasetOpt = "casme2",
    params_file: ParamsOpt = DEFAULT_PARAMS,
    out_csv: Annotated[Path | None, typer.Option("--out", help="Manifest CSV path.")] = None,
    root: RootOpt = None,
    annotation: AnnotationOpt = None,
    scheme: SchemeOpt = None,
    allow: AllowOpt = None,
    composite: Annotated[
        str | None, typer.Option("--composite", help="Composite scheme over params' datasets, e.g. megc2019_cde.")
    ] = None,
) -> None:
    """Freeze the sample manifest of a corpus under its label scheme (validated first)."""
    from mer import datasets
    from mer.datasets.composite import build_composite

    params = config.load(params_file)
    if composite is not None:
        specs = {name: _dataset(params, name) for name in params["datasets"]}
        frame, meta = build_composite(composite, specs, allow or [])
        target = out_csv or paths.fill(paths.MANIFEST, dataset=composite)
    else:
        spec, entry = _corpus(params, dataset, root, annotation, scheme)
        ignore = [*entry.get("ignore", []), *(allow or [])]
        frame, meta = datasets.build_manifest(spec, ignore, entry.get("apex_substitute", "midpoint"))
        target = out_csv or paths.fill(paths.MANIFEST, dataset=dataset)
    datasets.write_manifest(frame, meta, target)
    applied = sum(len(part["overrides"]["applied"]) for part in meta.get("parts", {"": meta}).values())
    sidecar = target.with_suffix(".json")
    out.print(f"{len(frame)} samples → {target} ({applied} override(s) applied; see {sidecar})", soft_wrap=True)


@app.command()
@reports_errors
def crop(
    subject: Annotated[str, typer.Option("--subject", "-s", help="Subject folder name, e.g. sub01.")],
    dataset: DatasetOpt = "casme2",
    params_file: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Detect the face once per clip (MTCNN) and store aligned uint8 crops of every frame."""
    from mer import datasets
    from mer.preprocess.faces import crop_subject

    params = config.load(params_file)
    spec = _dataset(params, dataset)
    rows = datasets.read_manifest(paths.fill(paths.MANIFEST, dataset=dataset))
    rows = rows[rows["subject"] == subject]
    target = paths.fill(paths.FACES, dataset=dataset, subject=subject)
    if rows.empty:  # the label scheme keeps none of this subject's samples: an empty, labelled file
        from mer import h5, synth

        known = synth.planned_subjects(dataset, params) if spec.synthetic else datasets.list_subjects(spec)
        if subject not in known:
            raise config.ConfigError(f"subject {subject!r} is not in the {dataset} corpus")
        with h5.open_for_write(target) as faces:
            faces.attrs["dataset"], faces.attrs["subject"] = dataset, subject
            faces.attrs["note"] = f"no samples of this subject under scheme {spec.scheme}"
        out.print(f"{dataset}/{subject}: no sample under scheme {spec.scheme}; empty faces file", markup=False)
        return
    info = datasets.get(dataset)
    crop_subject(rows, spec.root, info.frame_regex, params["crop"], target)


@app.command()
@reports_errors
def keyframes(dataset: DatasetOpt = "casme2", params_file: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Annotated, GAMDSS-reselected and spotted keyframes of every sample, cached as one table."""
    from mer import atomic, datasets
    from mer.preprocess.keyframes import keyframes_table

    params = config.load(params_file)
    _dataset(params, dataset)
    rows = datasets.read_manifest(paths.fill(paths.MANIFEST, dataset=dataset))
    faces_dir = paths.fill(paths.FACES_DIR, dataset=dataset)
    table = keyframes_table(rows, faces_dir, params["keyframes"], params["flow"])
    atomic.write_csv(paths.fill(paths.KEYFRAMES, dataset=dataset), table)


@app.command()
@reports_errors
def qc(dataset: DatasetOpt = "casme2", params_file: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Preprocessing QC report (Markdown + PNG): crops, detection fallbacks, keyframe moves, motion curves."""
    from mer.qc import build_qc

    _dataset(config.load(params_file), dataset)
    table = _keyframes(dataset)
    build_qc(dataset, table, paths.fill(paths.FACES_DIR, dataset=dataset), paths.fill(paths.QC_DIR, dataset=dataset))
    out.print(f"QC report → {paths.fill(paths.QC_REPORT, dataset=dataset)}", markup=False)


@app.command("qc-flow")
@reports_errors
def qc_flow(dataset: DatasetOpt = "casme2", params_file: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Flow QC figure: rise and fall flow of a few clips in the Middlebury colour code, with the wheel legend."""
    from mer.qc.flow import build_flow_qc

    _dataset(config.load(params_file), dataset)
    target = paths.fill(paths.QC_FLOW_FIGURE, dataset=dataset)
    radius = build_flow_qc(dataset, _keyframes(dataset), paths.fill(paths.FLOW_DIR, dataset=dataset), target)
    out.print(f"flow QC figure → {target} (full saturation at {radius:.2f} px)", markup=False)


@app.command()
@reports_errors
def flow(
    subject: Annotated[str, typer.Option("--subject", "-s", help="Subject folder name, e.g. sub01.")],
    dataset: DatasetOpt = "casme2",
    params_file: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """TV-L1 rise/fall flow plus optical strain for one subject, cached in HDF5."""
    from mer.flow.cache import flow_subject

    params = config.load(params_file)
    _dataset(params, dataset)
    table = _keyframes(dataset)
    flow_subject(
        paths.fill(paths.FACES, dataset=dataset, subject=subject),
        table[table["subject"] == subject],
        params["flow"],
        paths.fill(paths.FLOW, dataset=dataset, subject=subject),
    )


def _experiment_manifest(params: dict[str, Any], experiment: dict[str, Any]) -> Any:
    import pandas as pd

    from mer import datasets

    frames = [datasets.read_manifest(paths.fill(paths.MANIFEST, dataset=name)) for name in experiment["datasets"]]
    return pd.concat(frames, ignore_index=True)


@app.command()
@reports_errors
def folds(experiment: ExperimentOpt, params_file: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Write the experiment's folds (protocol over the manifest), keyed on (dataset, subject)."""
    from mer import protocols

    params = config.load(params_file)
    exp = _experiment(params, experiment)
    result = protocols.make_folds(exp["protocol"], _experiment_manifest(params, exp))
    protocols.write_folds(result, paths.fill(paths.FOLDS, experiment=experiment))


@app.command()
@reports_errors
def train(
    experiment: ExperimentOpt,
    fold: FoldOpt,
    seed: Annotated[int, typer.Option("--seed", help="Training seed.")] = 0,
    threads: ThreadsOpt = 1,
    params_file: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Train one fold with a fixed (or nested-selected) budget, then predict its test subjects once."""
    from mer.training import train_fold

    exp, manifest, folds, sources = _fold_job(params_file, experiment)
    train_fold(
        manifest,
        folds,
        fold,
        exp,
        sources,
        seed,
        paths.fill(paths.FOLD_DIR, experiment=experiment, seed=seed, fold=fold),
        threads=threads,
        tuning_file=paths.fill(paths.TUNING, experiment=experiment, fold=fold),
    )


@app.command()
@reports_errors
def tune(
    experiment: ExperimentOpt,
    fold: FoldOpt,
    threads: ThreadsOpt = 1,
    params_file: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Nested selection on inner folds of one fold's training subjects; every seed's `train` reuses it."""
    from mer.training.loop import tune_fold

    exp, manifest, folds, sources = _fold_job(params_file, experiment)
    target = paths.fill(paths.TUNING, experiment=experiment, fold=fold)
    record = tune_fold(manifest, folds, fold, exp, sources, target, threads=threads)
    chosen = ", ".join(f"{key} {value}" for key, value in record["chosen"].items())
    out.print(f"{experiment} {fold}: {chosen} ({record['seconds']:.0f} s) → {target}", markup=False, soft_wrap=True)


def _fold_job(params_file: Path, experiment: str) -> tuple[dict[str, Any], Any, dict[str, Any], Any]:
    """The experiment, its manifest, its folds and where its inputs live, for one fold job."""
    from mer import protocols
    from mer.training import InputSources
    from mer.training.jobs import check_keyframes_choice

    params = config.load(params_file)
    exp = _experiment(params, experiment)
    sources = InputSources(
        flow=lambda dataset, subject: paths.fill(paths.FLOW, dataset=dataset, subject=subject),
        faces=lambda dataset, subject: paths.fill(paths.FACES, dataset=dataset, subject=subject),
        keyframes=lambda dataset: paths.fill(paths.KEYFRAMES, dataset=dataset),
        triple=exp.get("keyframes"),
    )
    check_keyframes_choice(experiment, exp, params["keyframes"]["mode"])
    folds = protocols.read_folds(paths.fill(paths.FOLDS, experiment=experiment))
    return exp, _experiment_manifest(params, exp), folds, sources


@app.command()
@reports_errors
def pretrain(
    params_file: ParamsOpt = DEFAULT_PARAMS,
    variant: Annotated[
        str | None, typer.Option("--variant", help="A pretrain.variants entry (e.g. a δ range); default: none.")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Weights file (default results/pretrained/ma2mi[-<variant>].pt).")
    ] = None,
    threads: ThreadsOpt = 1,
) -> None:
    """MA2MI pre-training of MIACNet's encoder on macro-expression videos; writes the weights and a JSON sidecar."""
    from mer.pretraining import ma2mi

    params = config.load(params_file)
    section = ma2mi.settings(params, variant)
    target = out_file or ma2mi.output_path(variant)
    record = ma2mi.pretrain(section, ma2mi.data_root(section), target, params["crop"], threads=threads)
    losses = ", ".join(f"{entry['loss']:.4f}" for entry in record["epochs"])
    summary = f"{record['data']['used_videos']} videos → {target} (sha256 {record['sha256'][:12]}; losses {losses})"
    out.print(summary, markup=False, soft_wrap=True)


@app.command()
@reports_errors
def evaluate(experiment: ExperimentOpt, params_file: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Pool every fold's predictions (MEGC style) into UF1, UAR and accuracy per seed."""
    from mer import atomic
    from mer.metrics import evaluate_experiment
    from mer.training.data import class_names

    params = config.load(params_file)
    exp = _experiment(params, experiment)
    classes = class_names(_experiment_manifest(params, exp))
    run_dir = paths.fill(paths.RUN_DIR, experiment=experiment)
    metrics = evaluate_experiment(run_dir, classes, seeds=exp["seeds"])
    atomic.write_json(paths.fill(paths.METRICS, experiment=experiment), metrics)


@app.command()
@reports_errors
def incremental(
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="Benchmark from params.yaml `incremental`.")],
    learner: Annotated[str, typer.Option("--learner", "-l", help="Learner of the benchmark, e.g. ranpac.")],
    backbone: Annotated[str, typer.Option("--backbone", help="Backbone label of the benchmark, e.g. vit.")],
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol of the benchmark: slcv or ilcv.")],
    fold: Annotated[int, typer.Option("--fold", "-f", help="Fold index 0..K-1, bound across sessions.")],
    threads: ThreadsOpt = 1,
    params_file: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """One incremental trial: learn the sessions in order, test every seen session after each one."""
    from mer.incremental.plan import Trial
    from mer.incremental.runner import run_from_params

    target = Path(Trial(benchmark, protocol, backbone, learner, fold).path)
    params = config.load(params_file)
    result = run_from_params(params, benchmark, learner, backbone, protocol, fold, target, threads=threads)
    metrics = result["metrics"]
    summary = f"A_T {metrics['last_accuracy']:.4f}, Ā {metrics['avg_incremental_accuracy']:.4f}"
    out.print(f"{summary} → {target}", markup=False)


@app.command()
@reports_errors
def report(
    params_file: ParamsOpt = DEFAULT_PARAMS,
    ablation: Annotated[
        str | None, typer.Option("--ablation", help="Only this ablation's table (params.yaml `ablations`).")
    ] = None,
    imer: Annotated[
        str | None, typer.Option("--imer", help="Only this incremental benchmark's tables (params.yaml `incremental`).")
    ] = None,
) -> None:
    """Benchmark tables (Markdown + CSV) from saved metrics, with provenance; prints the table."""
    from mer.report import build_ablation, build_report
    from mer.report.imer import build_imer_report

    params = config.load(params_file)
    if ablation and imer:
        raise config.ConfigError("--ablation and --imer each build one table; give one of them")
    if imer:
        markdown = build_imer_report(params, imer)
    else:
        markdown = build_ablation(params, ablation) if ablation else build_report(params, params_file)
    out.print(markdown, highlight=False, markup=False)


@app.command()
@reports_errors
def pipeline(
    stage: Annotated[str, typer.Argument(help="DVC stage: preprocess, flow, train or report.")],
    params_file: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Run the Snakemake target behind a DVC stage (flags from $MER_SNAKEMAKE_ARGS)."""
    from mer.workflow import run_stage

    raise typer.Exit(run_stage(stage, str(params_file)))


@bench_app.command("flow")
@reports_errors
def bench_flow(
    params_file: ParamsOpt = DEFAULT_PARAMS,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for flow.json and flow.md.")] = Path("results/bench"),
    pairs: Annotated[int, typer.Option("--pairs", help="Pairs per image size.")] = 4,
    fixed_k: Annotated[int, typer.Option("--fixed-k", help="Iterations per warp in fixed-iteration mode.")] = 50,
    device: Annotated[str, typer.Option("--device", help="Torch engine device: auto, cpu or cuda.")] = "auto",
    bandwidth_gbs: Annotated[
        float | None, typer.Option("--bandwidth-gbs", help="Memory bandwidth for the roofline fraction (GB/s).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the analytic test pairs.")] = 0,
) -> None:
    """Torch TV-L1 vs OpenCV (one process and a pool): pairs/s, px·iter/s, parity and ground-truth EPE."""
    from mer import atomic
    from mer.flow.bench import markdown, run

    result = run(config.load(params_file)["flow"], pairs, fixed_k, device, bandwidth_gbs, seed)
    atomic.write_json(out_dir / "flow.json", result)
    table = markdown(result)
    atomic.write_text(out_dir / "flow.md", table)
    out.print(table, markup=False, highlight=False)


@bench_app.command("keyframes")
@reports_errors
def bench_keyframes(
    params_file: ParamsOpt = DEFAULT_PARAMS,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for keyframes.json and keyframes.md.")] = Path(
        "results/bench"
    ),
    work: Annotated[Path, typer.Option("--work", help="Scratch folder for the corpus and crops.")] = Path(
        "results/bench/keyframes-work"
    ),
    repeats: Annotated[int, typer.Option("--repeats", help="Annotation draws per clip and noise level.")] = 20,
    subjects: Annotated[int, typer.Option("--subjects", help="Synthetic subjects.")] = 4,
    clips: Annotated[int, typer.Option("--clips", help="Clips per subject.")] = 6,
    nuisance: Annotated[
        list[str] | None,
        typer.Option(
            "--nuisance",
            help="DRIFT,FLICKER,NOISE factors on params.yaml's synth nuisance, one corpus each (repeatable; "
            "default: 1,1,1 0.25,0.25,0.25 0,0,0 1,0,0 0,1,0 0,0,1).",
        ),
    ] = None,
    apex_window: Annotated[
        str | None,
        typer.Option(
            "--apex-window", help="Reselection's apex window (default: the params file's keyframes.apex_window)."
        ),
    ] = None,
) -> None:
    """Apex error of annotated vs reselected vs spotted keyframes over nuisance × annotation noise × λ."""
    from mer import atomic
    from mer.bench.keyframes import DEFAULT_NUISANCE, Grid, Nuisance, markdown, run

    levels = tuple(Nuisance.parse(text) for text in nuisance) if nuisance else DEFAULT_NUISANCE
    grid = Grid(nuisance=levels, repeats=repeats, subjects=subjects, clips_per_subject=clips)
    overrides = {"keyframes": {"apex_window": apex_window}} if apex_window else None
    result = run(config.load(params_file, overrides), grid, work)
    atomic.write_json(out_dir / "keyframes.json", result)
    table = markdown(result)
    atomic.write_text(out_dir / "keyframes.md", table)
    out.print(table, markup=False, highlight=False)


@app.command()
def doctor() -> None:
    """Check the installation: library versions, MTCNN weights, OpenCV's TV-L1, torch devices."""
    from mer.doctor import run_checks

    ok = run_checks(out)
    if not ok:
        raise typer.Exit(1)


def main() -> None:
    """Entry point for `python -m mer` and the `mer` script."""
    app(prog_name="mer")


if __name__ == "__main__":
    sys.exit(main())
