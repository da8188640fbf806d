#!/usr/bin/env python
"""Django's command-line utility for VectorOS."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vectoros.settings")
    from django.core.management import execute_from_command_line

    from vectoros import embedded_db

    # Every command gets its database: the embedded PostgreSQL starts here (settings never start it).
    embedded_db.start_for_settings()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
