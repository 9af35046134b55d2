"""``arbtree chaos``: seeded fault schedules against the whole system, and invariant
checkers over what it recorded (see docs/chaos.md).

The modules: :mod:`.toxics` and :mod:`.proxy` (the TCP fault proxy with Toxiproxy's
vocabulary), :mod:`.history` (what a run recorded), :mod:`.checkers` (the invariants),
:mod:`.nemeses` (the named faults), :mod:`.schedule` (a seed's fault schedule and its
shrinking), :mod:`.scenarios`, :mod:`.config_faults` (the config scenario),
:mod:`.database` (PostgreSQL), :mod:`.system` (the processes of one run), :mod:`.record`
(gathering the history), :mod:`.harness` (running a scenario), :mod:`.report`.
"""
