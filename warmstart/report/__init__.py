"""Self-contained HTML reports of runs."""

from warmstart.report.html import SECTIONS, render, write_report

__all__ = ["SECTIONS", "render", "write_report"]
