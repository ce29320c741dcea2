"""Column profiles: the feed read from an MIS's own export (SIMS, Arbor, Bromcom, Wonde).

``spec`` reads a profile (a shipped ``*.toml`` here, or an LA's mapping file) into a checked
``Profile``; ``mapped`` turns an export read through one into feed rows, contacts joined from a
report of their own; ``fit`` tells a header that matches no profile which one would read it.
"""

from whereabouts.feed.profiles.mapped import read_profiled
from whereabouts.feed.profiles.spec import Profile, ProfileError, load_mapping, load_profile, profile_names

__all__ = ["Profile", "ProfileError", "load_mapping", "load_profile", "profile_names", "read_profiled"]
