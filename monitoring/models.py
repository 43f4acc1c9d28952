# Monitoring models (seed 003) arrive with the monitoring issue.
