"""bcdc-loader: load resources into the BC Data Catalogue from a spreadsheet batch.

pipeline/     the stages a batch goes through, in order (see its docstring)
run           check_batch / run_batch: the pipeline as the Python API
options       what a check, run or undo is asked to do: frozen values, built once
undo          a run's journal -> the operations that put its resources back
template      the batch template, from the schema
export        the catalogue's resources -> a batch of patch rows
due           resources overdue by their update cycle -> a table and a batch to fill
datastore     the catalogue's DataStore in an editor's words: loadable formats, states, reasons
client/       the only way to the catalogue (ckanapi wrapped)
schema/       the resource schema as data, and the mapping row <-> resource
model         the plain values the stages hand on: rows, problems, outcomes
problems      every problem code: title, description, message template
errors        the exceptions the loader raises, each with its exit code
pinned        a file to upload pinned to the one validation checked; read only if it still is
text          text for people: values made safe to show, sizes, counts, file stamps
spreadsheet   writing workbooks safely: text never a formula, files replaced whole
csvtext       CSV files written safe to open in a spreadsheet, and read back whole
keychain      a catalogue's token kept in the system's keychain; where tokens are looked for
cli/          the command line, a thin layer over the above
serve/        the page for editors who do not use a terminal
"""

__version__ = "0.1.0"
