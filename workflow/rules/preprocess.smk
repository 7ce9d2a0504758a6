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


rule qc:
    input:
        keyframes=paths.KEYFRAMES,
        faces=lambda wc: faces_of(wc.dataset),
    output:
        report(paths.QC_REPORT, caption="../report/qc.rst", category="Preprocessing QC"),
        [report(f"{paths.QC_DIR}/{name}", caption="../report/qc.rst", category="Preprocessing QC") for name in paths.QC_FIGURES],
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/qc/{dataset}.log",
    shell:
        "python -m mer qc -d {wildcards.dataset} -p {params.file} > {log} 2>&1"
