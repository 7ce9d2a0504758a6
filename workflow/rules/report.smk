# Benchmark and group tables (Markdown, CSV, LaTeX) and figures, regenerated from saved metrics.
from mer.report import report_outputs


rule report:
    input:
        all_metrics(),
    output:
        report(paths.TABLE_MD, caption="../report/benchmark.rst", category="Benchmark"),
        report(paths.TABLE_CSV, caption="../report/benchmark.rst", category="Benchmark"),
        paths.SUMMARY,
        [
            report(f, caption="../report/figures.rst", category="Figures") if f.endswith(".png") else f
            for f in report_outputs(config)
        ],
    params:
        file=PARAMS_FILE,
    conda:
        "../envs/mer.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/report/benchmark.log",
    shell:
        "python -m mer report -p {params.file} > {log} 2>&1"
