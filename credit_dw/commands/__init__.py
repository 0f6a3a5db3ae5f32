"""Sub-commands of ``credit-dw``, one typer app per module, registered in ``credit_dw.cli``."""
