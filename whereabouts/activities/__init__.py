"""Activities: everything the case workflow asks the outside world to do (mail, calendar, MIS)."""
