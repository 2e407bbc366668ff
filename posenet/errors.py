"""User-facing errors. CLIs print ``str(err)`` on one line and exit with code 2."""

__all__ = ["AnnotationError", "BackendError", "CredentialsError", "ImageError", "ModelError",
           "OutputInUseError", "ParamsError", "PosenetError", "TrainingError", "WeightsError"]


class PosenetError(Exception):
    """Base class of every error caused by the user's input, params, files or environment."""


class ParamsError(PosenetError):
    """params.yaml or a CLI option holds an impossible value."""


class WeightsError(PosenetError):
    """Weights could not be fetched, verified, read or converted."""


class ModelError(PosenetError):
    """Unknown model name, unreachable output stride, or a checkpoint that does not fit."""


class ImageError(PosenetError):
    """An image or video file is missing, empty, corrupt or of an unsupported type."""


class AnnotationError(PosenetError):
    """An annotation export is malformed; the message names the file and the field."""


class CredentialsError(PosenetError):
    """A platform credential is missing or rejected; the message names the variable to set."""


class TrainingError(PosenetError):
    """Training cannot go on (empty split, non-finite loss, ...)."""


class BackendError(PosenetError):
    """An inference backend cannot run here (optional package missing, CPU without the instructions it needs)."""


class OutputInUseError(PosenetError):
    """Another run is writing to the same output folder."""
