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
