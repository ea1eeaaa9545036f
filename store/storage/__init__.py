"""Storage of the offline store's files: a local folder or an S3 prefix, behind one interface."""
from .config import CONFIG_FILE, open_storage
from .files import FileInfo, Storage

__all__ = ["CONFIG_FILE", "FileInfo", "Storage", "open_storage"]
