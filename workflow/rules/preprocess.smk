# Face crops (one MTCNN box per clip) and GAMDSS keyframe reselection.


rule crop:
    input:
        manifest=paths.MANIFEST,
        raw=raw_root,
    output:
        paths.FACES,
    params:
        file=PARAMS_FILE,
        crop=config["crop"],
    resources:
        mem_mb=2000,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/crop/{dataset}/{subject}.log",
    shell:
        "python -m mer crop -d {wildcards.dataset} -s {wildcards.subject} -p {params.file} > {log} 2>&1"


rule keyframes:
    input:
        manifest=paths.MANIFEST,
        faces=lambda wc: faces_of(wc.dataset),
    output:
        paths.KEYFRAMES,
    params:
        file=PARAMS_FILE,
        keyframes=config["keyframes"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/keyframes/{dataset}.log",
    shell:
        "python -m mer keyframes -d {wildcards.dataset} -p {params.file} > {log} 2>&1"


rule preprocess_all:
    input:
        keyframe_tables(),
