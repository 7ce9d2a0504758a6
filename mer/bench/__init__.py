"""Benchmarks behind `mer bench <name>`: measured accuracy and speed, written as JSON and Markdown."""
