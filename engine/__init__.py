"""vigui's computation: numpy and torch only, never Qt. Usable from a notebook, the
headless CLI and the app alike.

* ``engine.core``: the Experiment protocol and bounded metric store (``runtime``), parameters
  declared once (``params``), the training fields (``config``, no torch), the torch trainer
  base (``trainer``), checkpoints (``checkpoint``), exact step limits (``step_limit``).
* ``engine.data``: image datasets (``datasets``) and the user's CSV files (``points``).
* One package per chapter, in the lecture's order: ``info`` (1), ``vi`` (2), ``cavi`` (3),
  ``vae`` (4), ``musicvae`` (4b), ``cvae`` (5), ``bbb`` (6). Each re-exports its public names.
* ``engine.cli``: ``python -m engine`` / ``vigui-train``; chapters register their subcommand.
"""
__version__ = "0.1.0"
