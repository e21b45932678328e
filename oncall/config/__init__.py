"""Configuration: settings, YAML files, the immutable snapshot and its checks."""

from __future__ import annotations
