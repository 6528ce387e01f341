"""Make the committed fixtures of the malformed-batch corpus that need other tools.

    python tests/corpus/make_fixtures.py   # in an environment with xlwt, odfpy, openpyxl
                                           # and msoffcrypto-tool (none is a loader dependency)

Most of the corpus is built by the tests themselves (tests/test_corpus.py);
these three are kept as files because writing them needs libraries the loader
does not otherwise use: an old-style Excel workbook (.xls), an OpenDocument
spreadsheet (.ods), and a password-protected .xlsx (password "secret").
Each holds the heading row and one valid row, so that reading it right shows.
"""

from __future__ import annotations

import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = [
    "op",
    "package",
    "name",
    "url",
    "bcdc_type",
    "resource_update_cycle",
    "format",
    "resource_storage_location",
    "resource_type",
    "resource_access_method",
]
ROW = [
    "create",
    "water-quality-monitoring",
    "Sampling sites 2024",
    "https://example.com/sites-2024.csv",
    "document",
    "annually",
    "csv",
    "web or ftp site",
    "data",
    "direct access",
]


def xls() -> None:
    import xlwt

    wb = xlwt.Workbook()
    ws = wb.add_sheet("Batch")
    for r, values in enumerate([HEADER, ROW]):
        for c, value in enumerate(values):
            ws.write(r, c, value)
    wb.save(str(HERE / "batch.xls"))


def ods() -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="Batch")
    for values in (HEADER, ROW):
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    doc.spreadsheet.addElement(table)
    doc.save(str(HERE / "batch.ods"))


def encrypted() -> None:
    import msoffcrypto.format.ooxml
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Batch"
    ws.append(HEADER)
    ws.append(ROW)
    plain = io.BytesIO()
    wb.save(plain)
    plain.seek(0)
    with open(HERE / "encrypted.xlsx", "wb") as out:
        msoffcrypto.format.ooxml.OOXMLFile(plain).encrypt("secret", out)


if __name__ == "__main__":
    xls()
    ods()
    encrypted()
