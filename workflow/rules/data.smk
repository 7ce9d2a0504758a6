# Raw corpus -> frozen sample manifest (synthetic corpora are generated first).


rule synth:
    output:
        directory(paths.SYNTHETIC_ROOT),
    params:
        file=PARAMS_FILE,
        synth=config["synth"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/synth/{dataset}.log",
    shell:
        "python -m mer synth -d {wildcards.dataset} -p {params.file} > {log} 2>&1"


rule manifest:
    input:
        raw_root,
    output:
        paths.MANIFEST,
        paths.MANIFEST_META,
    params:
        file=PARAMS_FILE,
        dataset=lambda wc: config["datasets"][wc.dataset],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/manifest/{dataset}.log",
    shell:
        "python -m mer manifest -d {wildcards.dataset} -p {params.file} > {log} 2>&1"
