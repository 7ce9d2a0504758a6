# Benchmark tables with provenance, regenerated from saved predictions and metrics.


rule report:
    input:
        all_metrics(),
    output:
        paths.TABLES + ".md",
        paths.TABLES + ".csv",
        paths.SUMMARY,
    conda:
        "../envs/mer.yaml"
    log:
        "logs/report/benchmark.log",
    shell:
        "{MER} report -p {PARAMS_FILE} > {log} 2>&1"
