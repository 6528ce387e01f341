"""The bcdc-loader command line: a thin layer over the library.

    commands  the commands (template, validate, run, undo, serve, export, due): each
              parses its options, calls the library, prints and exits with the right code
    options   every option declared once; the groups that reach a command as one value
    access    how the catalogue is reached: --ckan, the token, asking before production
    terminal  printing safely, the progress bar, Ctrl-C and SIGTERM

No logic of the loader's own lives here: what a command does is a library call.
"""

from loader.cli.commands import main

__all__ = ["main"]
