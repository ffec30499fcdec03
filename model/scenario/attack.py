"""False data injection on market data: one kind, chosen by ``kind``, with its parameters.

As with the tariff, the kinds share one flat set of fields (files and
``scenario.json`` unchanged); :attr:`Attack.parameters` names those a kind uses.
"""

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BeforeValidator, Field

from lemgrid.model.scenario._base import _Section

AttackKind = Literal["none", "price", "demand"]
ATTACK_KINDS: tuple[str, ...] = get_args(AttackKind)


class Attack(_Section):
    """False data injection on market data (review section 3.4, Jhala et al.), from ``start_interval`` on.

    - ``price``: every household sees retail price, feed-in tariff and last local
      price multiplied by ``factor`` (a manipulated price signal);
    - ``demand``: the chosen households report their expected net energy multiplied
      by ``factor``: their orders, and the DSO's view of them, use the false value
      while their meters see the true one.

    The demand attack targets ``households`` (names) or, if that is empty, a share
    ``share`` of them drawn from the run's ``attack`` stream.
    """

    kind: AttackKind = "none"
    start_interval: int = Field(0, ge=0)
    factor: float = Field(0.5, ge=0, le=100)
    households: list[str] = Field(default_factory=list)
    share: float = Field(0.2, ge=0, le=1)

    parameters: ClassVar[tuple[str, ...]] = ()

    def own_parameters(self) -> dict[str, Any]:
        """The parameters this kind uses, with their values."""
        return {name: getattr(self, name) for name in self.parameters}


class NoAttack(Attack):
    """No attack."""

    kind: Literal["none"] = "none"


class PriceAttack(Attack):
    """Every household sees manipulated prices."""

    kind: Literal["price"] = "price"
    parameters = ("start_interval", "factor")


class DemandAttack(Attack):
    """Chosen households report false expected net energy."""

    kind: Literal["demand"] = "demand"
    parameters = ("start_interval", "factor", "households", "share")


def _kind_none_by_default(value: Any) -> Any:
    """A section without ``kind`` is of kind ``none``, as before kinds were classes."""
    return {"kind": "none", **value} if isinstance(value, dict) and "kind" not in value else value


AnyAttack = Annotated[
    NoAttack | PriceAttack | DemandAttack, Field(discriminator="kind"), BeforeValidator(_kind_none_by_default)
]
