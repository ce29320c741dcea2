"""The one-machine stack behind ``make run``: Temporal dev server, a mail catcher, the worker."""
