"""``python -m store.cli``: the same commands as ``featurestore``."""
from . import main

main()
