"""The run report: plots (data step + renderer) and the HTML/Markdown page."""

from transferscout.report.build import ReportFiles, write_report

__all__ = ["ReportFiles", "write_report"]
