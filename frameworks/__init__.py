"""The pure domain: assessment frameworks and what is computed from answers to them.

No I/O beyond reading framework files, and no project package imported (the import-layer contract checks
it). Its modules, each imported by name (`from frameworks.schema import Framework`):

    schema     the `Framework` model: domains of elements answered on a scale, and every check on it
    loader     framework YAML files read with errors naming the file and path; the built-in catalogue
    scoring    a submitted value turned into the canonical answer, or a specific refusal
    versions   what changed between two versions of a framework
    workbook   a framework as an Excel workbook: written, read and checked (hostile input)
    summary    partnership summaries: statistics, consensus and anonymity (a package)
    schedule   weekly wall-clock schedules turned into UTC instants
    clock      the clock every part of the bot reads
"""

__all__ = ["clock", "loader", "schedule", "schema", "scoring", "summary", "versions", "workbook"]
