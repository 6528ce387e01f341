"""bcdc-loader: load resources into the BC Data Catalogue from a spreadsheet batch."""

__version__ = "0.1.0"
