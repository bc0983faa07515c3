"""Jobs: the typed record, its durable store, the uploaded files it owns, and intake."""

from api.jobs.record import FINAL, STATUSES, Job, JobStatus, Progress
from api.jobs.store import JobStore

__all__ = ["FINAL", "STATUSES", "Job", "JobStatus", "JobStore", "Progress"]
