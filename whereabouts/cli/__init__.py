"""The command-line tools: the MIS feed (``starter``) and the staff script (``admin``)."""
