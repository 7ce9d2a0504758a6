# Benchmark tables with provenance, regenerated from saved predictions and metrics.


rule report:
    input:
        all_metrics(),
    output:
        report(paths.TABLE_MD, caption="../report/benchmark.rst", category="Benchmark"),
        report(paths.TABLE_CSV, caption="../report/benchmark.rst", category="Benchmark"),
        paths.SUMMARY,
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/report/benchmark.log",
    shell:
        "python -m mer report -p {params.file} > {log} 2>&1"
