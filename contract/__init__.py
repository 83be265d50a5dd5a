"""The wire contract between workers and the API: vocabulary, camera, incident and health payloads.

Pure data: it depends on pydantic (and pyyaml for loading camera files), never on the worker, the
API, the detectors or the adapters, so each side may import it.
"""
