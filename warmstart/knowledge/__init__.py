"""The knowledge base: task records on an Optuna storage, meta-features, similarity, artifacts, the trial table."""

from __future__ import annotations

from warmstart.knowledge.artifacts import artifact_store, download_checkpoint, upload_checkpoint
from warmstart.knowledge.export import export_trials
from warmstart.knowledge.metafeatures import meta_features, probe_embedding
from warmstart.knowledge.records import TaskRecord, find_records, list_records, study_name, task_key
from warmstart.knowledge.similarity import normalized_l1, rank_similar
from warmstart.knowledge.storage import KB_VERSION, default_storage_url, open_storage, storage_url
from warmstart.knowledge.trials import record_recipe, record_result, trial_rows

__all__ = [
    "KB_VERSION",
    "TaskRecord",
    "artifact_store",
    "default_storage_url",
    "download_checkpoint",
    "export_trials",
    "find_records",
    "list_records",
    "meta_features",
    "normalized_l1",
    "open_storage",
    "probe_embedding",
    "rank_similar",
    "record_recipe",
    "record_result",
    "storage_url",
    "study_name",
    "task_key",
    "trial_rows",
    "upload_checkpoint",
]
