"""Support for `huijin demo`: the project's own deterministic sample corpus."""
