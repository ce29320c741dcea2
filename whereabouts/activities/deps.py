"""What every activity needs from the worker: settings, the directory and the templates.

Built once when the worker starts (so a bad directory stops the worker, not a case) and handed to
each activity class; tests build their own with a throw-away SMTP server and directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jinja2

from whereabouts.directory import Directory, load_directory
from whereabouts.settings import Settings
from whereabouts.times import day, when


@dataclass
class Deps:
    settings: Settings
    directory: Directory
    messages: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.messages = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.settings.templates_dir / "messages"),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.messages.filters["when"] = when
        self.messages.filters["day"] = day

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        return cls(settings=settings, directory=load_directory(settings.directory_path))
