# MA2MI pre-training on macro-expression videos (docs/method-ma2mi.md): the synthetic macro
# corpus when `pretrain.root` is `synthetic`, then the encoder weights an experiment's
# `pretrained:` names (train jobs list that file as an input, so it is made first).
rule synth_macro:
    output:
        directory(paths.MACRO_CORPUS),
    params:
        file=PARAMS_FILE,
        synth=config["synth"],
        macro=lambda wc: config["pretrain"]["synth"],
    conda:
        "../envs/mer.yaml"
    log:
        "logs/synth/macro.log",
    shell:
        "python -m mer synth -d macro --out {output} -p {params.file} > {log} 2>&1"


rule pretrain:
    input:
        lambda wc: pretrain_data(),
    output:
        paths.PRETRAINED,
        f"{paths.PRETRAINED}.json",
    params:
        file=PARAMS_FILE,
        pretrain=lambda wc: pretrain_section(),
        crop=config["crop"],
    threads: 2
    conda:
        "../envs/mer.yaml"
    log:
        "logs/pretrain/ma2mi.log",
    shell:
        "python -m mer pretrain --threads {threads} -p {params.file} > {log} 2>&1"


rule pretrain_variant:
    input:
        lambda wc: pretrain_data(wc.variant),
    output:
        paths.PRETRAINED_VARIANT,
        f"{paths.PRETRAINED_VARIANT}.json",
    params:
        file=PARAMS_FILE,
        pretrain=lambda wc: pretrain_section(wc.variant),
        crop=config["crop"],
    wildcard_constraints:
        variant=r"[A-Za-z0-9_]+",
    threads: 2
    conda:
        "../envs/mer.yaml"
    log:
        "logs/pretrain/ma2mi-{variant}.log",
    shell:
        "python -m mer pretrain --variant {wildcards.variant} --threads {threads} -p {params.file} > {log} 2>&1"


rule pretrain_all:
    input:
        pretrained_files(),
