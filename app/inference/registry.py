"""The models a service serves, by name: the one owner every HTTP surface asks for a scorer.

The default model is `ECG_MODEL_DIR` (named after its directory, e.g. `ecg5000`); with
`ECG_MODELS_DIR`, every model directory under it is served too, each by its directory name. A
registry is built whole, then swapped in with one assignment (`app.inference.reloading`): a request
keeps the scorer it took, and a reload that finds a directory it cannot serve changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.inference.artifact import METADATA_FILE, ArtifactError
from app.inference.scoring import Scorer, load_scorer


class UnknownModelError(LookupError):
    """A model name the registry does not hold."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name, self.available = name, available
        super().__init__(f"no model named {name!r}; the models are {', '.join(available)}")


@dataclass(frozen=True)
class ModelRegistry:
    scorers: dict[str, Scorer]
    default_name: str

    @property
    def default(self) -> Scorer:
        return self.scorers[self.default_name]

    @property
    def names(self) -> list[str]:
        return sorted(self.scorers)

    def get(self, name: str | None) -> Scorer:
        """The named model's scorer; the default one for None."""
        if name is None:
            return self.default
        scorer = self.scorers.get(name)
        if scorer is None:
            raise UnknownModelError(name, self.names)
        return scorer


def model_directories(settings: Settings) -> dict[str, Path]:
    """Name -> directory of every model to serve; two directories of one name are refused."""
    directories = {settings.model_dir.name: settings.model_dir}
    if settings.models_dir is None:
        return directories
    if not settings.models_dir.is_dir():
        raise ArtifactError(f"{settings.models_dir}: ECG_MODELS_DIR is not a directory")
    for child in sorted(settings.models_dir.iterdir()):
        if not (child / METADATA_FILE).is_file():
            continue
        known = directories.get(child.name)
        if known is not None and known.resolve() != child.resolve():
            raise ArtifactError(
                f"two model directories are named {child.name!r} ({known} and {child}); "
                "model names must be unique: rename one"
            )
        directories[child.name] = child
    return directories


def load_registry(settings: Settings) -> ModelRegistry:
    """Load and check every model; raises `ArtifactError` naming the first that cannot serve."""
    directories = model_directories(settings)
    default = settings.default_model or settings.model_dir.name
    if default not in directories:
        raise ArtifactError(
            f"ECG_DEFAULT_MODEL {default!r} is not among the models: {', '.join(directories)}"
        )
    scorers = {
        name: load_scorer(path, settings.inference_threads) for name, path in directories.items()
    }
    return ModelRegistry(scorers, default)
