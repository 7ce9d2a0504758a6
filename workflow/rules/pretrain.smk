# MA2MI pre-training on macro-expression videos (docs/method-ma2mi.md): the synthetic macro
# corpus when `pretrain.root` is `synthetic`, then the encoder weights an experiment's
# `pretrained:` names (train jobs list that file as an input, so it is made first).
from mer import config as mer_config
from mer.pretraining import OUTPUT, VARIANT_OUTPUT

MACRO_ROOT = paths.MACRO_CORPUS


def pretrain_section(variant=None):
    section = {k: v for k, v in config.get("pretrain", {}).items() if k != "variants"}
    if variant is not None:
        section = mer_config.deep_merge(section, config["pretrain"]["variants"][variant])
    return section


def pretrain_data(variant=None):
    root = pretrain_section(variant)["root"]
    return MACRO_ROOT if root == mer_config.SYNTHETIC_ROOT else root


def pretrained_files():
    if "pretrain" not in config:
        return []
    return [OUTPUT, *(VARIANT_OUTPUT.format(variant=v) for v in config["pretrain"].get("variants", {}))]


rule synth_macro:
    output:
        directory(MACRO_ROOT),
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
        OUTPUT,
        OUTPUT + ".json",
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
        VARIANT_OUTPUT,
        VARIANT_OUTPUT + ".json",
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
