"""The case workflow, in rooms: the procedure reads like the seed; the rest keeps out of its way.

- ``case.py``: the procedure itself (the run method, the day-by-day steps, the waits);
- ``staff.py``: what staff and the MIS may record (updates, validators, signals) and read (queries);
- ``risk.py``: the safeguarding risk assessment, one concern with one way to ask the DSL;
- ``views.py``: what operators and staff read (status, pending, search attributes, details),
  pure functions testable without a server;
- ``activity_calls.py``: every activity with its options, called by reference;
- ``state.py``: the case's memory, declared once, and the ``CallSlot`` the calls are keyed by.
"""
