# Folds, one nested-selection job per tuned (experiment, fold), one training job per (experiment, seed, fold), pooled evaluation.

from mer.training.jobs import input_files, job_resources


rule folds:
    input:
        lambda wc: manifests_of(PLAN.experiments[wc.experiment]["datasets"]),
    output:
        paths.FOLDS,
    params:
        file=PARAMS_FILE,
        protocol=lambda wc: PLAN.experiments[wc.experiment]["protocol"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/folds/{experiment}.log",
    shell:
        "python -m mer folds -e {wildcards.experiment} -p {params.file} > {log} 2>&1"


rule tune:
    input:
        folds=paths.FOLDS,
        manifests=lambda wc: manifests_of(PLAN.experiments[wc.experiment]["datasets"]),
        data=lambda wc: input_files(PLAN.experiments[wc.experiment], PLAN.subjects),
    output:
        paths.TUNING,
    params:
        file=PARAMS_FILE,
        experiment=lambda wc: PLAN.experiments[wc.experiment],
    threads: 1
    resources:
        mem_mb=lambda wc: job_resources(PLAN.experiments[wc.experiment])["mem_mb"],
        runtime=lambda wc: job_resources(PLAN.experiments[wc.experiment])["runtime"],
        gpu=lambda wc: job_resources(PLAN.experiments[wc.experiment])["gpu"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/tune/{experiment}/fold-{fold}.log",
    shell:
        "python -m mer tune -e {wildcards.experiment} -f {wildcards.fold} --threads {threads}"
        " -p {params.file} > {log} 2>&1"


rule train:
    input:
        folds=paths.FOLDS,
        manifests=lambda wc: manifests_of(PLAN.experiments[wc.experiment]["datasets"]),
        data=lambda wc: input_files(PLAN.experiments[wc.experiment], PLAN.subjects),
        tuning=lambda wc: tuning_of(wc.experiment, wc.fold),
    output:
        paths.PREDICTIONS,
    params:
        file=PARAMS_FILE,
        experiment=lambda wc: PLAN.experiments[wc.experiment],
    threads: 1
    resources:
        mem_mb=lambda wc: job_resources(PLAN.experiments[wc.experiment])["mem_mb"],
        runtime=lambda wc: job_resources(PLAN.experiments[wc.experiment])["runtime"],
        gpu=lambda wc: job_resources(PLAN.experiments[wc.experiment])["gpu"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/train/{experiment}/seed{seed}/fold-{fold}.log",
    shell:
        "python -m mer train -e {wildcards.experiment} --seed {wildcards.seed} -f {wildcards.fold}"
        " --threads {threads} -p {params.file} > {log} 2>&1"


rule evaluate:
    input:
        lambda wc: predictions_of(wc.experiment),
    output:
        paths.METRICS,
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/evaluate/{experiment}.log",
    shell:
        "python -m mer evaluate -e {wildcards.experiment} -p {params.file} > {log} 2>&1"


rule train_all:
    input:
        all_metrics(),
