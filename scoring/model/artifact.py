"""Model artifacts on disk: skops files (never pickle) under ``<CREDIT_DW_HOME>/models/``.

Loading an artifact executes no code from the file: skops rebuilds only the types it is told to
trust. We trust exactly the types a ``PDModel`` is made of (ours, scikit-learn's tree predictor) and
refuse a file that needs anything else; the file's sha256 must also match the registry's record.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from credit_dw.settings import get_settings
from scoring.model.pd_model import PDModel

TRUSTED_TYPES = frozenset({
    "scoring.model.pd_model.PDModel",
    "scoring.model.pd_model.Scaling",
    "scoring.model.pd_model.Calibrator",
    "scoring.model.binning.FeatureBins",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
})


class ArtifactError(RuntimeError):
    """An artifact is missing, altered, or needs types we do not trust."""


def models_dir() -> Path:
    path = get_settings().home / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(model: PDModel, version: str, directory: Path | None = None) -> tuple[Path, str]:
    """Write ``<version>.skops``; returns its path and sha256."""
    import skops.io as sio

    directory = directory or models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}.skops"
    partial = path.with_suffix(".skops.partial")
    sio.dump(model, partial)
    partial.replace(path)
    return path, sha256_of(path)


def load_model(path: Path | str, expected_sha256: str | None = None) -> PDModel:
    """Load an artifact, checking its hash (when given) and the types it contains."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model artifact {path} not found")
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise ArtifactError(f"model artifact {path} was altered: sha256 {actual}, registry says {expected_sha256}")
    untrusted = set(sio.get_untrusted_types(file=path))
    unexpected = untrusted - TRUSTED_TYPES
    if unexpected:
        raise ArtifactError(f"model artifact {path} contains untrusted types: {', '.join(sorted(unexpected))}")
    model = sio.load(path, trusted=sorted(untrusted))
    if not isinstance(model, PDModel):
        raise ArtifactError(f"{path} does not hold a PD model ({type(model).__name__})")
    return model
