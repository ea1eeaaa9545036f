"""Floor 3, what a feature group is, with no storage behind it: features and groups and their
naming rules, a group's Arrow schema (``schema``), entities and how a group's identifier matches
their keys (``entity``), turning user values into typed ones (``coerce``), one record on its way
in (``record``), the offline partition layout (``layout``) and validation rules with their
verdicts (``rules``). Pure definitions and checks, so every write path and both engines share one
meaning.

May import: ``store.common`` and ``store.errors``. (``store.storage`` sits beside it, independent.)
"""
