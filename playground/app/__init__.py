"""What the Streamlit page (``playground.page``, framed by ``app.py``) needs, free of Streamlit itself:

- ``editing``: the live check of the YAML text, where it came from, safe saving
- ``document``: layer edits on the YAML text that keep the user's YAML as written
- ``history``: undo and redo over the text
- ``forms``: widget descriptions from each plugin's pydantic model
- ``views``: the table rows, layer titles and error text the page shows
- ``jobs``: training and sweeps on a background thread, polled by the page

The page only calls these and the public library; each is tested without a
browser.
"""
