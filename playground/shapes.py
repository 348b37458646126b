"""The shape arithmetic's former place, kept so that plugins written against it
(``from playground.shapes import Shape``) keep working; it lives in
``playground.layers.shapes``, and ``Shape`` is in ``playground.layers``."""

from playground.layers.shapes import *  # noqa: F403
