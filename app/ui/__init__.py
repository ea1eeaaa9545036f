"""What the studio's pages share, one concern per module: ``session`` (the open store and the
signed-in principal's handle), ``errors`` (store errors and ingest reports as messages), ``nav``
(the page list by role, links), ``pickers`` (the group picker, key/value editors), ``formats``
(values as text), and the widgets ``charts``, ``graph``, ``files``, ``schema_editor`` and
``rules_editor``; ``auth`` signs users in. Imports Streamlit and the ``store`` package's public
surface, never a page."""
