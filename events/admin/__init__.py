# Admin for the events app, one module per family.
from . import activity, messages  # noqa: F401
