# Raw corpus -> frozen sample manifest (synthetic corpora are generated first).


rule synth:
    output:
        directory(paths.SYNTHETIC_ROOT),
    params:
        synth=config["synth"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/synth/{dataset}.log",
    shell:
        "{MER} synth -d {wildcards.dataset} -p {PARAMS_FILE} > {log} 2>&1"


rule manifest:
    input:
        raw_root,
    output:
        paths.MANIFEST,
        paths.MANIFEST.replace(".csv", ".json"),
    params:
        dataset=lambda wc: config["datasets"][wc.dataset],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/manifest/{dataset}.log",
    shell:
        "{MER} manifest -d {wildcards.dataset} -p {PARAMS_FILE} > {log} 2>&1"
