"""Exchange Online (outlook.office365.com admin API) domain: the cmdlet registry and the cmdlets it emulates.

Importing :mod:`.cmdlets` and calling :func:`.cmdlets.ensure_builtins` loads every built-in cmdlet."""
