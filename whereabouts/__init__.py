"""What the starter, the admin script, the worker and the workflows share.

Models, settings, the school directory and the school-day calendar live here so that every entry
point speaks the same vocabulary and reads the same configuration.
"""
