"""What every scenario section shares: the error type, the strict base model and registry names."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

Phase = Literal["a", "b", "c"]


class ScenarioError(ValueError):
    """A scenario input that is not allowed; the message names field, value and rule."""


class _Section(BaseModel):
    # allow_inf_nan=False: every number must be finite unless its field says otherwise
    # (the open bounds of a clipped normal distribution)
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, validate_default=True, allow_inf_nan=False
    )


def one_of(names: Callable[[], Iterable[str]]) -> Any:
    """A name that must be in a registry (read when validating, so registries can grow)."""

    def check(v: str) -> str:
        allowed = sorted(names())
        if v not in allowed:
            raise ValueError(f"must be one of {allowed}")
        return v

    return Annotated[str, AfterValidator(check)]
