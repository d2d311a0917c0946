"""Running work off the GUI thread: the step/frame loop both runners share (``loop``, no
Qt), the thread runner and background jobs (``worker``), the child-process runner
(``process``) and the run control every page uses (``control``)."""
