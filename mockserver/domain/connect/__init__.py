"""Microsoft Entra Connect (and Cloud Sync): sync cycles, attribute flow, forward sync, write-back and object
lifecycle on the tenant clock."""
