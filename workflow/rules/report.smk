# Benchmark and group tables (Markdown, CSV, LaTeX) and figures, regenerated from saved metrics.
from mer.report import ablation_outputs, report_outputs


rule report:
    input:
        all_metrics(),
    output:
        report(paths.TABLE_MD, caption="../report/benchmark.rst", category="Benchmark"),
        report(paths.TABLE_CSV, caption="../report/benchmark.rst", category="Benchmark"),
        paths.SUMMARY,
        [
            report(f, caption="../report/figures.rst", category="Figures") if f.endswith(".png") else f
            for f in report_outputs(config)
        ],
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/report/benchmark.log",
    shell:
        "python -m mer report -p {params.file} > {log} 2>&1"


# Ablation tables in the papers' layout: `snakemake ablation_<name>` (or the table's path) runs that
# ablation's variants (experiments <name>__<variant>) and writes results/tables/ablations/<name>.*.
rule ablation_table:
    input:
        lambda wc: ablation_metrics(wc.ablation),
    output:
        report(
            paths.ABLATION_TABLE.replace("{ext}", "md"),
            caption="../report/ablations.rst",
            category="Ablations",
        ),
        paths.ABLATION_TABLE.replace("{ext}", "csv"),
        paths.ABLATION_TABLE.replace("{ext}", "tex"),
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/report/ablation-{ablation}.log",
    shell:
        "python -m mer report --ablation {wildcards.ablation} -p {params.file} > {log} 2>&1"


for _ablation in PLAN.ablations:

    rule:
        name:
            f"ablation_{_ablation}"
        input:
            ablation_outputs(_ablation),
        default_target: False


rule ablations:
    input:
        [f for a in PLAN.ablations for f in ablation_outputs(a)],
