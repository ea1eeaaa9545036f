"""The studio's pages, one module per page, run by ``st.navigation`` from ``app/studio.py``: layout
and one store call per user action. A page imports ``app.ui`` and ``app.data``, the ``store``
package's public names and the modules that call themselves studio-facing (``store.upload``,
``store.demo``, ``store.snippets``, ``store.retrieval.browse``/``stats``, ``store.model.*``
constants, ``store.registry.lineage``), nothing else of the engine. ``group_tabs/`` holds the
Feature group page's tabs."""
