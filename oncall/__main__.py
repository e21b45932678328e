"""``python -m oncall`` — the same as the ``oncall`` command."""

from __future__ import annotations

from oncall.cli import main

main()
