"""What every chapter shares: the Experiment protocol and metric store (``runtime``),
parameter declarations (``params``), the torch trainer base (``trainer``), checkpoints
(``checkpoint``) and step limits (``step_limit``)."""
