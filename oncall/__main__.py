"""``python -m oncall`` — the same as the ``oncall`` command."""

from __future__ import annotations

import sys

if "--link-fd" in sys.argv:  # `oncall run`'s worker child: bound to its parent before the imports
    from oncall.worker_child import die_with_parent, parent_from_argv

    die_with_parent(parent_from_argv(sys.argv))

from oncall.cli import main

main()
