"""``python starter.py FEED ...``: the MIS feed in, cases started, where the design card puts it.

The command is ``whereabouts/cli/starter.py`` (installed as ``whereabouts-feed``) and the library
it drives is ``whereabouts.feed``; this file only lets the README's command work from a checkout.
"""

from whereabouts.cli.starter import console_main

if __name__ == "__main__":
    console_main()
