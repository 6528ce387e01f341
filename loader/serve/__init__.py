"""`bcdc-loader serve`: a local page for editors who do not use a terminal.

Check a batch, enter a token, preview, run with live statuses, download the
results; export and the due report on a page of their own.

    server     starts the page on the loopback address, and opens the browser
    app        the Flask app: views that read the request, ask the workspace, render
    guard      refuses every request that does not come from the editor's own browser
    workspace  what the server remembers: batches, the catalogue access, jobs, due reports
    access     the catalogue, the editor's token (held nowhere else), a client a token
    jobs       a preview or run under way: its rows, its bytes, its state in words
    paging     a batch's rows a page at a time, as each table draws them
    library    the one module that calls the loader library
"""
