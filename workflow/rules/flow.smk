# TV-L1 rise/fall flow + optical strain, one HDF5 cache per subject.


rule flow:
    input:
        faces=paths.FACES,
        keyframes=paths.KEYFRAMES,
    output:
        paths.FLOW,
    params:
        file=PARAMS_FILE,
        flow=config["flow"],
    resources:
        mem_mb=2000,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/flow/{dataset}/{subject}.log",
    shell:
        "python -m mer flow -d {wildcards.dataset} -s {wildcards.subject} -p {params.file} > {log} 2>&1"


rule flow_all:
    input:
        all_flows(),


# The flow colour figure of a dataset (the `qc` rule runs before any flow exists).
rule flow_qc:
    input:
        keyframes=paths.KEYFRAMES,
        flows=lambda wc: flows_of([wc.dataset]),
    output:
        report(paths.QC_FLOW_FIGURE, caption="../report/flow_qc.rst", category="Preprocessing QC"),
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/qc/{dataset}.flow.log",
    shell:
        "python -m mer qc-flow -d {wildcards.dataset} -p {params.file} > {log} 2>&1"
