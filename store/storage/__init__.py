"""Floor 3, where a store's bytes live: the offline files' location, a local folder or an S3
prefix behind one small interface (``files``); a store's ``featurestore.yaml`` (``config``); and
encryption at rest, with what every opener does about a key change that was under way
(``encryption``).

May import: ``store.common`` and ``store.errors``. (``store.model`` sits beside it, independent.)
"""
from .config import CONFIG_FILE, open_storage
from .files import FileInfo, Storage

__all__ = ["CONFIG_FILE", "FileInfo", "Storage", "open_storage"]
