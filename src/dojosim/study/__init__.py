"""Questions over many jobs: plan search, hardware sweeps, system comparisons, campaigns, fleets, claims.

Studies compose jobs and typed estimates; they write no prose and draw nothing (that is `dojosim.report`).
"""
