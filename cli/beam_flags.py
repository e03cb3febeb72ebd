"""``--beam-preset`` and ``--beam-arg``: where a command's Beam work runs.

``tfxp run`` (the pipeline's Beam components), ``tfxp compile`` and ``tfxp
score`` (batch inference) take the same two flags; the presets are
``pipeline.beam_presets``. Registering them imports no Beam; Beam parses the
options only when a preset is used.
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from tfxp.core.errors import UsageError


def add_beam_flags(parser: argparse.ArgumentParser) -> None:
    """Adds ``--beam-arg`` (repeatable) and ``--beam-preset`` to ``parser``."""
    from tfxp.pipeline.beam_presets import PRESETS
    from tfxp.pipeline.config import DEFAULT_BEAM_ARGS

    parser.add_argument("--beam-arg", action="append",
                        help=f"Beam pipeline option, repeatable (default: "
                        f"{' '.join(DEFAULT_BEAM_ARGS)})")
    parser.add_argument("--beam-preset", choices=sorted(PRESETS),
                        help="Beam runner preset (pipeline/beam_presets.py); --beam-arg "
                        "options are added after it (default: none, see --beam-arg)")


def beam_args_from(args: argparse.Namespace, **context) -> Optional[List[str]]:
    """The Beam options the flags ask for: the preset's plus ``--beam-arg``
    (validated), ``--beam-arg`` alone, or None for the defaults.

    ``context`` goes to ``preset_args`` (``image``, ``temp_root``: what
    ``tfxp compile`` knows of the cluster).

    Raises:
      UsageError: a preset's required option is missing or its runner is
        overridden (``pipeline.beam_presets.preset_args``).
    """
    if args.beam_preset:
        from tfxp.pipeline.beam_presets import preset_args
        try:
            return preset_args(args.beam_preset, args.beam_arg or [], **context)
        except ValueError as err:
            raise UsageError(str(err)) from None
    return list(args.beam_arg) if args.beam_arg else None
