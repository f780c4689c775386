"""A deliberately broken plugin: fails at import time."""

import this_module_does_not_exist  # noqa: F401
