__version__ = "0.2.0.dev0"
"""The installed actorbus version (PEP 440), as actors report it in ``/ping``."""


def install_hint(extra: str) -> str:
    """How to add an optional extra: actorbus is on no package index, so name the two ways that
    work (a checkout, or a wheel built from one) rather than a bare ``pip install`` that fails."""
    return (
        f"pip install -e '.[{extra}]' in an actorbus checkout, or "
        f"pip install 'actorbus-{__version__}-py3-none-any.whl[{extra}]' from a built wheel"
    )
