"""``python -m tasks.validation``: run the validation ladder (see :mod:`tasks.validation`)."""

import sys

from tasks.validation.ladder import main

sys.exit(main())
