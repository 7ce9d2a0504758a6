# Shared helpers: validated params, the static fan-out (subjects, folds), target lists.
from mer import config as mer_config
from mer import paths
from mer.workflow import Plan, prepare_job_environment

prepare_job_environment()
PARAMS_FILE = (workflow.overwrite_configfiles or ["params.yaml"])[-1]
PLAN = Plan.from_config(config, PARAMS_FILE)


def subjects(dataset):
    return PLAN.subjects[dataset]


def faces_of(dataset):
    return [paths.FACES.format(dataset=dataset, subject=s) for s in subjects(dataset)]


def flows_of(datasets):
    return [paths.FLOW.format(dataset=d, subject=s) for d in datasets for s in subjects(d)]


def manifests_of(datasets):
    return [paths.MANIFEST.format(dataset=d) for d in datasets]


def tuning_of(experiment, fold):
    """The fold's shared nested-selection file when the experiment is tuned, else nothing."""
    if not PLAN.experiments[experiment].get("tuning"):
        return []
    return [paths.TUNING.format(experiment=experiment, fold=fold)]


def predictions_of(experiment):
    return [
        paths.PREDICTIONS.format(experiment=experiment, seed=seed, fold=fold)
        for seed in PLAN.experiments[experiment]["seeds"]
        for fold in PLAN.folds[experiment]
    ]


def raw_root(wildcards):
    return str(mer_config.dataset_spec(config, wildcards.dataset).root)


def keyframe_tables():
    return [paths.KEYFRAMES.format(dataset=d) for d in PLAN.datasets]


def qc_reports():
    return [paths.QC_REPORT.format(dataset=d) for d in PLAN.datasets]


def all_flows():
    return flows_of(PLAN.datasets)


def all_predictions():
    return [p for e in PLAN.benchmark for p in predictions_of(e)]


def all_metrics():
    return [paths.METRICS.format(experiment=e) for e in PLAN.benchmark]


def ablation_metrics(ablation):
    return [paths.METRICS.format(experiment=e) for e in PLAN.ablations[ablation]]


def flow_qc_figures():
    return [paths.QC_FLOW_FIGURE.format(dataset=d) for d in PLAN.datasets]


def tables():
    return [paths.TABLE_MD, paths.TABLE_CSV, paths.SUMMARY]


# MA2MI pre-training (rules/pretrain.smk)


def pretrain_section(variant=None):
    section = {k: v for k, v in config.get("pretrain", {}).items() if k != "variants"}
    if variant is not None:
        section = mer_config.deep_merge(section, config["pretrain"]["variants"][variant])
    return section


def pretrain_data(variant=None):
    root = pretrain_section(variant)["root"]
    return paths.MACRO_CORPUS if root == mer_config.SYNTHETIC_ROOT else root


def pretrained_files():
    """The pre-trained weights the benchmark experiments name (ablations make theirs on demand)."""
    if "pretrain" not in config:
        return []
    made = [paths.PRETRAINED, *(paths.PRETRAINED_VARIANT.format(variant=v) for v in config["pretrain"].get("variants", {}))]
    named = {PLAN.experiments[e].get("pretrained") for e in PLAN.benchmark}
    return [f for f in made if f in named]
