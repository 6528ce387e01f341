"""`bcdc-loader serve`: a local page for editors who do not use a terminal.

Check a batch, enter a token, preview, run with live statuses, download the
results. `server.serve` starts it; `app.create_app` builds the Flask app;
`guard` refuses every request that does not come from the editor's own
browser; `state` holds what the server remembers; `library` is the one
module that calls the loader library.
"""
