"""The progress tracker: `llmlab roadmap` runs every project's step and writes PROGRESS.md and report.html."""

from llmlab.projects import PROJECTS, Project
from llmlab.roadmap.runner import StepContext, StepResult, run_roadmap, run_step

__all__ = ["PROJECTS", "Project", "StepContext", "StepResult", "run_roadmap", "run_step"]
