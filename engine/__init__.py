"""vigui's computation: numpy and torch only, never Qt.

Modules: ``info`` (information measures), ``vi`` (chapter 2: the ELBO and its gap, gradient
estimators, black-box VI), ``cavi`` (mean-field Gaussian mixture),
``data`` (datasets), ``vae`` (variational autoencoder), ``trainer`` (the torch trainer
base every network chapter subclasses), ``checkpoint`` (safe save/load, cheap peek),
``params`` (parameters declared once on config fields), ``runtime`` (the Experiment
protocol and the bounded metric store), ``cli`` (``python -m engine``; chapters
register their subcommand). Usable from a notebook, the CLI and the GUI; nothing here
imports Qt.
"""
__version__ = "0.1.0"
