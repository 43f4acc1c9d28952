"""The process model: the periodic jobs (jobs.py) and their scheduler (scheduling.py), the task workers and the
heartbeats every worker and scheduler keeps (workers.py), and the `worker` and `scheduler` commands."""
