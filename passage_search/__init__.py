"""passage-search: find the passage that answers a patient's question, with where it came from."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# ONNX Runtime (1.29 and later) records usage events at import, with a device id, in
# ~/.cache/Microsoft/DeveloperTools and a session file in $TMPDIR, for upload to Microsoft. A health
# information service sends nothing about its use anywhere; this must be set before onnxruntime is imported.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
