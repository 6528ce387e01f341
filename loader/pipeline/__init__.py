"""The pipeline a batch goes through, one module a stage, in this order:

    read      batch file -> Batch (rows as the editor typed them)
    validate  Batch -> Problems + CheckedRows (offline, every problem at once)
    plan      CheckedRows -> Operations (names resolved to ids, lanes by dataset)
    calls     Operations -> Calls (the requests that carry them out)
    execute   Calls -> Outcomes, recorded as they happen
    record    the one Recorder holding every row's outcome
    report    Outcomes -> result workbook

Each stage's output is a plain value the next takes. `loader.run` ties them
together; the commands beside this package (template, export, due) use the
stages without changing them.
"""
