"""The static parser: pipeline source files in, a checked ``barque.model.Graph`` out.

It reads Python source with ``ast`` only and never imports or runs the user's code. Modules:
``files`` (discovery, project root, module lookup), ``source`` (one parsed file and its
bindings), ``project`` (name resolution across files), ``declare`` (decorator arguments),
``link`` (references and checks), ``hashing`` (code hashes and helpers), ``build`` (one
parse), ``cache`` (parses kept by content), ``entry`` (the entry point).
"""

from __future__ import annotations

from barque.parsing.entry import parse_project
from barque.parsing.files import find_root

__all__ = ["find_root", "parse_project"]
