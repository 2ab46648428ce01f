"""Exchange Online (outlook.office365.com admin API) domain: the cmdlet registry and the cmdlets it emulates.

Importing :mod:`.dispatch` loads every built-in cmdlet into the registry of :mod:`.cmdlets`."""
