"""What every chapter shares: the Experiment protocol and metric store (``runtime``),
parameter declarations (``params``), the training fields (``config``, no torch), the torch
trainer base (``trainer``), checkpoints (``checkpoint``), step limits (``step_limit``) and
names imported on first use (``lazy``)."""
