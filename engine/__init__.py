"""vigui's computation: numpy and torch only, never Qt.

Modules: ``info`` (information measures), ``vi`` (chapter 2: ELBO, estimators, black-box VI),
``cavi`` (mean-field Gaussian mixture),
``data`` (datasets), ``vae`` (variational autoencoder), ``checkpoint`` (safe save/load),
``runtime`` (the Experiment protocol). Usable from a notebook, the CLI
(``python -m engine``) and the GUI.
"""
__version__ = "0.1.0"
