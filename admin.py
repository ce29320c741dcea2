"""``python admin.py COMMAND ...``: the staff script, where the design card puts it.

The command is ``whereabouts/cli/admin.py`` (installed as ``whereabouts-admin``); this file only
lets the README's command work from a checkout.
"""

from whereabouts.cli.admin import console_main

if __name__ == "__main__":
    console_main()
