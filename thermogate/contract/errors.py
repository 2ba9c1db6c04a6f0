"""Errors raised when bytes do not satisfy the contract."""


class ContractError(ValueError):
    """A payload or frame that breaks the contract; ``reason`` is what a dead letter carries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
