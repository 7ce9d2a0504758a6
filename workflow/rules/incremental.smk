# Incremental benchmarks (params.yaml `incremental`, docs/imer.md): one job per trial (benchmark,
# protocol, backbone, learner, fold), one table per benchmark. `snakemake imer` runs them; the
# default `all` target does not (hours of training per trial on real corpora).
from mer.incremental import plan as imer_plan


rule incremental:
    input:
        lambda wc: imer_plan.trial_inputs(config, wc.benchmark, wc.backbone, PLAN.subjects),
    output:
        imer_plan.RESULT,
    params:
        file=PARAMS_FILE,
    wildcard_constraints:
        benchmark=r"[A-Za-z0-9_]+",
        protocol=r"[a-z]+",
        backbone=r"[A-Za-z0-9_]+",
        learner=r"[a-z0-9_]+",
        fold=r"\d+",
    threads: 1
    resources:
        mem_mb=lambda wc: imer_plan.job_resources(config, wc.benchmark)["mem_mb"],
        runtime=lambda wc: imer_plan.job_resources(config, wc.benchmark)["runtime"],
        gpu=lambda wc: imer_plan.job_resources(config, wc.benchmark)["gpu"],
    conda:
        "../envs/mer.yaml"
    log:
        imer_plan.LOG,
    shell:
        "python -m mer incremental -b {wildcards.benchmark} --protocol {wildcards.protocol}"
        " --backbone {wildcards.backbone} --learner {wildcards.learner} --fold {wildcards.fold}"
        " --threads {threads} -p {params.file} > {log} 2>&1"


rule imer_table:
    input:
        lambda wc: imer_plan.trial_results(config, wc.benchmark),
    output:
        imer_plan.TABLE.replace("{ext}", "md"),
        imer_plan.TABLE.replace("{ext}", "csv"),
        imer_plan.COUNTS,
    params:
        file=PARAMS_FILE,
    wildcard_constraints:
        benchmark=r"[A-Za-z0-9_]+",
    conda:
        "../envs/mer.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/report/imer_{benchmark}.log",
    shell:
        "python -m mer report --imer {wildcards.benchmark} -p {params.file} > {log} 2>&1"


rule imer:
    input:
        [f for b in imer_plan.benchmarks(config) for f in imer_plan.table_outputs(b)],
