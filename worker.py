"""``python worker.py``: the Whereabouts worker, where the design card puts it.

The code is ``whereabouts/worker.py`` (installed as the ``whereabouts-worker`` command); this
file only lets the README's command work from a checkout.
"""

from whereabouts.worker import console_main

if __name__ == "__main__":
    console_main()
