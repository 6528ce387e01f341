"""The pipeline a batch goes through, one module a stage, in this order:

    read        batch file -> Batch (rows as the editor typed them)
    workbook    a workbook looked at before it is parsed: sizes, reach, hidden cells
    validate/   Batch -> Problems + CheckedRows (offline, every problem at once)
    plan/       CheckedRows -> Operations (names resolved to ids, lanes by dataset)
    calls       Operations -> Calls (the requests that carry them out)
    execute     Calls -> Outcomes, recorded as they happen
    follow      the DataStore load of each file sent, followed while the run goes on
    record      the one Recorder holding every row's outcome
    report      Outcomes -> result workbook
    result      the frame of a check, run or undo: records closed, result written

and what the stages share:

    operations  what planning hands on: Operation, Action, Plan, RowFailure
    diff        values compared as the catalogue stores them: what an operation changes
    files       files to upload: size and hash, read once
    settle      patience with a catalogue that may still be saving
    verify      did a write whose answer was lost land?
    keep        a file kept before a row replaces it (for undo)
    journal     every outcome on disk as it happens (for resume and undo)

Each stage's output is a plain value the next takes. `loader.run` ties them
together; the commands beside this package (template, export, due, undo) use
the stages without changing them.
"""
